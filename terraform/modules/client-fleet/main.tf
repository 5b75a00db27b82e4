locals {
  tags = { "stampede:run-id" = var.run_id }
}

# The arithmetic (nodes per region, max_size, allocations per node) lives in the provider-free sizing
# module, tested offline with `terraform test`.
module "sizing" {
  source             = "../sizing"
  regions            = { for r, c in var.regions : r => { capacity_gib = c.capacity_gib, instance_types = c.instance_types } }
  alloc_memory_mb    = var.alloc_memory_mb
  reserved_memory_mb = var.reserved_memory_mb
}

data "aws_caller_identity" "this" {}

resource "aws_iam_role" "client" {
  name = "stampede-${var.run_id}-client"
  tags = local.tags
  assume_role_policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Principal = { Service = "ec2.amazonaws.com" }, Action = "sts:AssumeRole" }]
  })
}

resource "aws_iam_role_policy" "client" {
  name = "nomad-client"
  role = aws_iam_role.client.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Effect   = "Allow"
        Action   = ["ssm:GetParameter", "ssm:GetParameters"]
        Resource = "arn:aws:ssm:${var.server_region}:${data.aws_caller_identity.this.account_id}:parameter${var.ssm_prefix}/*"
      },
      { Effect = "Allow", Action = ["kms:Decrypt"], Resource = var.tls_kms_key_arn },
    ]
  })
}

resource "aws_iam_instance_profile" "client" {
  name = "stampede-${var.run_id}-client"
  role = aws_iam_role.client.name
  tags = local.tags
}

resource "aws_launch_template" "client" {
  for_each      = var.regions
  region        = each.key
  name          = "stampede-${var.run_id}-client"
  image_id      = each.value.ami_id
  ebs_optimized = true
  user_data = base64encode(templatefile("${path.module}/templates/client.sh.tftpl", {
    run_id          = var.run_id
    region          = each.key
    datacenter      = coalesce(each.value.datacenter, each.key)
    server_region   = var.server_region
    ssm_prefix      = var.ssm_prefix
    server_join     = jsonencode(var.server_join)
    benchmark_image = var.benchmark_image
    reserved_memory = var.reserved_memory_mb
  }))
  vpc_security_group_ids = each.value.security_group_ids

  iam_instance_profile {
    name = aws_iam_instance_profile.client.name
  }

  metadata_options {
    http_tokens                 = "required"
    http_endpoint               = "enabled"
    http_put_response_hop_limit = 1
  }

  monitoring {
    enabled = true
  }

  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      volume_size = 40
      volume_type = "gp3"
      encrypted   = true
    }
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(local.tags, { "stampede:role" = "client" })
  }

  tag_specifications {
    resource_type = "volume"
    tags          = local.tags
  }

  tags = local.tags
}

resource "aws_autoscaling_group" "client" {
  for_each            = var.regions
  region              = each.key
  name                = "stampede-${var.run_id}-${each.key}"
  vpc_zone_identifier = each.value.subnet_ids
  # Capacity is counted in GiB of RAM: each instance type's weight is its GiB.
  desired_capacity_type = "units"
  min_size              = 0
  max_size              = module.sizing.max_size[each.key]
  desired_capacity      = var.start_empty ? 0 : module.sizing.desired_capacity[each.key]
  capacity_rebalance    = true
  # stampede measures node churn itself; the ASG must not replace nodes the benchmark is watching.
  health_check_type         = "EC2"
  health_check_grace_period = 300
  wait_for_capacity_timeout = "0"

  mixed_instances_policy {
    instances_distribution {
      on_demand_base_capacity                  = 0
      on_demand_percentage_above_base_capacity = 0
      spot_allocation_strategy                 = "capacity-optimized"
    }

    launch_template {
      launch_template_specification {
        launch_template_id = aws_launch_template.client[each.key].id
        version            = aws_launch_template.client[each.key].latest_version
      }

      dynamic "override" {
        for_each = each.value.instance_types
        content {
          instance_type     = override.key
          weighted_capacity = tostring(override.value)
        }
      }
    }
  }

  tag {
    key                 = "stampede:run-id"
    value               = var.run_id
    propagate_at_launch = true
  }

  tag {
    key                 = "Name"
    value               = "stampede-${var.run_id}-client"
    propagate_at_launch = true
  }

  lifecycle {
    # `stampede provision --asg` sets the desired capacity at run time.
    ignore_changes = [desired_capacity]
  }
}
