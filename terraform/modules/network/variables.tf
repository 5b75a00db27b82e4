variable "run_id" {
  description = "Run id; every resource carries the tag stampede:run-id = run_id."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,39}$", var.run_id))
    error_message = "run_id: 1-40 characters of a-z, 0-9 and -, not starting with -."
  }
}

variable "regions" {
  description = "Per region: the VPC CIDR (a /16) and how many AZs to spread subnets over."
  type = map(object({
    cidr     = string
    az_count = optional(number, 3)
  }))

  validation {
    condition     = alltrue([for r in values(var.regions) : can(cidrsubnet(r.cidr, 4, 0)) && r.az_count >= 1 && r.az_count <= 6])
    error_message = "Each region needs a valid CIDR with room for /4 subnets and 1-6 AZs."
  }
}

variable "nomad_ingress_cidrs" {
  description = "CIDRs allowed to reach Nomad's ports (4646 HTTP, 4647 RPC, 4648 serf): the other regions' VPCs and the operator's address. All traffic is mTLS."
  type        = list(string)
  default     = []
}

variable "flow_log_retention_days" {
  description = "Retention of the VPC flow logs, days."
  type        = number
  default     = 365
}
