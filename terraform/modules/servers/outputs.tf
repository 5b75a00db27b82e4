output "server_addresses" {
  description = "Nomad HTTPS addresses of the servers (public IPs; https://IP:4646)."
  value       = [for s in aws_instance.server : "https://${s.public_ip}:4646"]
}

output "server_private_ips" {
  description = "Private IPs of the servers (for clients in the same VPC)."
  value       = aws_instance.server[*].private_ip
}

output "ca_cert_path" {
  description = "Path of the CA certificate (PEM) the harness uses as NOMAD_CACERT."
  value       = local_file.ca.filename
}

output "cli_cert_paths" {
  description = "Client certificate and key for the harness (NOMAD_CLIENT_CERT, NOMAD_CLIENT_KEY)."
  value       = { for k, f in local_sensitive_file.cli : k => f.filename }
}

output "ssm_prefix" {
  description = "SSM path holding the run's TLS material; the client fleet's instance role reads it."
  value       = local.ssm_prefix
}

output "tls_kms_key_arns" {
  description = "KMS key encrypting the TLS private keys in SSM."
  value       = aws_kms_key.tls.arn
}
