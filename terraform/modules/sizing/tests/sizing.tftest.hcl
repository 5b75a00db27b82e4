# Offline tests of the sizing arithmetic: `terraform init && terraform test` in modules/sizing.

variables {
  regions = {
    "us-east-1" = { capacity_gib = 960, instance_types = { "m5.xlarge" = 16, "m5.2xlarge" = 32 } }
    "eu-west-1" = { capacity_gib = 100, instance_types = { "m5.2xlarge" = 32 } }
  }
  alloc_memory_mb    = 256
  reserved_memory_mb = 1024
}

run "nodes_and_allocations" {
  command = plan

  assert {
    condition     = output.regions["us-east-1"].nodes_by_type["m5.xlarge"] == 60
    error_message = "960 GiB of m5.xlarge (16 GiB) is 60 nodes"
  }
  assert {
    condition     = output.regions["us-east-1"].nodes_by_type["m5.2xlarge"] == 30
    error_message = "960 GiB of m5.2xlarge (32 GiB) is 30 nodes"
  }
  assert {
    condition     = output.regions["us-east-1"].nodes_min == 30 && output.regions["us-east-1"].nodes_max == 60
    error_message = "bounds for any mix are 30..60"
  }
  assert {
    condition     = output.regions["eu-west-1"].nodes_max == 4
    error_message = "100 GiB of 32 GiB nodes rounds up to 4"
  }
  assert {
    condition     = output.regions["us-east-1"].allocs_per_node["m5.xlarge"] == 60
    error_message = "(16*1024-1024)/256 = 60 allocations per m5.xlarge"
  }
  assert {
    condition     = output.regions["us-east-1"].allocations_by_type["m5.2xlarge"] == 30 * 124
    error_message = "30 m5.2xlarge x 124 allocations"
  }
  assert {
    condition     = output.max_size["us-east-1"] == 991
    error_message = "max_size = 960 + 32 - 1"
  }
  assert {
    condition     = output.total_capacity_gib == 1060 && output.total_nodes_max == 64 && output.total_nodes_min == 34
    error_message = "totals over regions"
  }
  assert {
    condition     = output.desired_capacity["eu-west-1"] == 100
    error_message = "desired capacity is in GiB units"
  }
}

run "rejects_zero_capacity" {
  command = plan

  variables {
    regions = {
      "us-east-1" = { capacity_gib = 0, instance_types = { "m5.xlarge" = 16 } }
    }
  }

  expect_failures = [var.regions]
}

run "rejects_fractional_weight" {
  command = plan

  variables {
    regions = {
      "us-east-1" = { capacity_gib = 64, instance_types = { "m5.xlarge" = 15.5 } }
    }
  }

  expect_failures = [var.regions]
}

run "rejects_empty_types" {
  command = plan

  variables {
    regions = {
      "us-east-1" = { capacity_gib = 64, instance_types = {} }
    }
  }

  expect_failures = [var.regions]
}
