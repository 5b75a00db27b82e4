//! The EC2 / Auto Scaling side (feature `aws`): provision, teardown, inventory and the interruption poller.
//!
//! Every resource is created with its `stampede:run-id` tag **in the create call itself** (TagSpecifications),
//! so no resource exists untagged even for an instant; the journal is written before each call. Teardown
//! therefore needs nothing but the run id: it searches every region by tag (plus launch-template names from
//! the journal) and deletes instances, fleets, launch templates and ASGs, idempotently.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use aws_config::{BehaviorVersion, Region};
use aws_sdk_ec2::error::DisplayErrorContext;
use aws_sdk_ec2::types::{
    DefaultTargetCapacityType, FleetLaunchTemplateConfigRequest,
    FleetLaunchTemplateOverridesRequest, FleetLaunchTemplateSpecificationRequest, FleetType,
    LaunchTemplateHttpTokensState, LaunchTemplateInstanceMetadataOptionsRequest,
    LaunchTemplateTagSpecificationRequest, RequestLaunchTemplateData, ResourceType,
    SpotAllocationStrategy, SpotOptionsRequest, Tag, TagSpecification,
    TargetCapacitySpecificationRequest,
};
use serde::{Deserialize, Serialize};
use stampede_sim::record::RunEvent;

use super::journal::{self, Journal};
use super::plan::{ProvisionPlan, RUN_ID_TAG};

/// Where and how to reach AWS.
#[derive(Debug, Clone, Default)]
pub struct AwsTarget {
    /// Endpoint override for emulators (moto, LocalStack); `None` = the SDK's default (which itself honours
    /// `AWS_ENDPOINT_URL`).
    pub endpoint_url: Option<String>,
}

/// The two service clients of one region.
#[derive(Debug, Clone)]
pub struct RegionClients {
    /// Region name.
    pub region: String,
    /// EC2 client.
    pub ec2: aws_sdk_ec2::Client,
    /// Auto Scaling client.
    pub asg: aws_sdk_autoscaling::Client,
}

impl AwsTarget {
    /// Clients for one region (credentials from the standard AWS chain).
    pub async fn clients(&self, region: &str) -> RegionClients {
        let mut loader =
            aws_config::defaults(BehaviorVersion::latest()).region(Region::new(region.to_string()));
        if let Some(u) = &self.endpoint_url {
            loader = loader.endpoint_url(u);
        }
        let conf = loader.load().await;
        RegionClients {
            region: region.to_string(),
            ec2: aws_sdk_ec2::Client::new(&conf),
            asg: aws_sdk_autoscaling::Client::new(&conf),
        }
    }

    fn describe(&self) -> String {
        self.endpoint_url
            .clone()
            .unwrap_or_else(|| "the default AWS endpoint".to_string())
    }

    /// Every region EC2 reports (DescribeRegions, asked in `home`).
    pub async fn all_regions(&self, home: &str) -> anyhow::Result<Vec<String>> {
        let c = self.clients(home).await;
        let out = c.ec2.describe_regions().send().await.map_err(|e| {
            anyhow!(
                "DescribeRegions at {}: {}",
                self.describe(),
                DisplayErrorContext(&e)
            )
        })?;
        let mut v: Vec<String> = out
            .regions()
            .iter()
            .filter_map(|r| r.region_name().map(str::to_string))
            .collect();
        v.sort();
        Ok(v)
    }
}

/// What to provision on top of the plan.
#[derive(Debug, Clone)]
pub struct ProvisionRequest {
    /// The validated plan (regions, capacity, types).
    pub plan: ProvisionPlan,
    /// AMI per region; a region missing here uses the newest own image named `stampede-nomad-client-*`.
    pub ami: BTreeMap<String, String>,
    /// User data (plain text; base64-encoded here), e.g. the Nomad client config bootstrap.
    pub user_data: Option<String>,
    /// Set the desired capacity of this Terraform-made ASG (`{region}` is replaced) instead of creating a fleet.
    pub asg: Option<String>,
    /// Local state directory (journal + manifest go to `<state_dir>/<run_id>/`).
    pub state_dir: PathBuf,
    /// AWS endpoint.
    pub target: AwsTarget,
}

