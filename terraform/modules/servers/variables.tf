variable "run_id" {
  description = "Run id; every resource carries the tag stampede:run-id = run_id."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,39}$", var.run_id))
    error_message = "run_id: 1-40 characters of a-z, 0-9 and -, not starting with -."
  }
}

variable "region" {
  description = "Region of the servers."
  type        = string
}

variable "server_count" {
  description = "Nomad servers: 3 or 5 (a Raft quorum)."
  type        = number
  default     = 3

  validation {
    condition     = contains([3, 5], var.server_count)
    error_message = "server_count must be 3 or 5."
  }
}

variable "instance_type" {
  description = "Server instance type: NVMe instance storage holds the Nomad data dir (Raft log and snapshots)."
  type        = string
  default     = "i3.16xlarge"
}

variable "ami_id" {
  description = "AMI built by packer/ (stampede-nomad-server-*)."
  type        = string
}

variable "subnet_ids" {
  description = "Subnets, one per AZ; servers are spread round-robin over them."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) > 0
    error_message = "Give at least one subnet."
  }
}

variable "security_group_ids" {
  description = "Security groups of the servers."
  type        = list(string)
}

variable "datacenter" {
  description = "Nomad datacenter of the servers."
  type        = string
  default     = "dc1"
}

variable "ca_cert_path" {
  description = "Where to write the cluster CA certificate (PEM) for the harness (NOMAD_CACERT)."
  type        = string
  default     = "nomad-ca.pem"
}

variable "num_schedulers" {
  description = "Scheduler workers per server (Nomad's default is the core count)."
  type        = number
  default     = 64
}

variable "root_volume_gib" {
  description = "Root EBS volume size, GiB."
  type        = number
  default     = 50
}
