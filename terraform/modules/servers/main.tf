locals {
  tags       = { "stampede:run-id" = var.run_id }
  ssm_prefix = "/stampede/${var.run_id}/tls"
}

# ---- mTLS: one CA per run; server and client certificates; keys in SSM SecureString ----

resource "tls_private_key" "ca" {
  algorithm   = "ECDSA"
  ecdsa_curve = "P384"
}

resource "tls_self_signed_cert" "ca" {
  private_key_pem       = tls_private_key.ca.private_key_pem
  is_ca_certificate     = true
  validity_period_hours = 24 * 30
  allowed_uses          = ["cert_signing", "crl_signing", "digital_signature"]

  subject {
    common_name  = "stampede ${var.run_id} Nomad CA"
    organization = "stampede"
  }
}

resource "tls_private_key" "agent" {
  for_each    = toset(["server", "client", "cli"])
  algorithm   = "ECDSA"
  ecdsa_curve = "P384"
}

resource "tls_cert_request" "agent" {
  for_each        = tls_private_key.agent
  private_key_pem = each.value.private_key_pem
  # Nomad checks `server.<region>.nomad` / `client.<region>.nomad` when verify_server_hostname is on.
  dns_names    = each.key == "cli" ? ["cli.global.nomad"] : ["${each.key}.global.nomad", "localhost"]
  ip_addresses = ["127.0.0.1"]

  subject {
    common_name = "${each.key}.global.nomad"
  }
}

resource "tls_locally_signed_cert" "agent" {
  for_each              = tls_cert_request.agent
  cert_request_pem      = each.value.cert_request_pem
  ca_private_key_pem    = tls_private_key.ca.private_key_pem
  ca_cert_pem           = tls_self_signed_cert.ca.cert_pem
  validity_period_hours = 24 * 30
  allowed_uses          = ["digital_signature", "key_encipherment", "server_auth", "client_auth"]
}

resource "aws_kms_key" "tls" {
  region                  = var.region
  description             = "stampede ${var.run_id} TLS keys"
  enable_key_rotation     = true
  deletion_window_in_days = 7
  tags                    = local.tags
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "Account"
      Effect    = "Allow"
      Principal = { AWS = "arn:aws:iam::${data.aws_caller_identity.this.account_id}:root" }
      Action    = "kms:*"
      Resource  = "*"
    }]
  })
}

data "aws_caller_identity" "this" {}

resource "aws_ssm_parameter" "ca" {
  region = var.region
  name   = "${local.ssm_prefix}/ca.pem"
  type   = "SecureString"
  key_id = aws_kms_key.tls.arn
  value  = tls_self_signed_cert.ca.cert_pem
  tags   = local.tags
}

resource "aws_ssm_parameter" "cert" {
  for_each = tls_locally_signed_cert.agent
  region   = var.region
  name     = "${local.ssm_prefix}/${each.key}.pem"
  type     = "SecureString"
  key_id   = aws_kms_key.tls.arn
  value    = each.value.cert_pem
  tags     = local.tags
}

resource "aws_ssm_parameter" "key" {
  for_each = tls_private_key.agent
  region   = var.region
  name     = "${local.ssm_prefix}/${each.key}-key.pem"
  type     = "SecureString"
  key_id   = aws_kms_key.tls.arn
  value    = each.value.private_key_pem
  tags     = local.tags
}

resource "local_file" "ca" {
  filename        = var.ca_cert_path
  content         = tls_self_signed_cert.ca.cert_pem
  file_permission = "0644"
}

resource "local_sensitive_file" "cli" {
  for_each = { cert = tls_locally_signed_cert.agent["cli"].cert_pem, key = tls_private_key.agent["cli"].private_key_pem }
  filename = "${dirname(var.ca_cert_path)}/nomad-cli-${each.key}.pem"
  content  = each.value
}

# ---- IAM: read the TLS parameters, describe instances for cloud auto-join ----

resource "aws_iam_role" "server" {
  name = "stampede-${var.run_id}-server"
  tags = local.tags
  assume_role_policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Principal = { Service = "ec2.amazonaws.com" }, Action = "sts:AssumeRole" }]
  })
}

resource "aws_iam_role_policy" "server" {
  name = "nomad-server"
  role = aws_iam_role.server.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Effect   = "Allow"
        Action   = ["ssm:GetParameter", "ssm:GetParameters"]
        Resource = "arn:aws:ssm:${var.region}:${data.aws_caller_identity.this.account_id}:parameter${local.ssm_prefix}/*"
      },
      { Effect = "Allow", Action = ["kms:Decrypt"], Resource = aws_kms_key.tls.arn },
      # ec2:DescribeInstances has no resource-level permissions; it is what Nomad's cloud auto-join needs.
      { Effect = "Allow", Action = ["ec2:DescribeInstances"], Resource = "*" },
    ]
  })
}

resource "aws_iam_instance_profile" "server" {
  name = "stampede-${var.run_id}-server"
  role = aws_iam_role.server.name
  tags = local.tags
}

# ---- the servers ----

resource "aws_instance" "server" {
  count                  = var.server_count
  region                 = var.region
  ami                    = var.ami_id
  instance_type          = var.instance_type
  subnet_id              = var.subnet_ids[count.index % length(var.subnet_ids)]
  vpc_security_group_ids = var.security_group_ids
  iam_instance_profile   = aws_iam_instance_profile.server.name
  ebs_optimized          = true
  monitoring             = true
  user_data = templatefile("${path.module}/templates/server.sh.tftpl", {
    run_id           = var.run_id
    region           = var.region
    datacenter       = var.datacenter
    bootstrap_expect = var.server_count
    num_schedulers   = var.num_schedulers
    ssm_prefix       = local.ssm_prefix
    nomad_hcl = templatefile("${path.module}/templates/server.hcl.tftpl", {
      run_id           = var.run_id
      region           = var.region
      datacenter       = var.datacenter
      bootstrap_expect = var.server_count
      num_schedulers   = var.num_schedulers
    })
  })

  metadata_options {
    http_tokens   = "required"
    http_endpoint = "enabled"
  }

  root_block_device {
    volume_size = var.root_volume_gib
    volume_type = "gp3"
    encrypted   = true
  }

  tags        = merge(local.tags, { Name = "stampede-${var.run_id}-server-${count.index}", "stampede:role" = "server" })
  volume_tags = local.tags
}
