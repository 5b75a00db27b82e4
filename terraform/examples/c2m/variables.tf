variable "run_id" {
  description = "Run id: tags every resource (stampede:run-id) and is what `stampede teardown --run-id` deletes by."
  type        = string
}

variable "server_region" {
  description = "Region of the Nomad servers."
  type        = string
  default     = "us-east-1"
}

variable "server_count" {
  description = "Nomad servers (3 or 5)."
  type        = number
  default     = 3
}

variable "server_instance_type" {
  description = "Server instance type (NVMe for the data dir)."
  type        = string
  default     = "i3.16xlarge"
}

variable "server_ami" {
  description = "Server AMI (packer: stampede-nomad-server-*)."
  type        = string
}

variable "client_regions" {
  description = "Client fleets: per region the VPC CIDR, the client AMI (packer: stampede-nomad-client-*), capacity in GiB and instance types weighted by GiB."
  type = map(object({
    cidr           = string
    ami_id         = string
    capacity_gib   = number
    instance_types = map(number)
  }))
}

variable "operator_cidrs" {
  description = "Where the harness runs (reaches the servers' HTTPS API)."
  type        = list(string)
  default     = []
}

variable "ca_cert_path" {
  description = "Where to write the cluster CA certificate for the harness."
  type        = string
  default     = "nomad-ca.pem"
}