/// One instance created by a fleet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisionedInstance {
    /// Instance id.
    pub id: String,
    /// Instance type.
    pub instance_type: String,
    /// `spot` or `on-demand`.
    pub lifecycle: String,
}

/// What was created in one region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProvisionedRegion {
    /// Region.
    pub region: String,
    /// Launch template id (fleet mode).
    pub launch_template_id: Option<String>,
    /// Launch template name (fleet mode).
    pub launch_template_name: Option<String>,
    /// EC2 Fleet id (fleet mode).
    pub fleet_id: Option<String>,
    /// ASG whose desired capacity was set (ASG mode).
    pub asg_name: Option<String>,
    /// Desired capacity, GiB (capacity units).
    pub target_gib: u32,
    /// Capacity actually launched, GiB (sum of the weights of the instances).
    pub launched_gib: u32,
    /// Instances launched (fleet mode; in ASG mode the ASG launches them asynchronously).
    pub instances: Vec<ProvisionedInstance>,
    /// Errors EC2 returned for parts of the fleet it could not fulfil (e.g. no spot capacity for a type).
    pub fleet_errors: Vec<String>,
}

/// The manifest: everything `provision` created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProvisionedFleet {
    /// Run id.
    pub run_id: String,
    /// When provisioning finished, ms since the Unix epoch.
    pub created_unix_ms: u64,
    /// Wall time of the create calls, seconds.
    pub provision_seconds: f64,
    /// One entry per region, in plan order.
    pub regions: Vec<ProvisionedRegion>,
    /// Nodes expected to register with Nomad (instances launched; ASG mode: the plan's expected count).
    pub expected_nodes: u32,
    /// The journal file.
    pub journal: PathBuf,
}

impl ProvisionedFleet {
    /// Every instance id of the run.
    pub fn instance_ids(&self) -> Vec<String> {
        self.regions
            .iter()
            .flat_map(|r| r.instances.iter().map(|i| i.id.clone()))
            .collect()
    }

    /// Regions of the run.
    pub fn region_names(&self) -> Vec<String> {
        self.regions.iter().map(|r| r.region.clone()).collect()
    }
}

fn run_tag(run_id: &str) -> Tag {
    Tag::builder().key(RUN_ID_TAG).value(run_id).build()
}

/// The run tag on resources of type `rt` created by a call.
fn run_tagged(rt: ResourceType, run_id: &str) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(rt)
        .tags(run_tag(run_id))
        .build()
}

/// The run tag on resources of type `rt` launched from a launch template.
fn run_tagged_by_template(rt: ResourceType, run_id: &str) -> LaunchTemplateTagSpecificationRequest {
    LaunchTemplateTagSpecificationRequest::builder()
        .resource_type(rt)
        .tags(run_tag(run_id))
        .build()
}

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= c.len() {
                s.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// Launch-template name of a run in a region.
pub fn launch_template_name(run_id: &str) -> String {
    format!("stampede-{run_id}-client")
}

async fn resolve_ami(c: &RegionClients, given: Option<&String>) -> anyhow::Result<String> {
    if let Some(a) = given {
        return Ok(a.clone());
    }
    let out = c
        .ec2
        .describe_images()
        .owners("self")
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("name")
                .values("stampede-nomad-client-*")
                .build(),
        )
        .send()
        .await
        .map_err(|e| {
            anyhow!(
                "DescribeImages in {}: {}",
                c.region,
                DisplayErrorContext(&e)
            )
        })?;
    let newest = out
        .images()
        .iter()
        .max_by_key(|i| i.creation_date().unwrap_or("").to_string());
    newest.and_then(|i| i.image_id().map(str::to_string)).with_context(|| {
        format!(
            "no AMI named stampede-nomad-client-* owned by this account in {}: build one with `packer build packer/` or pass --ami",
            c.region
        )
    })
}

