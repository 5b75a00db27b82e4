//! `stampede provision` / `stampede teardown`: spot client capacity on EC2, safe by construction.
//!
//! The flags become a [`ProvisionSpec`], which the library resolves into a [`ProvisionPlan`] before any
//! call; the guardrails are checked against the plan's upper bounds; `--dry-run` prints the plan and stops. The AWS calls need the `aws` cargo feature; without it
//! everything up to the plan still works and a real call fails with [`crate::aws::NO_AWS_FEATURE`].

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::aws::plan::{validate_region, validate_run_id, ProvisionSpec, ResolvedProvision};
use crate::aws::ProvisionPlan;

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
    let ResolvedProvision {
        plan,
        guardrails: guard,
        amis,
    } = args.spec().resolve()?;
    if args.dry_run {
        if args.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&plan).context("serialising the plan")?
            );
        } else {
            print!("{}", plan.render());
        }
        plan.check(&guard)?;
        return Ok(0);
    }
    plan.check(&guard)?;
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
    real_provision(args, plan, amis, user_data)
}

#[cfg(not(feature = "aws"))]
fn real_provision(
    _args: ProvisionArgs,
    _plan: ProvisionPlan,
    _amis: std::collections::BTreeMap<String, String>,
    _user_data: Option<String>,
) -> anyhow::Result<u8> {
    bail!("{}", crate::aws::NO_AWS_FEATURE)
}

#[cfg(feature = "aws")]
fn real_provision(
    args: ProvisionArgs,
    plan: ProvisionPlan,
    amis: std::collections::BTreeMap<String, String>,
    user_data: Option<String>,
) -> anyhow::Result<u8> {
    use crate::aws::{AwsTarget, ProvisionRequest};
    let rt = tokio::runtime::Runtime::new().context("starting the tokio runtime")?;
    let req = ProvisionRequest {
        plan,
        ami: amis,
        user_data,
        asg: args.asg.clone(),
        state_dir: args.state_dir.clone(),
        target: AwsTarget {
            endpoint_url: args.endpoint_url.clone(),
        },
    };
    let fleet = rt.block_on(crate::aws::provision(&req))?;
    for r in &fleet.regions {
        let what = match (&r.fleet_id, &r.asg_name) {
            (Some(f), _) => format!("fleet {f}"),
            (None, Some(a)) => format!("ASG {a} desired {} GiB", r.target_gib),
            _ => String::new(),
        };
        eprintln!(
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
        );
    }
    eprintln!(
        "provisioned {} nodes in {} regions in {:.2} s; manifest {}",
        fleet.expected_nodes,
        fleet.regions.len(),
        fleet.provision_seconds,
        crate::aws::journal::manifest_path(&args.state_dir, &fleet.run_id).display()
    );
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&fleet).context("serialising the manifest")?
        );
    }
    if !args.no_wait {
        let addr = args.nomad_addr.as_deref().unwrap_or_default();
        let token = std::env::var("NOMAD_TOKEN").ok();
        let n = rt.block_on(crate::aws::wait_for_nodes(
            addr,
            token.as_deref(),
            fleet.expected_nodes,
            args.wait_timeout,
        ))?;
        eprintln!("{n} nodes ready at {addr}");
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
    use crate::aws::AwsTarget;
    let rt = tokio::runtime::Runtime::new().context("starting the tokio runtime")?;
    let target = AwsTarget {
        endpoint_url: args.endpoint_url.clone(),
    };
    let regions = (!args.regions.is_empty()).then_some(args.regions.as_slice());
    let rep = rt.block_on(crate::aws::teardown(
        &args.run_id,
        regions,
        &target,
        &args.state_dir,
    ))?;
    for w in &rep.warnings {
        eprintln!("warning: {w}");
    }
    for r in &rep.removed {
        eprintln!(
            "{}: terminated {} instances, deleted {} fleets, {} launch templates, {} ASGs",
            r.region,
            r.instances_terminated.len(),
            r.fleets_deleted.len(),
            r.launch_templates_deleted.len(),
            r.asgs_deleted.len()
        );
    }
    let (i, f, l, a) = rep.totals();
    eprintln!(
        "teardown of run {}: searched {} regions in {:.2} s; removed {i} instances, {f} fleets, {l} launch templates, {a} ASGs",
        rep.run_id,
        rep.regions_searched.len(),
        rep.seconds
    );
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rep).context("serialising the teardown report")?
        );
    }
    if !rep.remaining.is_empty() {
        let left: Vec<String> = rep.remaining.iter().map(|r| r.to_string()).collect();
        bail!(
            "teardown incomplete, still live: {}; run it again",
            left.join("; ")
        );
    }
    Ok(0)
}
