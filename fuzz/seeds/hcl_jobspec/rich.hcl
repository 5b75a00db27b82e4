variable "count" {
  type    = number
  default = 2
}
variable "image" { default = "busybox" }
variable "on" { default = true }

job "rich" {
  datacenters = ["dc1", "dc2"]
  type        = "service"
  priority    = 70
  node_pool   = "default"
  meta { team = "ci" }
  constraint {
    attribute = "${node.class}"
    operator  = "="
    value     = "ci"
  }
  spread {
    attribute = "${node.datacenter}"
    weight    = 100
  }
  update {
    max_parallel     = 2
    min_healthy_time = "10s"
    healthy_deadline = "5m"
    stagger          = "30s"
  }
  group "g" {
    count = var.count
    restart {
      attempts = 3
      delay    = "15s"
      interval = "30m"
      mode     = "fail"
    }
    reschedule {
      attempts       = 0
      unlimited      = false
      delay          = "1h"
      delay_function = "exponential"
      max_delay      = "2h"
    }
    ephemeral_disk { size = 10 }
    task "t" {
      driver = "docker"
      user   = "nobody"
      config {
        image   = var.image
        command = "sleep"
        args    = ["${var.count}", "1m"]
      }
      env { A = "b" }
      resources {
        cpu    = 100 * var.count
        memory = 64
      }
      kill_timeout = "20s"
    }
    task "u" {
      driver = "raw_exec"
      config { command = "/bin/true" }
    }
  }
}
