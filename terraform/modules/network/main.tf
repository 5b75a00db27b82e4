locals {
  tags = { "stampede:run-id" = var.run_id }

  subnets = merge([
    for region, r in var.regions : {
      for i in range(r.az_count) : "${region}/${i}" => {
        region = region
        index  = i
        cidr   = cidrsubnet(r.cidr, 4, i)
      }
    }
  ]...)
}

data "aws_availability_zones" "this" {
  #checkov:skip=CKV_AWS_394:Subnets are keyed by AZ index (region/0..n-1) over the sorted names, so a zone AWS adds later does not move existing subnets; pinning zone ids per account would make the module account-specific.
  for_each = var.regions
  region   = each.key
  state    = "available"
}

resource "aws_vpc" "this" {
  for_each             = var.regions
  region               = each.key
  cidr_block           = each.value.cidr
  enable_dns_hostnames = true
  enable_dns_support   = true
  tags                 = merge(local.tags, { Name = "stampede-${var.run_id}" })
}

# Lock down the default security group (CKV2_AWS_12): nothing uses it.
resource "aws_default_security_group" "this" {
  for_each = var.regions
  region   = each.key
  vpc_id   = aws_vpc.this[each.key].id
  tags     = local.tags
}

resource "aws_internet_gateway" "this" {
  for_each = var.regions
  region   = each.key
  vpc_id   = aws_vpc.this[each.key].id
  tags     = local.tags
}

resource "aws_subnet" "public" {
  for_each          = local.subnets
  region            = each.value.region
  vpc_id            = aws_vpc.this[each.value.region].id
  cidr_block        = each.value.cidr
  availability_zone = data.aws_availability_zones.this[each.value.region].names[each.value.index % length(data.aws_availability_zones.this[each.value.region].names)]
  # Instances need a public address to reach the servers in another region (C2M's topology; no NAT or
  # transit gateway to keep the benchmark's network path simple). Agents only accept mTLS.
  #checkov:skip=CKV_AWS_130:Public IPs are the cross-region path to the Nomad servers; ports are closed by the security group and every agent port requires mTLS.
  map_public_ip_on_launch = true
  tags                    = merge(local.tags, { Name = "stampede-${var.run_id}-${each.key}" })
}

resource "aws_route_table" "public" {
  for_each = var.regions
  region   = each.key
  vpc_id   = aws_vpc.this[each.key].id
  tags     = local.tags

  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.this[each.key].id
  }
}

resource "aws_route_table_association" "public" {
  for_each       = local.subnets
  region         = each.value.region
  subnet_id      = aws_subnet.public[each.key].id
  route_table_id = aws_route_table.public[each.value.region].id
}

resource "aws_security_group" "nomad" {
  #checkov:skip=CKV2_AWS_5:Attached outside this module: the servers' instances and the client-fleet launch templates take it from the security_group_ids output.
  for_each    = var.regions
  region      = each.key
  name        = "stampede-${var.run_id}-nomad"
  description = "Nomad agents of stampede run ${var.run_id}"
  vpc_id      = aws_vpc.this[each.key].id
  tags        = local.tags
}

resource "aws_vpc_security_group_ingress_rule" "self" {
  for_each                     = var.regions
  region                       = each.key
  description                  = "Nomad agents talk to each other (mTLS)"
  security_group_id            = aws_security_group.nomad[each.key].id
  referenced_security_group_id = aws_security_group.nomad[each.key].id
  ip_protocol                  = "tcp"
  from_port                    = 4646
  to_port                      = 4648
  tags                         = local.tags
}

resource "aws_vpc_security_group_ingress_rule" "nomad" {
  for_each          = { for p in setproduct(keys(var.regions), var.nomad_ingress_cidrs) : "${p[0]}/${p[1]}" => { region = p[0], cidr = p[1] } }
  region            = each.value.region
  description       = "Nomad HTTP/RPC/serf from ${each.value.cidr} (mTLS)"
  security_group_id = aws_security_group.nomad[each.value.region].id
  cidr_ipv4         = each.value.cidr
  ip_protocol       = "tcp"
  from_port         = 4646
  to_port           = 4648
  tags              = local.tags
}

resource "aws_vpc_security_group_egress_rule" "all" {
  for_each          = var.regions
  region            = each.key
  description       = "Pull images and reach the servers in other regions"
  security_group_id = aws_security_group.nomad[each.key].id
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "-1"
  tags              = local.tags
}

# VPC flow logs (CKV2_AWS_11) to CloudWatch, encrypted with a KMS key per region.
resource "aws_kms_key" "logs" {
  for_each                = var.regions
  region                  = each.key
  description             = "stampede ${var.run_id} flow logs"
  enable_key_rotation     = true
  deletion_window_in_days = 7
  tags                    = local.tags
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "Account"
        Effect    = "Allow"
        Principal = { AWS = "arn:aws:iam::${data.aws_caller_identity.this.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "Logs"
        Effect    = "Allow"
        Principal = { Service = "logs.${each.key}.amazonaws.com" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
      },
    ]
  })
}

data "aws_caller_identity" "this" {}

resource "aws_cloudwatch_log_group" "flow" {
  for_each          = var.regions
  region            = each.key
  name              = "/stampede/${var.run_id}/vpc-flow"
  retention_in_days = var.flow_log_retention_days
  kms_key_id        = aws_kms_key.logs[each.key].arn
  tags              = local.tags
}

resource "aws_iam_role" "flow" {
  name = "stampede-${var.run_id}-flow-logs"
  tags = local.tags
  assume_role_policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Principal = { Service = "vpc-flow-logs.amazonaws.com" }, Action = "sts:AssumeRole" }]
  })
}

resource "aws_iam_role_policy" "flow" {
  name = "write-flow-logs"
  role = aws_iam_role.flow.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
      Resource = [for g in aws_cloudwatch_log_group.flow : "${g.arn}:*"]
    }]
  })
}

resource "aws_flow_log" "this" {
  for_each        = var.regions
  region          = each.key
  vpc_id          = aws_vpc.this[each.key].id
  traffic_type    = "ALL"
  log_destination = aws_cloudwatch_log_group.flow[each.key].arn
  iam_role_arn    = aws_iam_role.flow.arn
  tags            = local.tags
}