/// Creates the client capacity of `req.plan` in every region (or sets the ASGs' desired capacity), journaling
/// before every create call, and writes the manifest. Refuses if the run id already has live resources.
pub async fn provision(req: &ProvisionRequest) -> anyhow::Result<ProvisionedFleet> {
    let plan = &req.plan;
    let run_id = plan.run_id.as_str();
    let regions: Vec<String> = plan.regions.iter().map(|r| r.region.clone()).collect();
    if req.asg.is_none() {
        let inv = inventory(run_id, &regions, &req.target).await?;
        let live: Vec<String> = inv
            .iter()
            .filter(|i| !i.is_empty())
            .map(|i| i.to_string())
            .collect();
        if !live.is_empty() {
            bail!(
                "run id {run_id} already has live resources ({}); run `stampede teardown --run-id {run_id}` or choose another run id",
                live.join("; ")
            );
        }
    }
    let mut journal = Journal::open(&journal::journal_path(&req.state_dir, run_id))?;
    journal.note(run_id, "intent", "run", "", None, &regions)?;
    let started = Instant::now();
    let mut out = Vec::new();
    for rp in &plan.regions {
        let c = req.target.clients(&rp.region).await;
        let region = rp.region.as_str();
        if let Some(asg_pat) = &req.asg {
            let name = asg_pat.replace("{region}", region);
            journal.note(run_id, "intent", "asg-desired", region, Some(&name), &[])?;
            let desired = i32::try_from(rp.target_gib).context("capacity too large for an ASG")?;
            c.asg
                .set_desired_capacity()
                .auto_scaling_group_name(&name)
                .desired_capacity(desired)
                .send()
                .await
                .map_err(|e| {
                    anyhow!(
                        "SetDesiredCapacity of ASG {name} in {region}: {}",
                        DisplayErrorContext(&e)
                    )
                })?;
            journal.note(run_id, "created", "asg-desired", region, Some(&name), &[])?;
            out.push(ProvisionedRegion {
                region: region.to_string(),
                launch_template_id: None,
                launch_template_name: None,
                fleet_id: None,
                asg_name: Some(name),
                target_gib: rp.target_gib,
                launched_gib: 0,
                instances: Vec::new(),
                fleet_errors: Vec::new(),
            });
            continue;
        }
        let ami = resolve_ami(&c, req.ami.get(region)).await?;
        let lt_name = launch_template_name(run_id);
        let mut data = RequestLaunchTemplateData::builder()
            .image_id(&ami)
            .metadata_options(
                LaunchTemplateInstanceMetadataOptionsRequest::builder()
                    .http_tokens(LaunchTemplateHttpTokensState::Required)
                    .build(),
            )
            .tag_specifications(run_tagged_by_template(ResourceType::Instance, run_id))
            .tag_specifications(run_tagged_by_template(ResourceType::Volume, run_id));
        if let Some(ud) = &req.user_data {
            data = data.user_data(base64(ud.as_bytes()));
        }
        journal.note(
            run_id,
            "intent",
            "launch-template",
            region,
            Some(&lt_name),
            &[],
        )?;
        let lt = c
            .ec2
            .create_launch_template()
            .launch_template_name(&lt_name)
            .launch_template_data(data.build())
            .tag_specifications(run_tagged(ResourceType::LaunchTemplate, run_id))
            .send()
            .await
            .map_err(|e| {
                anyhow!(
                    "CreateLaunchTemplate {lt_name} in {region}: {}",
                    DisplayErrorContext(&e)
                )
            })?;
        let lt_id = lt
            .launch_template()
            .and_then(|t| t.launch_template_id())
            .with_context(|| format!("CreateLaunchTemplate in {region} returned no id"))?
            .to_string();
        journal.note(
            run_id,
            "created",
            "launch-template",
            region,
            Some(&lt_name),
            std::slice::from_ref(&lt_id),
        )?;

        let mut cfg = FleetLaunchTemplateConfigRequest::builder().launch_template_specification(
            FleetLaunchTemplateSpecificationRequest::builder()
                .launch_template_id(&lt_id)
                .version("$Latest")
                .build(),
        );
        for t in &plan.instance_types {
            cfg = cfg.overrides(
                FleetLaunchTemplateOverridesRequest::builder()
                    .instance_type(t.instance_type.as_str().into())
                    .weighted_capacity(f64::from(t.weight_gib))
                    .build(),
            );
        }
        let target = i32::try_from(rp.target_gib).context("capacity too large for a fleet")?;
        journal.note(run_id, "intent", "fleet", region, None, &[])?;
        let fleet = c
            .ec2
            .create_fleet()
            .r#type(FleetType::Instant)
            .launch_template_configs(cfg.build())
            .target_capacity_specification(
                TargetCapacitySpecificationRequest::builder()
                    .total_target_capacity(target)
                    .spot_target_capacity(target)
                    .default_target_capacity_type(DefaultTargetCapacityType::Spot)
                    .build(),
            )
            .spot_options(
                SpotOptionsRequest::builder()
                    .allocation_strategy(SpotAllocationStrategy::CapacityOptimized)
                    .build(),
            )
            .tag_specifications(run_tagged(ResourceType::Fleet, run_id))
            .tag_specifications(run_tagged(ResourceType::Instance, run_id))
            .send()
            .await
            .map_err(|e| {
                anyhow!(
                    "CreateFleet (instant, spot) in {region}: {}",
                    DisplayErrorContext(&e)
                )
            })?;
        let fleet_id = fleet.fleet_id().map(str::to_string);
        let mut instances = Vec::new();
        for fi in fleet.instances() {
            let ty = fi
                .instance_type()
                .map(|t| t.as_str().to_string())
                .unwrap_or_default();
            let lc = fi
                .lifecycle()
                .map(|l| l.as_str().to_string())
                .unwrap_or_else(|| "spot".into());
            for id in fi.instance_ids() {
                instances.push(ProvisionedInstance {
                    id: id.clone(),
                    instance_type: ty.clone(),
                    lifecycle: lc.clone(),
                });
            }
        }
        let mut ids: Vec<String> = fleet_id.iter().cloned().collect();
        ids.extend(instances.iter().map(|i| i.id.clone()));
        journal.note(run_id, "created", "fleet", region, None, &ids)?;
        let fleet_errors = fleet
            .errors()
            .iter()
            .map(|e| {
                format!(
                    "{}: {}",
                    e.error_code().unwrap_or("?"),
                    e.error_message().unwrap_or("")
                )
            })
            .collect();
        let launched_gib = instances
            .iter()
            .map(|i| {
                plan.instance_types
                    .iter()
                    .find(|t| t.instance_type == i.instance_type)
                    .map_or(0, |t| t.weight_gib)
            })
            .sum();
        out.push(ProvisionedRegion {
            region: region.to_string(),
            launch_template_id: Some(lt_id),
            launch_template_name: Some(lt_name),
            fleet_id,
            asg_name: None,
            target_gib: rp.target_gib,
            launched_gib,
            instances,
            fleet_errors,
        });
    }
    let expected_nodes = if req.asg.is_some() {
        plan.expected_instances
    } else {
        out.iter().map(|r| r.instances.len() as u32).sum()
    };
    let fleet = ProvisionedFleet {
        run_id: run_id.to_string(),
        created_unix_ms: journal::now_unix_ms(),
        provision_seconds: started.elapsed().as_secs_f64(),
        regions: out,
        expected_nodes,
        journal: journal.path().to_path_buf(),
    };
    write_manifest(&journal::manifest_path(&req.state_dir, run_id), &fleet)?;
    Ok(fleet)
}

