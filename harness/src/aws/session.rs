//! Whole provisioning sessions: what `stampede provision`, `stampede teardown` and `stampede run --provision`
//! share, as library calls (the CLI only parses flags into a [`FleetRequest`] and prints the summaries).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use super::ec2::{AwsTarget, ProvisionRequest, ProvisionedFleet, TeardownReport};
use super::plan::{validate_region, validate_run_id, ResolvedProvision};

/// Wait for the fleet's nodes to register with Nomad.
#[derive(Debug, Clone)]
pub struct NodeWait {
    /// Nomad HTTP address (`GET /v1/nodes`).
    pub nomad_addr: String,
    /// Give up after this long.
    pub timeout: Duration,
}

/// Everything a provisioning needs besides the resolved plan.
#[derive(Debug, Clone)]
pub struct FleetRequest {
    /// User data for the instances (e.g. the Nomad client bootstrap).
    pub user_data: Option<String>,
    /// Scale this Terraform-made ASG instead of creating an EC2 Fleet (`{region}` is replaced).
    pub asg: Option<String>,
    /// Local state directory: journal and manifest under `<state_dir>/<run_id>/`.
    pub state_dir: PathBuf,
    /// AWS endpoint override (emulators such as moto).
    pub endpoint_url: Option<String>,
    /// Wait for the nodes, or not.
    pub wait: Option<NodeWait>,
}

/// A provisioned fleet and, when waited for, the ready nodes Nomad reported.
#[derive(Debug, Clone)]
pub struct FleetUp {
    /// The manifest.
    pub fleet: ProvisionedFleet,
    /// Ready, eligible nodes seen at the Nomad address (when waited for).
    pub ready_nodes: Option<u32>,
}

impl FleetUp {
    /// One line per region and a total, for the terminal.
    pub fn summary_lines(&self, state_dir: &std::path::Path) -> Vec<String> {
        let fleet = &self.fleet;
        let mut out: Vec<String> = fleet
            .regions
            .iter()
            .map(|r| {
                let what = match (&r.fleet_id, &r.asg_name) {
                    (Some(f), _) => format!("fleet {f}"),
                    (None, Some(a)) => format!("ASG {a} desired {} GiB", r.target_gib),
                    _ => String::new(),
                };
                format!(
                    "{}: {what}: {} instances, {} of {} GiB{}",
                    r.region,
                    r.instances.len(),
                    r.launched_gib,
                    r.target_gib,
                    if r.fleet_errors.is_empty() {
                        String::new()
                    } else {
                        format!("; errors: {}", r.fleet_errors.join("; "))
                    }
                )
            })
            .collect();
        out.push(format!(
            "provisioned {} nodes in {} regions in {:.2} s; manifest {}",
            fleet.expected_nodes,
            fleet.regions.len(),
            fleet.provision_seconds,
            super::journal::manifest_path(state_dir, &fleet.run_id).display()
        ));
        out
    }
}

/// Checks the guardrails against the plan's upper bounds, provisions, then (if asked) waits for the nodes.
/// Blocking: runs its own tokio runtime. The token for the wait comes from `NOMAD_TOKEN` and is never logged.
pub fn bring_up(resolved: ResolvedProvision, req: &FleetRequest) -> anyhow::Result<FleetUp> {
    let ResolvedProvision {
        plan,
        guardrails,
        amis,
    } = resolved;
    plan.check(&guardrails)?;
    let rt = tokio::runtime::Runtime::new().context("starting the tokio runtime")?;
    let preq = ProvisionRequest {
        plan,
        ami: amis,
        user_data: req.user_data.clone(),
        asg: req.asg.clone(),
        state_dir: req.state_dir.clone(),
        target: AwsTarget {
            endpoint_url: req.endpoint_url.clone(),
        },
    };
    let fleet = rt.block_on(super::ec2::provision(&preq))?;
    let ready_nodes = match &req.wait {
        None => None,
        Some(w) => {
            let token = std::env::var("NOMAD_TOKEN").ok();
            Some(rt.block_on(super::ec2::wait_for_nodes(
                &w.nomad_addr,
                token.as_deref(),
                fleet.expected_nodes,
                w.timeout,
            ))?)
        }
    };
    Ok(FleetUp { fleet, ready_nodes })
}

/// Deletes everything tagged with `run_id` (in `regions`, or everywhere EC2 reports when empty) and returns
/// the report; [`TeardownReport::ensure_complete`] turns leftovers into an error. Blocking.
pub fn tear_down(
    run_id: &str,
    regions: &[String],
    endpoint_url: Option<String>,
    state_dir: &std::path::Path,
) -> anyhow::Result<TeardownReport> {
    validate_run_id(run_id)?;
    for r in regions {
        validate_region(r)?;
    }
    let rt = tokio::runtime::Runtime::new().context("starting the tokio runtime")?;
    let target = AwsTarget { endpoint_url };
    let regions = (!regions.is_empty()).then_some(regions);
    rt.block_on(super::ec2::teardown(run_id, regions, &target, state_dir))
}

impl TeardownReport {
    /// Warnings, one line per region with removals, and a total, for the terminal.
    pub fn summary_lines(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .warnings
            .iter()
            .map(|w| format!("warning: {w}"))
            .collect();
        for r in &self.removed {
            out.push(format!(
                "{}: terminated {} instances, deleted {} fleets, {} launch templates, {} ASGs",
                r.region,
                r.instances_terminated.len(),
                r.fleets_deleted.len(),
                r.launch_templates_deleted.len(),
                r.asgs_deleted.len()
            ));
        }
        let (i, f, l, a) = self.totals();
        out.push(format!(
            "teardown of run {}: searched {} regions in {:.2} s; removed {i} instances, {f} fleets, {l} launch templates, {a} ASGs",
            self.run_id,
            self.regions_searched.len(),
            self.seconds
        ));
        out
    }

    /// An error naming what is still live, if anything is.
    pub fn ensure_complete(&self) -> anyhow::Result<()> {
        if self.remaining.is_empty() {
            return Ok(());
        }
        let left: Vec<String> = self.remaining.iter().map(|r| r.to_string()).collect();
        anyhow::bail!(
            "teardown incomplete, still live: {}; run it again",
            left.join("; ")
        )
    }
}
