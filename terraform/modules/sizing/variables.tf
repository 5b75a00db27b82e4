variable "regions" {
  description = "Client capacity per region: GiB of client RAM (the ASG/fleet capacity units) and the allowed instance types with their weight (GiB of RAM per instance)."
  type = map(object({
    capacity_gib   = number
    instance_types = map(number)
  }))

  validation {
    condition     = length(var.regions) > 0
    error_message = "Give at least one region."
  }
  validation {
    condition     = alltrue([for r in values(var.regions) : r.capacity_gib >= 1 && floor(r.capacity_gib) == r.capacity_gib])
    error_message = "capacity_gib must be a positive whole number of GiB in every region."
  }
  validation {
    condition     = alltrue([for r in values(var.regions) : length(r.instance_types) > 0])
    error_message = "Every region needs at least one instance type."
  }
  validation {
    condition     = alltrue(flatten([for r in values(var.regions) : [for w in values(r.instance_types) : w >= 1 && floor(w) == w]]))
    error_message = "Instance-type weights are whole GiB of RAM, at least 1."
  }
}

variable "alloc_memory_mb" {
  description = "Memory asked by one benchmark allocation, MB (Nomad's resources.memory)."
  type        = number
  default     = 256

  validation {
    condition     = var.alloc_memory_mb >= 10
    error_message = "alloc_memory_mb must be at least 10 (Nomad's minimum)."
  }
}

variable "reserved_memory_mb" {
  description = "Memory per node reserved for the OS, Docker and the Nomad agent (client.reserved.memory), MB."
  type        = number
  default     = 1024

  validation {
    condition     = var.reserved_memory_mb >= 0
    error_message = "reserved_memory_mb cannot be negative."
  }
}