/// Writes the manifest atomically (temp file + fsync + rename).
pub fn write_manifest(path: &Path, fleet: &ProvisionedFleet) -> anyhow::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_string_pretty(fleet).context("serialising the manifest")?;
    let mut f =
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", tmp.display()))?;
    f.sync_all()
        .with_context(|| format!("fsyncing {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    Ok(())
}

/// Live resources of a run in one region.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionInventory {
    /// Region.
    pub region: String,
    /// Instances not (yet) terminated: pending, running, stopping, stopped; ids.
    pub instances: Vec<String>,
    /// Instances in shutting-down (going away), ids.
    pub shutting_down: Vec<String>,
    /// Fleets not deleted, ids.
    pub fleets: Vec<String>,
    /// Launch templates, ids.
    pub launch_templates: Vec<String>,
    /// Auto Scaling groups, names.
    pub asgs: Vec<String>,
}

impl RegionInventory {
    /// True when nothing of the run is left (shutting-down instances count as gone).
    pub fn is_empty(&self) -> bool {
        self.instances.is_empty()
            && self.fleets.is_empty()
            && self.launch_templates.is_empty()
            && self.asgs.is_empty()
    }
}

impl std::fmt::Display for RegionInventory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} instances, {} fleets, {} launch templates, {} ASGs",
            self.region,
            self.instances.len(),
            self.fleets.len(),
            self.launch_templates.len(),
            self.asgs.len()
        )
    }
}

