# Sizing of a weighted spot fleet whose capacity is given in GiB.
#
# An ASG with a MixedInstancesPolicy (or an EC2 Fleet) launches instances until the sum of their weights reaches
# the desired capacity, so with weights = GiB of RAM:
#   nodes if only type t        = ceil(capacity / weight_t)
#   nodes for any mix, at most  = ceil(capacity / smallest weight)
#   nodes for any mix, at least = ceil(capacity / largest weight)
#   max_size (room for the last instance's overshoot) = capacity + largest weight - 1
# and each node of type t runs floor((weight_t * 1024 - reserved_memory_mb) / alloc_memory_mb) allocations
# (memory is the binding dimension for CI batch jobs; see shared/reference/scheduler-model.md).

locals {
  per_region = {
    for name, r in var.regions : name => {
      capacity_gib = r.capacity_gib
      min_weight   = min(values(r.instance_types)...)
      max_weight   = max(values(r.instance_types)...)
      nodes_by_type = {
        for t, w in r.instance_types : t => ceil(r.capacity_gib / w)
      }
      allocs_per_node = {
        for t, w in r.instance_types : t => max(0, floor((w * 1024 - var.reserved_memory_mb) / var.alloc_memory_mb))
      }
    }
  }

  sized = {
    for name, r in local.per_region : name => merge(r, {
      nodes_min = ceil(r.capacity_gib / r.max_weight)
      nodes_max = ceil(r.capacity_gib / r.min_weight)
      max_size  = r.capacity_gib + r.max_weight - 1
      allocations_by_type = {
        for t, n in r.nodes_by_type : t => n * r.allocs_per_node[t]
      }
      allocations_min = min([for t, n in r.nodes_by_type : n * r.allocs_per_node[t]]...)
    })
  }
}
