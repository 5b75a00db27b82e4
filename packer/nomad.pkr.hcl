# The stampede Nomad AMI: one template for the client and the server image (var.role).
#   packer init . && packer build -var role=client -var region=us-east-1 .
# Nomad comes from var.nomad_version (downloaded) or var.nomad_binary (a local build, for A/B runs).

packer {
  required_plugins {
    amazon = {
      version = ">= 1.2.0"
      source  = "github.com/hashicorp/amazon"
    }
  }
}

variable "role" {
  type        = string
  default     = "client"
  description = "client or server."
}

variable "region" {
  type    = string
  default = "us-east-1"
}

variable "ami_regions" {
  type        = list(string)
  default     = []
  description = "Regions to copy the AMI to (every client region of a multi-region run)."
}

variable "instance_type" {
  type    = string
  default = "m5.large"
}

variable "nomad_version" {
  type        = string
  default     = "1.9.7"
  description = "Nomad release to install when nomad_binary is empty."
}

variable "nomad_binary" {
  type        = string
  default     = ""
  description = "Path of a local nomad binary (a custom build for A/B runs); overrides nomad_version."
}

variable "nomad_download_base" {
  type        = string
  default     = "https://releases.hashicorp.com/nomad"
  description = "Where nomad_<version>_linux_amd64.zip is fetched from."
}

variable "benchmark_image" {
  type        = string
  default     = "busybox:1.36"
  description = "Docker image of the benchmark jobs: pulled into the AMI and again (refreshed) before Nomad starts."
}

variable "source_ami" {
  type        = string
  default     = ""
  description = "Base AMI id; empty = the newest official Debian 12 amd64 image."
}

variable "ec2_endpoint" {
  type        = string
  default     = ""
  description = "EC2 endpoint of an emulator (moto) for the `emulator` build; that build refuses to run without one."
}

variable "run_id" {
  type        = string
  default     = "ami-build"
  description = "Tags the build's temporary resources (stampede:run-id) so `stampede teardown` can clean a failed build."
}

locals {
  stamp = formatdate("YYYYMMDDhhmmss", timestamp())
  nomad = var.nomad_binary == "" ? var.nomad_version : "custom"
}

# Settings shared by both builds; region, AMI name, communicator and endpoint are set per build below.
source "amazon-ebs" "nomad" {
  ami_regions                 = var.ami_regions
  instance_type               = var.instance_type
  source_ami                  = var.source_ami
  ssh_username                = "admin"
  associate_public_ip_address = true
  encrypt_boot                = false

  # Only when var.source_ami is empty: the newest image of Debian's official account.
  dynamic "source_ami_filter" {
    for_each = var.source_ami == "" ? ["debian"] : []
    content {
      filters = {
        name                = "debian-12-amd64-*"
        virtualization-type = "hvm"
      }
      owners      = ["136693071363"]
      most_recent = true
    }
  }

  tags = {
    Name              = "stampede-nomad-${var.role}"
    "stampede:role"   = var.role
    "stampede:nomad"  = local.nomad
    "stampede:source" = "packer"
  }
  run_tags = {
    "stampede:run-id" = var.run_id
  }
  run_volume_tags = {
    "stampede:run-id" = var.run_id
  }
}

# The real image: `packer build -only='nomad.*' .`
build {
  name = "nomad"

  source "source.amazon-ebs.nomad" {
    name     = "image"
    region   = var.region
    ami_name = "stampede-nomad-${var.role}-${local.nomad}-${local.stamp}"
  }

  provisioner "file" {
    source      = "${path.root}/files/"
    destination = "/tmp/stampede-files"
  }

  provisioner "file" {
    # An empty file when no custom binary is given (the shell step then downloads nomad_version).
    source      = var.nomad_binary == "" ? "${path.root}/files/nomad.service" : var.nomad_binary
    destination = "/tmp/nomad-custom"
  }

  provisioner "shell" {
    environment_vars = [
      "ROLE=${var.role}",
      "NOMAD_VERSION=${var.nomad_version}",
      "NOMAD_CUSTOM=${var.nomad_binary == "" ? "0" : "1"}",
      "NOMAD_DOWNLOAD_BASE=${var.nomad_download_base}",
      "BENCHMARK_IMAGE=${var.benchmark_image}",
    ]
    execute_command = "sudo -E bash '{{ .Path }}'"
    script          = "${path.root}/scripts/install.sh"
  }
}

# API-only build against an EC2 emulator (moto): the same source, no communicator and so no provisioning;
# it exercises the AWS side (source AMI lookup, temporary key pair and security group, instance, tags,
# CreateImage). `packer build -only='emulator.*' -var ec2_endpoint=http://127.0.0.1:PORT -var source_ami=… .`
# Without ec2_endpoint it points at a closed loopback port, so it can never reach (or spend on) real AWS.
build {
  name = "emulator"

  source "source.amazon-ebs.nomad" {
    name                   = "api-only"
    region                 = var.region
    skip_region_validation = true
    custom_endpoint_ec2    = var.ec2_endpoint == "" ? "http://127.0.0.1:9" : var.ec2_endpoint
    communicator           = "none"
    ami_name               = "stampede-apicheck-${var.role}-${local.nomad}-${local.stamp}"
  }
}