fn has_run_tag<'a>(
    mut tags: impl Iterator<Item = (Option<&'a str>, Option<&'a str>)>,
    run_id: &str,
) -> bool {
    tags.any(|(k, v)| k == Some(RUN_ID_TAG) && v == Some(run_id))
}

/// Instances of the run in a region with their state name and state-reason code.
async fn run_instances(
    c: &RegionClients,
    run_id: &str,
) -> anyhow::Result<Vec<(String, String, String)>> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let r = c
            .ec2
            .describe_instances()
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name(format!("tag:{RUN_ID_TAG}"))
                    .values(run_id)
                    .build(),
            )
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| {
                anyhow!(
                    "DescribeInstances in {}: {}",
                    c.region,
                    DisplayErrorContext(&e)
                )
            })?;
        for res in r.reservations() {
            for i in res.instances() {
                // Double-check the tag: an emulator or a future filter change must never widen what we delete.
                if !has_run_tag(i.tags().iter().map(|t| (t.key(), t.value())), run_id) {
                    continue;
                }
                let id = i.instance_id().unwrap_or_default().to_string();
                let state = i
                    .state()
                    .and_then(|s| s.name())
                    .map(|n| n.as_str().to_string())
                    .unwrap_or_default();
                let reason = i
                    .state_reason()
                    .and_then(|s| s.code())
                    .unwrap_or("")
                    .to_string();
                out.push((id, state, reason));
            }
        }
        token = r.next_token().filter(|t| !t.is_empty()).map(str::to_string);
        if token.is_none() {
            return Ok(out);
        }
    }
}

async fn region_inventory(
    c: &RegionClients,
    run_id: &str,
    lt_names: &BTreeSet<String>,
) -> anyhow::Result<RegionInventory> {
    let mut inv = RegionInventory {
        region: c.region.clone(),
        ..Default::default()
    };
    for (id, state, _) in run_instances(c, run_id).await? {
        match state.as_str() {
            "terminated" => {}
            "shutting-down" => inv.shutting_down.push(id),
            _ => inv.instances.push(id),
        }
    }
    let mut token = None;
    loop {
        let r = c
            .ec2
            .describe_fleets()
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| {
                anyhow!(
                    "DescribeFleets in {}: {}",
                    c.region,
                    DisplayErrorContext(&e)
                )
            })?;
        for f in r.fleets() {
            let state = f
                .fleet_state()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default();
            if state.starts_with("deleted") {
                continue;
            }
            if has_run_tag(f.tags().iter().map(|t| (t.key(), t.value())), run_id) {
                inv.fleets
                    .push(f.fleet_id().unwrap_or_default().to_string());
            }
        }
        token = r.next_token().filter(|t| !t.is_empty()).map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    let mut token = None;
    loop {
        let r = c
            .ec2
            .describe_launch_templates()
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| {
                anyhow!(
                    "DescribeLaunchTemplates in {}: {}",
                    c.region,
                    DisplayErrorContext(&e)
                )
            })?;
        for t in r.launch_templates() {
            let tagged = has_run_tag(t.tags().iter().map(|t| (t.key(), t.value())), run_id);
            let named = t
                .launch_template_name()
                .is_some_and(|n| lt_names.contains(n));
            if tagged || named {
                inv.launch_templates
                    .push(t.launch_template_id().unwrap_or_default().to_string());
            }
        }
        token = r.next_token().filter(|t| !t.is_empty()).map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    let mut token = None;
    loop {
        let r = c
            .asg
            .describe_auto_scaling_groups()
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| {
                anyhow!(
                    "DescribeAutoScalingGroups in {}: {}",
                    c.region,
                    DisplayErrorContext(&e)
                )
            })?;
        for g in r.auto_scaling_groups() {
            if has_run_tag(g.tags().iter().map(|t| (t.key(), t.value())), run_id) {
                inv.asgs
                    .push(g.auto_scaling_group_name().unwrap_or_default().to_string());
            }
        }
        token = r.next_token().filter(|t| !t.is_empty()).map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    Ok(inv)
}

