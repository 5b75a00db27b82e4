//! `stampede provision` / `stampede teardown`: spot client capacity on EC2, safe by construction.
//!
//! The flags become a [`ProvisionSpec`], which the library resolves into a [`ProvisionPlan`] before any
//! call; the guardrails are checked against the plan's upper bounds; `--dry-run` prints the plan and stops. The AWS calls need the `aws` cargo feature; without it
//! everything up to the plan still works and a real call fails with [`crate::aws::NO_AWS_FEATURE`].

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::aws::plan::{validate_region, validate_run_id, ProvisionSpec, ResolvedProvision};

/// Arguments of `stampede provision`.
#[derive(Debug, clap::Args)]
pub struct ProvisionArgs {
    /// Run id: tags every resource (`stampede:run-id`) and names the local state directory.
    #[arg(long)]
    pub run_id: String,
    /// Regions, comma-separated (e.g. `us-east-1,eu-west-1`).
    #[arg(long, value_delimiter = ',', required = true)]
    pub regions: Vec<String>,
    /// Client RAM to provision in EACH region, GiB (the fleet's target capacity; weights = GiB per type).
    #[arg(long)]
    pub capacity_gib: u32,
    /// Instance types, comma-separated: `TYPE` for types stampede knows, `TYPE:GiB` for others.
    #[arg(long, value_delimiter = ',', required = true)]
    pub instance_types: Vec<String>,
    /// AWS endpoint (emulators such as moto); the SDK also honours AWS_ENDPOINT_URL.
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    /// AMI: one id for every region, or `REGION=ami-…` pairs, comma-separated. Default: the newest own
    /// image named `stampede-nomad-client-*` (what packer/ builds).
    #[arg(long, value_delimiter = ',')]
    pub ami: Vec<String>,
    /// User-data file for the instances (e.g. the Nomad client bootstrap).
    #[arg(long)]
    pub user_data: Option<PathBuf>,
    /// Set this Terraform-made ASG's desired capacity (GiB units) instead of creating an EC2 Fleet; `{region}`
    /// in the name is replaced by the region.
    #[arg(long)]
    pub asg: Option<String>,
    /// Refuse if the plan could launch more instances than this (all regions).
    #[arg(long)]
    pub max_instances: Option<u32>,
    /// Refuse if the plan could cost more than this, USD per hour (all regions, spot prices).
    #[arg(long)]
    pub max_hourly_cost: Option<f64>,
    /// Print the plan (instances per region/type, USD/h) and create nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Price table overrides (CSV, same columns as the embedded table).
    #[arg(long)]
    pub prices: Option<PathBuf>,
    /// Do not wait for the nodes to register with Nomad.
    #[arg(long)]
    pub no_wait: bool,
    /// Nomad address to wait on (GET /v1/nodes).
    #[arg(long, env = "NOMAD_ADDR")]
    pub nomad_addr: Option<String>,
    /// How long to wait for the nodes (e.g. `15m`).
    #[arg(long, default_value = "15m", value_parser = super::parse_duration)]
    pub wait_timeout: Duration,
    /// Local state directory: the journal and manifest go to `<state-dir>/<run-id>/`.
    #[arg(long, default_value = ".stampede")]
    pub state_dir: PathBuf,
    /// Print the plan (dry run) or the manifest as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `stampede teardown`.
#[derive(Debug, clap::Args)]
pub struct TeardownArgs {
    /// Run id whose resources are deleted.
    #[arg(long)]
    pub run_id: String,
    /// Regions to search, comma-separated; default: every region EC2 reports, plus the journal's.
    #[arg(long, value_delimiter = ',')]
    pub regions: Vec<String>,
    /// AWS endpoint (emulators such as moto); the SDK also honours AWS_ENDPOINT_URL.
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    /// Local state directory holding `<run-id>/journal.jsonl`.
    #[arg(long, default_value = ".stampede")]
    pub state_dir: PathBuf,
    /// Print the teardown report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

impl ProvisionArgs {
    /// The flags as a library request.
    fn spec(&self) -> ProvisionSpec {
        ProvisionSpec {
            run_id: self.run_id.clone(),
            regions: self.regions.clone(),
            capacity_gib: self.capacity_gib,
            instance_types: self.instance_types.clone(),
            ami: self.ami.clone(),
            prices: self.prices.clone(),
            max_instances: self.max_instances,
            max_hourly_cost: self.max_hourly_cost,
        }
    }
}

/// Runs provision.
pub fn run_provision(args: ProvisionArgs) -> anyhow::Result<u8> {
    let resolved = args.spec().resolve()?;
    if args.dry_run {
        let plan = &resolved.plan;
        if args.json {
            println!(
                "{}",
                serde_json::to_string_pretty(plan).context("serialising the plan")?
            );
        } else {
            print!("{}", plan.render());
        }
        plan.check(&resolved.guardrails)?;
        return Ok(0);
    }
    resolved.plan.check(&resolved.guardrails)?;
    if !args.no_wait && args.nomad_addr.is_none() {
        bail!("give --nomad-addr (or NOMAD_ADDR) to wait for the nodes to register, or --no-wait");
    }
    let user_data = match &args.user_data {
        Some(p) => Some(
            std::fs::read_to_string(p)
                .with_context(|| format!("reading user data {}", p.display()))?,
        ),
        None => None,
    };
    real_provision(args, resolved, user_data)
}

#[cfg(not(feature = "aws"))]
fn real_provision(
    _args: ProvisionArgs,
    _resolved: ResolvedProvision,
    _user_data: Option<String>,
) -> anyhow::Result<u8> {
    bail!("{}", crate::aws::NO_AWS_FEATURE)
}

#[cfg(feature = "aws")]
fn real_provision(
    args: ProvisionArgs,
    resolved: ResolvedProvision,
    user_data: Option<String>,
) -> anyhow::Result<u8> {
    use crate::aws::session::{bring_up, FleetRequest, NodeWait};
    let req = FleetRequest {
        user_data,
        asg: args.asg.clone(),
        state_dir: args.state_dir.clone(),
        endpoint_url: args.endpoint_url.clone(),
        wait: match (&args.nomad_addr, args.no_wait) {
            (Some(addr), false) => Some(NodeWait {
                nomad_addr: addr.clone(),
                timeout: args.wait_timeout,
            }),
            _ => None,
        },
    };
    let up = bring_up(resolved, &req)?;
    for line in up.summary_lines(&args.state_dir) {
        eprintln!("{line}");
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&up.fleet).context("serialising the manifest")?
        );
    }
    if let (Some(n), Some(w)) = (up.ready_nodes, &req.wait) {
        eprintln!("{n} nodes ready at {}", w.nomad_addr);
    }
    Ok(0)
}

/// Runs teardown.
pub fn run_teardown(args: TeardownArgs) -> anyhow::Result<u8> {
    validate_run_id(&args.run_id)?;
    for r in &args.regions {
        validate_region(r)?;
    }
    real_teardown(args)
}

#[cfg(not(feature = "aws"))]
fn real_teardown(_args: TeardownArgs) -> anyhow::Result<u8> {
    bail!("{}", crate::aws::NO_AWS_FEATURE)
}

#[cfg(feature = "aws")]
fn real_teardown(args: TeardownArgs) -> anyhow::Result<u8> {
    let rep = crate::aws::session::tear_down(
        &args.run_id,
        &args.regions,
        args.endpoint_url.clone(),
        &args.state_dir,
    )?;
    for line in rep.summary_lines() {
        eprintln!("{line}");
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rep).context("serialising the teardown report")?
        );
    }
    rep.ensure_complete()?;
    Ok(0)
}
