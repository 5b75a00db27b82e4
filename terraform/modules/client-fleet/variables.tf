variable "run_id" {
  description = "Run id; every resource carries the tag stampede:run-id = run_id (instances via propagate_at_launch)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,39}$", var.run_id))
    error_message = "run_id: 1-40 characters of a-z, 0-9 and -, not starting with -."
  }
}

variable "regions" {
  description = "Client fleet per region: capacity in GiB of RAM, instance types weighted by GiB, the AMI, subnets and security groups."
  type = map(object({
    capacity_gib       = number
    instance_types     = map(number)
    ami_id             = string
    subnet_ids         = list(string)
    security_group_ids = list(string)
    datacenter         = optional(string)
  }))
}

variable "start_empty" {
  description = "Create the ASGs with desired capacity 0 and let `stampede provision --asg` scale them when the run starts (no idle spend while servers come up)."
  type        = bool
  default     = true
}

variable "server_region" {
  description = "Region of the Nomad servers (and of the SSM parameters holding the TLS material)."
  type        = string
}

variable "ssm_prefix" {
  description = "SSM path of the run's TLS material (servers module output ssm_prefix)."
  type        = string
}

variable "tls_kms_key_arn" {
  description = "KMS key of the TLS private keys (servers module output tls_kms_key_arns)."
  type        = string
}

variable "server_join" {
  description = "Nomad retry_join entries for clients (e.g. the servers' public IPs with :4647)."
  type        = list(string)
}

variable "benchmark_image" {
  description = "Docker image the benchmark jobs run, pulled before the Nomad agent starts."
  type        = string
  default     = "busybox:1.36"
}

variable "alloc_memory_mb" {
  description = "Memory per benchmark allocation, MB (for the sizing outputs)."
  type        = number
  default     = 256
}

variable "reserved_memory_mb" {
  description = "Memory per node reserved for the OS, Docker and Nomad, MB (client.reserved.memory)."
  type        = number
  default     = 1024
}