/// Live resources of a run in each region (instances by the tag filter, the rest by listing and matching the
/// tag; launch templates also by the run's name).
pub async fn inventory(
    run_id: &str,
    regions: &[String],
    target: &AwsTarget,
) -> anyhow::Result<Vec<RegionInventory>> {
    let names: BTreeSet<String> = [launch_template_name(run_id)].into();
    let mut out = Vec::new();
    for r in regions {
        let c = target.clients(r).await;
        out.push(region_inventory(&c, run_id, &names).await?);
    }
    Ok(out)
}

/// What teardown removed in one region, and what is left.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionTeardown {
    /// Region.
    pub region: String,
    /// Instances terminated, ids.
    pub instances_terminated: Vec<String>,
    /// Fleets deleted, ids.
    pub fleets_deleted: Vec<String>,
    /// Launch templates deleted, ids.
    pub launch_templates_deleted: Vec<String>,
    /// ASGs deleted (force, with their instances), names.
    pub asgs_deleted: Vec<String>,
}

/// The teardown report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TeardownReport {
    /// Run id.
    pub run_id: String,
    /// Regions searched.
    pub regions_searched: Vec<String>,
    /// Regions where something was removed.
    pub removed: Vec<RegionTeardown>,
    /// What a final re-listing still found (empty when the teardown is complete).
    pub remaining: Vec<RegionInventory>,
    /// Wall time, seconds.
    pub seconds: f64,
    /// Warnings (e.g. a torn journal line).
    pub warnings: Vec<String>,
}

impl TeardownReport {
    /// Total resources removed: (instances, fleets, launch templates, ASGs).
    pub fn totals(&self) -> (usize, usize, usize, usize) {
        self.removed.iter().fold((0, 0, 0, 0), |a, r| {
            (
                a.0 + r.instances_terminated.len(),
                a.1 + r.fleets_deleted.len(),
                a.2 + r.launch_templates_deleted.len(),
                a.3 + r.asgs_deleted.len(),
            )
        })
    }
}

