//! Placement feasibility beyond CPU and memory, per job: node pools, constraints, affinities,
//! `distinct_hosts`, host ports and ephemeral disk ([`crate::placement`] has the semantics and the
//! citations).
//!
//! A job that asks for none of these (and a cluster whose nodes are all in the `default` node pool) gets
//! no [`JobPlace`]: the scheduler's hot path then only adds the disk check to `AllocsFit`. A job that does
//! gets its constraints and affinities compiled once, at registration, into per-fleet-pool verdicts
//! (Nomad's computed-class cache, `scheduler/feasible.go: FeasibilityWrapper.Next`), so a candidate node
//! costs one indexed load plus the checks that escape the class (`${node.unique.*}`).

use super::*;
use crate::placement::{
    node_pool_matches, CompiledGroup, DistinctHosts, GroupPlacement, NodeFacts, Operator, Target,
};

/// A job's compiled placement requirements.
#[derive(Debug)]
pub(super) struct JobPlace {
    /// Per fleet pool: the job's node pool admits its nodes (`readyNodesInDCsAndPool`); `None`: all do.
    pub(super) npool: Option<Vec<bool>>,
    /// Per group.
    pub(super) groups: Vec<GroupPlace>,
}

/// One group's compiled requirements.
#[derive(Debug)]
pub(super) struct GroupPlace {
    /// Constraints and affinities per fleet pool (`None`: the group has neither).
    pub(super) cg: Option<CompiledGroup>,
    /// `distinct_hosts`.
    pub(super) distinct: DistinctHosts,
    /// The group's placement (ports), shared with its allocations.
    pub(super) spec: Option<Arc<GroupPlacement>>,
    /// `distinct_property` constraints: the property and the allocations allowed per value.
    pub(super) props: Vec<(Target, u32)>,
}

impl JobPlace {
    /// Compiles `spec` against the cluster's fleet pools; `None` when nothing needs checking.
    pub(super) fn compile(spec: &JobSpec, pools: &[PoolRt]) -> Option<Box<JobPlace>> {
        let pool_ok: Vec<bool> = pools
            .iter()
            .map(|p| node_pool_matches(spec.node_pool.as_deref(), &p.cfg.node_pool))
            .collect();
        let npool = (!pool_ok.iter().all(|&b| b)).then(|| pool_ok.clone());
        let trivial = spec.groups.iter().all(|g| g.placement().is_trivial());
        if trivial && npool.is_none() {
            return None;
        }
        let facts: Vec<&NodeFacts> = pools.iter().map(|p| &*p.facts).collect();
        let groups = spec
            .groups
            .iter()
            .map(|g| {
                let p = g.placement();
                let cg = (!p.constraints.is_empty() || !p.affinities.is_empty())
                    .then(|| CompiledGroup::new(p, &facts, &pool_ok));
                GroupPlace {
                    cg,
                    distinct: p.distinct_hosts,
                    spec: g.placement.clone().filter(|p| !p.ports.is_empty()),
                    props: p
                        .constraints
                        .iter()
                        .filter(|c| c.operator == Operator::DistinctProperty)
                        .map(|c| (Target::parse(&c.attribute), c.property_limit().unwrap_or(1)))
                        .collect(),
                }
            })
            .collect();
        Some(Box::new(JobPlace { npool, groups }))
    }

    /// Whether the job may use a node of fleet pool `pool` at all (node pool).
    #[inline]
    pub(super) fn pool_admits(&self, pool: u32) -> bool {
        self.npool.as_ref().is_none_or(|v| v[pool as usize])
    }

    /// Whether group `g` may use nodes of fleet pool `pool` on class-level grounds (node pool and the
    /// constraints that do not escape the class); used by the blocked-eval release check, as Nomad's
    /// blocked evals track class eligibility (`BlockedEvals.Unblock` with `ClassEligibility`).
    pub(super) fn class_eligible(&self, g: usize, pool: u32) -> bool {
        self.pool_admits(pool)
            && self.groups[g]
                .cg
                .as_ref()
                .is_none_or(|cg| cg.pool_ok[pool as usize])
    }
}

/// Host ports in use on one node (committed and verified in-flight placements).
#[derive(Debug, Clone, Default)]
pub(super) struct NodePorts {
    /// Static ports taken.
    pub(super) statics: Vec<u16>,
    /// Dynamic ports taken.
    pub(super) dynamic: u32,
}

