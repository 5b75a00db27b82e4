# A monorepo CI test shard as a parameterized batch job: `nomad job dispatch -meta shard=3 ci-test`.
# The test task writes its results into the shared alloc dir; the log-collector sidecar ships them.

variable "datacenters" {
  type    = list(string)
  default = ["dc1"]
}

variable "priority" {
  type    = number
  default = 50
}

variable "image" {
  type    = string
  default = "alpine:3.12"
}

variable "cpu" {
  type    = number
  default = 500
}

variable "memory" {
  type    = number
  default = 512
}

variable "test_seconds" {
  type    = string
  default = "30"
}

job "ci-test" {
  datacenters = var.datacenters
  type        = "batch"
  priority    = var.priority

  parameterized {
    payload       = "optional"
    meta_required = ["shard"]
    meta_optional = ["commit", "suite"]
  }

  meta {
    image = var.image
    suite = "unit"
  }

  group "shard" {
    count = 1

    restart {
      attempts = 1
      interval = "5m"
      delay    = "5s"
      mode     = "fail"
    }

    reschedule {
      attempts  = 2
      interval  = "30m"
      delay     = "10s"
      unlimited = false
    }

    ephemeral_disk {
      size = 300
    }

    task "test" {
      driver = "docker"

      config {
        image   = var.image
        command = "/bin/sh"
        args    = ["-c", "sleep ${var.test_seconds} && echo ok > $NOMAD_ALLOC_DIR/result.txt"]
      }

      env {
        CI_SHARD = "$${NOMAD_META_shard}"
      }

      resources {
        cpu    = var.cpu
        memory = var.memory
      }

      logs {
        max_files     = 2
        max_file_size = 10
      }
    }

    task "log-collector" {
      driver = "docker"

      lifecycle {
        hook    = "poststart"
        sidecar = false
      }

      config {
        image   = var.image
        command = "/bin/sh"
        args    = ["-c", "while [ ! -f $NOMAD_ALLOC_DIR/result.txt ]; do sleep 1; done; cat $NOMAD_ALLOC_DIR/result.txt"]
      }

      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}