/// Deletes everything tagged with `run_id` in `regions` (or, when `None`, in every region EC2 reports plus the
/// journal's), idempotently, and re-lists to report what remains. Writes `teardown` entries to the journal.
pub async fn teardown(
    run_id: &str,
    regions: Option<&[String]>,
    target: &AwsTarget,
    state_dir: &Path,
) -> anyhow::Result<TeardownReport> {
    super::plan::validate_run_id(run_id)?;
    let started = Instant::now();
    let jpath = journal::journal_path(state_dir, run_id);
    let (entries, warning) = journal::read(&jpath)?;
    let mut lt_names: BTreeSet<String> = [launch_template_name(run_id)].into();
    let mut journal_regions = BTreeSet::new();
    for e in &entries {
        if e.run_id != run_id {
            continue;
        }
        if !e.region.is_empty() {
            journal_regions.insert(e.region.clone());
        }
        if e.kind == "run" {
            journal_regions.extend(e.ids.iter().cloned());
        }
        if e.kind == "launch-template" {
            if let Some(n) = &e.name {
                lt_names.insert(n.clone());
            }
        }
    }
    let mut search: BTreeSet<String> = match regions {
        Some(r) => r.iter().cloned().collect(),
        None => {
            let home = journal_regions
                .iter()
                .next()
                .cloned()
                .unwrap_or_else(|| "us-east-1".to_string());
            target.all_regions(&home).await?.into_iter().collect()
        }
    };
    search.extend(journal_regions);
    let mut journal = Journal::open(&jpath)?;
    journal.note(
        run_id,
        "teardown",
        "run",
        "",
        None,
        &search.iter().cloned().collect::<Vec<_>>(),
    )?;
    let mut removed = Vec::new();
    for region in &search {
        let c = target.clients(region).await;
        let inv = region_inventory(&c, run_id, &lt_names).await?;
        let mut rt = RegionTeardown {
            region: region.clone(),
            ..Default::default()
        };
        for name in &inv.asgs {
            c.asg
                .delete_auto_scaling_group()
                .auto_scaling_group_name(name)
                .force_delete(true)
                .send()
                .await
                .map_err(|e| {
                    anyhow!(
                        "DeleteAutoScalingGroup {name} in {region}: {}",
                        DisplayErrorContext(&e)
                    )
                })?;
            rt.asgs_deleted.push(name.clone());
        }
        if !inv.fleets.is_empty() {
            for chunk in inv.fleets.chunks(25) {
                c.ec2
                    .delete_fleets()
                    .set_fleet_ids(Some(chunk.to_vec()))
                    .terminate_instances(true)
                    .send()
                    .await
                    .map_err(|e| {
                        anyhow!("DeleteFleets in {region}: {}", DisplayErrorContext(&e))
                    })?;
            }
            rt.fleets_deleted = inv.fleets.clone();
        }
        // Terminate whatever is left running (fleet deletion may already have done it; terminating a
        // terminated instance is a no-op, so this is idempotent).
        let live: Vec<String> = run_instances(&c, run_id)
            .await?
            .into_iter()
            .filter(|(_, s, _)| s != "terminated" && s != "shutting-down")
            .map(|(id, _, _)| id)
            .collect();
        let mut terminated: BTreeSet<String> = inv.instances.iter().cloned().collect();
        terminated.extend(live.iter().cloned());
        for chunk in live.chunks(500) {
            c.ec2
                .terminate_instances()
                .set_instance_ids(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| {
                    anyhow!(
                        "TerminateInstances in {region}: {}",
                        DisplayErrorContext(&e)
                    )
                })?;
        }
        rt.instances_terminated = terminated.into_iter().collect();
        for id in &inv.launch_templates {
            match c
                .ec2
                .delete_launch_template()
                .launch_template_id(id)
                .send()
                .await
            {
                Ok(_) => rt.launch_templates_deleted.push(id.clone()),
                Err(e) => {
                    let msg = DisplayErrorContext(&e).to_string();
                    if !msg.contains("NotFound") {
                        bail!("DeleteLaunchTemplate {id} in {region}: {msg}");
                    }
                }
            }
        }
        let any = !(rt.instances_terminated.is_empty()
            && rt.fleets_deleted.is_empty()
            && rt.launch_templates_deleted.is_empty()
            && rt.asgs_deleted.is_empty());
        if any {
            let mut ids = rt.instances_terminated.clone();
            ids.extend(rt.fleets_deleted.iter().cloned());
            ids.extend(rt.launch_templates_deleted.iter().cloned());
            ids.extend(rt.asgs_deleted.iter().cloned());
            journal.note(run_id, "removed", "region", region, None, &ids)?;
            removed.push(rt);
        }
    }
    let regions_searched: Vec<String> = search.into_iter().collect();
    let mut remaining = Vec::new();
    for r in &removed {
        let c = target.clients(&r.region).await;
        let inv = region_inventory(&c, run_id, &lt_names).await?;
        if !inv.is_empty() {
            remaining.push(inv);
        }
    }
    Ok(TeardownReport {
        run_id: run_id.to_string(),
        regions_searched,
        removed,
        remaining,
        seconds: started.elapsed().as_secs_f64(),
        warnings: warning.into_iter().collect(),
    })
}

/// Watches a run's instances for ones that went away without our teardown (spot interruptions).
#[derive(Debug)]
pub struct InterruptionPoller {
    run_id: String,
    regions: Vec<String>,
    target: AwsTarget,
    run_start: Instant,
    reported: BTreeSet<String>,
    stopped: bool,
}

