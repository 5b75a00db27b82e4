# The C2M benchmark job (hashicorp/c2m nomad/bench.nomad, Nomad 1.0): 1,000 Docker containers per job,
# each 50 MHz / 30 MB, sleeping "forever". 2,000 copies gave C2M its 2,000,000 allocations.
# Spreading came from the cluster's scheduler_algorithm, not from a spread block.

variable "datacenters" {
  type    = list(string)
  default = ["dc1"]
}

variable "count" {
  type    = number
  default = 1000
}

job "c2m" {
  datacenters = var.datacenters
  type        = "service"

  # Deployments off: every allocation is placed at once.
  update {
    max_parallel = 0
  }

  group "cache" {
    count = var.count

    ephemeral_disk {
      size = 10
    }

    task "sleep" {
      driver = "docker"

      config {
        image   = "alpine:3.12"
        command = "/bin/sleep"
        args    = ["360000"]
      }

      resources {
        cpu    = 50
        memory = 30
      }

      logs {
        max_files     = 1
        max_file_size = 1
      }
    }
  }
}
