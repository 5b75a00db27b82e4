output "asg_names" {
  description = "ASG name per region (for `stampede provision --asg`)."
  value       = { for r, g in aws_autoscaling_group.client : r => g.name }
}

output "launch_template_ids" {
  description = "Launch template id per region."
  value       = { for r, t in aws_launch_template.client : r => t.id }
}

output "regions" {
  description = "Regions of the fleet."
  value       = keys(var.regions)
}

output "sizing" {
  description = "Sizing per region (nodes bounds, allocations per node): see modules/sizing."
  value       = module.sizing.regions
}
