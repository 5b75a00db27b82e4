output "regions" {
  description = "Per region: capacity_gib, min/max weight (GiB), nodes_by_type (nodes if only that type), nodes_min/nodes_max (bounds for any mix), max_size (ASG max in GiB units), allocs_per_node and allocations_by_type (per type), allocations_min (fewest allocations any single-type fill gives)."
  value       = local.sized
}

output "desired_capacity" {
  description = "Desired capacity per region in GiB units (the ASG's desired_capacity with desired_capacity_type = \"units\")."
  value       = { for name, r in local.sized : name => r.capacity_gib }
}

output "max_size" {
  description = "ASG max_size per region, GiB units: capacity plus the largest weight minus one."
  value       = { for name, r in local.sized : name => r.max_size }
}

output "total_capacity_gib" {
  description = "Client RAM over all regions, GiB."
  value       = sum([for r in values(local.sized) : r.capacity_gib])
}

output "total_nodes_max" {
  description = "Upper bound on client nodes over all regions."
  value       = sum([for r in values(local.sized) : r.nodes_max])
}

output "total_nodes_min" {
  description = "Lower bound on client nodes over all regions."
  value       = sum([for r in values(local.sized) : r.nodes_min])
}
