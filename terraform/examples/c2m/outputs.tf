# The outputs `stampede run --provision` reads with `terraform output -json`.

output "run_id" {
  description = "Run id (tag stampede:run-id on every resource)."
  value       = var.run_id
}

output "server_addresses" {
  description = "Nomad HTTPS addresses (NOMAD_ADDR candidates)."
  value       = module.servers.server_addresses
}

output "ca_cert_path" {
  description = "CA certificate for NOMAD_CACERT."
  value       = module.servers.ca_cert_path
}

output "cli_cert_paths" {
  description = "Client certificate and key for NOMAD_CLIENT_CERT / NOMAD_CLIENT_KEY."
  value       = module.servers.cli_cert_paths
}

output "regions" {
  description = "Client regions."
  value       = module.client_fleet.regions
}

output "asg_names" {
  description = "Client ASG per region (stampede provision --asg)."
  value       = module.client_fleet.asg_names
}

output "sizing" {
  description = "Node bounds and allocations per node per region."
  value       = module.client_fleet.sizing
}