impl InterruptionPoller {
    /// A poller for the run's instances in `regions`; event times are measured from `run_start` (the record's
    /// t = 0).
    pub fn new(
        run_id: &str,
        regions: &[String],
        target: AwsTarget,
        run_start: Instant,
    ) -> InterruptionPoller {
        InterruptionPoller {
            run_id: run_id.to_string(),
            regions: regions.to_vec(),
            target,
            run_start,
            reported: BTreeSet::new(),
            stopped: false,
        }
    }

    /// Call before our own teardown starts: later polls return nothing.
    pub fn stop(&mut self) {
        self.stopped = true;
    }
}

/// One poll: every instance of the run now in `shutting-down`/`terminated` that was not reported before
/// becomes a `spot_interruption` [`RunEvent`] (node id = instance id; detail = region, state and EC2's
/// state-reason code, e.g. `Server.SpotInstanceTermination`). Returns nothing once [`InterruptionPoller::stop`]
/// was called.
pub async fn poll_interruptions(p: &mut InterruptionPoller) -> anyhow::Result<Vec<RunEvent>> {
    let mut out = Vec::new();
    if p.stopped {
        return Ok(out);
    }
    for region in &p.regions {
        let c = p.target.clients(region).await;
        for (id, state, reason) in run_instances(&c, &p.run_id).await? {
            if (state == "shutting-down" || state == "terminated") && p.reported.insert(id.clone())
            {
                out.push(RunEvent {
                    t_ns: p.run_start.elapsed().as_nanos() as u64,
                    kind: "spot_interruption".to_string(),
                    node_id: Some(id),
                    detail: format!(
                        "{region}: instance {state} ({})",
                        if reason.is_empty() {
                            "no reason given"
                        } else {
                            &reason
                        }
                    ),
                });
            }
        }
    }
    Ok(out)
}

/// Waits until Nomad reports at least `expected` ready, eligible client nodes (GET `{addr}/v1/nodes`), polling
/// every 2 s, up to `timeout`. Returns the count seen.
pub async fn wait_for_nodes(
    addr: &str,
    token: Option<&str>,
    expected: u32,
    timeout: Duration,
) -> anyhow::Result<u32> {
    let url = format!("{}/v1/nodes", addr.trim_end_matches('/'));
    let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(10));
    if let Ok(ca) = std::env::var("NOMAD_CACERT") {
        let pem = std::fs::read(&ca).with_context(|| format!("reading NOMAD_CACERT {ca}"))?;
        builder = builder.add_root_certificate(
            reqwest::Certificate::from_pem(&pem)
                .with_context(|| format!("NOMAD_CACERT {ca} is not a PEM certificate"))?,
        );
    }
    let http = builder.build().context("building the HTTP client")?;
    let deadline = Instant::now() + timeout;
    let mut last = 0;
    loop {
        let mut rq = http.get(&url);
        if let Some(t) = token {
            rq = rq.header("X-Nomad-Token", t);
        }
        match rq.send().await {
            Ok(resp) if resp.status().is_success() => {
                let nodes: serde_json::Value = resp
                    .json()
                    .await
                    .with_context(|| format!("GET {url}: not JSON"))?;
                let arr = nodes
                    .as_array()
                    .with_context(|| format!("GET {url}: expected a JSON array"))?;
                last = arr
                    .iter()
                    .filter(|n| {
                        n["Status"] == "ready" && n["SchedulingEligibility"] != "ineligible"
                    })
                    .count() as u32;
                if last >= expected {
                    return Ok(last);
                }
            }
            Ok(resp) => bail!("GET {url}: HTTP {}", resp.status()),
            Err(e) if Instant::now() < deadline => eprintln!("GET {url}: {e}; retrying"),
            Err(e) => return Err(e).with_context(|| format!("GET {url}")),
        }
        if Instant::now() >= deadline {
            bail!(
                "timed out after {:?}: {last} of {expected} nodes ready at {url}",
                timeout
            );
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }
}