/// Whether an allocation asking `ask` fits the ports of a node whose committed usage is `used` and whose
/// dynamic range is `range`, with `plan_statics`/`plan_dynamic` already taken by the plan being built
/// (`NetworkIndex.AssignPorts`: a reserved port in use is a collision; dynamic ports come from the range
/// minus what is used — static ports inside the range included —, else "dynamic port selection failed").
pub(super) fn ports_fit(
    used: Option<&NodePorts>,
    range: (u16, u16),
    ask: &crate::placement::Ports,
    plan_statics: &[u16],
    plan_dynamic: u32,
) -> bool {
    let empty = NodePorts::default();
    let used = used.unwrap_or(&empty);
    if ask
        .static_ports
        .iter()
        .any(|p| used.statics.contains(p) || plan_statics.contains(p))
    {
        return false;
    }
    if ask.dynamic == 0 {
        return true;
    }
    let in_range = |p: &&u16| (range.0..=range.1).contains(*p);
    let statics_in_range = used.statics.iter().filter(in_range).count()
        + plan_statics.iter().filter(in_range).count()
        + ask.static_ports.iter().filter(in_range).count();
    let size = (range.1 - range.0) as usize + 1;
    let free =
        size.saturating_sub(statics_in_range + used.dynamic as usize + plan_dynamic as usize);
    ask.dynamic as usize <= free
}

impl State {
    /// Ports used on `node` (committed and verified in flight), if any.
    #[inline]
    pub(super) fn node_ports(&self, node: NodeIx) -> Option<&NodePorts> {
        self.ports.get(node.index())
    }

    /// Takes `ask` on `node`.
    pub(super) fn reserve_ports(&mut self, node: NodeIx, ask: &crate::placement::Ports) {
        if self.ports.len() <= node.index() {
            self.ports.resize(node.index() + 1, NodePorts::default());
        }
        let u = &mut self.ports[node.index()];
        u.statics.extend_from_slice(&ask.static_ports);
        u.dynamic += ask.dynamic;
    }

    /// Gives `ask` back on `node`.
    pub(super) fn release_ports(&mut self, node: NodeIx, ask: &crate::placement::Ports) {
        if let Some(u) = self.ports.get_mut(node.index()) {
            for p in &ask.static_ports {
                if let Some(i) = u.statics.iter().position(|x| x == p) {
                    u.statics.swap_remove(i);
                }
            }
            u.dynamic = u.dynamic.saturating_sub(ask.dynamic);
        }
    }

    /// Whether an allocation of group `g` of `spec` fits `node` now — CPU, memory, disk and ports
    /// (`structs.AllocsFit` as the plan applier runs it, `nomad/plan_apply.go: evaluateNodePlan`).
    pub(super) fn fits_now(&self, node: NodeIx, g: &GroupSpec) -> bool {
        let nd = &self.nodes[node];
        let p = g.placement();
        nd.fits(g.cpu_mhz, g.memory_mb)
            && nd.disk_used + p.disk_mb() <= nd.disk_cap
            && (p.ports.is_empty()
                || ports_fit(
                    self.node_ports(node),
                    self.pools[nd.pool as usize].cfg.dynamic_ports,
                    &p.ports,
                    &[],
                    0,
                ))
    }

    /// Reserves group `g`'s resources on `node` (the applier's verify step).
    pub(super) fn reserve(&mut self, node: NodeIx, g: &GroupSpec) {
        let nd = &mut self.nodes[node];
        nd.cpu_used += g.cpu_mhz;
        nd.mem_used += g.memory_mb;
        nd.disk_used += g.placement().disk_mb();
        if !g.placement().ports.is_empty() {
            self.reserve_ports(node, &g.placement().ports);
        }
    }

    /// Undoes [`State::reserve`].
    pub(super) fn unreserve(&mut self, node: NodeIx, g: &GroupSpec) {
        let nd = &mut self.nodes[node];
        nd.cpu_used -= g.cpu_mhz;
        nd.mem_used -= g.memory_mb;
        nd.disk_used -= g.placement().disk_mb();
        if !g.placement().ports.is_empty() {
            self.release_ports(node, &g.placement().ports);
        }
    }
}

/// The node facts of a fleet pool (interned once per pool, shared by its nodes).
pub(super) fn pool_facts(cfg: &PoolConfig) -> NodeFacts {
    NodeFacts {
        attributes: cfg.attributes.clone(),
        meta: cfg.meta.clone(),
        class: cfg.node_class.clone(),
        datacenter: cfg.datacenter.clone(),
        pool: cfg.node_pool.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::placement::Ports;

    #[test]
    fn static_ports_collide_and_dynamic_ports_run_out() {
        let ask = Ports {
            static_ports: vec![8080],
            dynamic: 0,
        };
        let used = NodePorts {
            statics: vec![8080],
            dynamic: 0,
        };
        assert!(ports_fit(None, (20000, 32000), &ask, &[], 0));
        assert!(!ports_fit(Some(&used), (20000, 32000), &ask, &[], 0));
        assert!(
            !ports_fit(None, (20000, 32000), &ask, &[8080], 0),
            "the plan's own"
        );
        let dynamic = Ports {
            static_ports: vec![],
            dynamic: 2,
        };
        // A range of 5 ports: 2 + 2 fit, the third ask does not.
        assert!(ports_fit(None, (100, 104), &dynamic, &[], 2));
        assert!(!ports_fit(None, (100, 104), &dynamic, &[], 4));
        let s = NodePorts {
            statics: vec![101, 102],
            dynamic: 2,
        };
        assert!(
            !ports_fit(Some(&s), (100, 104), &dynamic, &[], 0),
            "statics in range count"
        );
    }
}
