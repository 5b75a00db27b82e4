output "vpc_ids" {
  description = "VPC id per region."
  value       = { for r, v in aws_vpc.this : r => v.id }
}

output "subnet_ids" {
  description = "Public subnet ids per region, one per AZ (spread order)."
  value       = { for r in keys(var.regions) : r => [for k, s in aws_subnet.public : s.id if startswith(k, "${r}/")] }
}

output "security_group_ids" {
  description = "Security group of the Nomad agents per region."
  value       = { for r, g in aws_security_group.nomad : r => g.id }
}

output "vpc_cidrs" {
  description = "VPC CIDR per region (for cross-region ingress rules)."
  value       = { for r, v in var.regions : r => v.cidr }
}
