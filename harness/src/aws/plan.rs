//! The typed provisioning plan: client capacity per region, the instance-count and cost bounds the
//! guardrails check, and its rendering for `--dry-run`. Pure: no AWS call, compiled with or without the
//! `aws` feature.
//!
//! ## Sizing
//! An EC2 Fleet (or a Terraform-made ASG) is asked for `target_gib` **capacity units per region**, each
//! instance type weighted by its GiB of RAM. Capacity-optimized allocation picks the types, so the plan
//! cannot know the exact mix; it gives, per type, what a fleet of only that type would be, an *expected*
//! figure (the cheapest type per GiB), and *bounds* that hold for any mix:
//! - instances ≤ ⌈target / smallest weight⌉ (every instance adds at least the smallest weight, and the
//!   fleet stops launching once the target is reached);
//! - USD/h ≤ (target + largest weight − 1) × the highest spot price per GiB (the weights launched sum to at
//!   most the target plus one instance's overshoot).
//!
//! The guardrails (`--max-instances`, `--max-hourly-cost`) are checked against the bounds, so a request
//! that *could* exceed the budget is refused before any call is made.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use crate::cost::prices::PriceTable;

/// The tag every resource of a run carries; its value is the run id.
pub const RUN_ID_TAG: &str = "stampede:run-id";

/// GiB of RAM of the instance types stampede knows by name (Linux, current generation). Other types are
/// given as `TYPE:GiB` on the command line.
pub const KNOWN_TYPES_GIB: &[(&str, u32)] = &[
    ("c5.2xlarge", 16),
    ("c5.4xlarge", 32),
    ("c6i.4xlarge", 32),
    ("i3.xlarge", 30),
    ("i3.2xlarge", 61),
    ("i3.4xlarge", 122),
    ("i3.8xlarge", 244),
    ("i3.16xlarge", 488),
    ("m4.xlarge", 16),
    ("m4.2xlarge", 32),
    ("m4.4xlarge", 64),
    ("m5.large", 8),
    ("m5.xlarge", 16),
    ("m5.2xlarge", 32),
    ("m5.4xlarge", 64),
    ("m5.8xlarge", 128),
    ("m5a.xlarge", 16),
    ("m5a.2xlarge", 32),
    ("m5a.4xlarge", 64),
    ("m6i.2xlarge", 32),
    ("m6i.4xlarge", 64),
    ("r5.2xlarge", 64),
    ("t3.xlarge", 16),
    ("t3.2xlarge", 32),
    ("t3a.xlarge", 16),
    ("t3a.2xlarge", 32),
];

/// One instance type of the fleet and its weight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceChoice {
    /// EC2 instance type, e.g. `m5.xlarge`.
    pub instance_type: String,
    /// Weight = GiB of RAM of one instance (capacity units).
    pub weight_gib: u32,
}

impl InstanceChoice {
    /// Parses `TYPE` (a known type) or `TYPE:GiB`.
    pub fn parse(s: &str) -> anyhow::Result<InstanceChoice> {
        let s = s.trim();
        let (ty, gib) = match s.split_once(':') {
            Some((t, g)) => {
                let gib: u32 = g.trim().parse().ok().filter(|g| *g > 0).with_context(|| {
                    format!("instance type `{s}`: `{g}` is not a positive number of GiB")
                })?;
                (t.trim(), gib)
            }
            None => {
                let gib = KNOWN_TYPES_GIB.iter().find(|(t, _)| *t == s).map(|(_, g)| *g).with_context(|| {
                    format!("instance type `{s}`: its GiB of RAM is not known to stampede; give it as `{s}:GiB`")
                })?;
                (s, gib)
            }
        };
        let valid = ty.split_once('.').is_some_and(|(fam, size)| {
            !fam.is_empty()
                && !size.is_empty()
                && ty
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        });
        if !valid {
            bail!("instance type `{ty}` is not of the form FAMILY.SIZE (e.g. m5.xlarge)");
        }
        Ok(InstanceChoice {
            instance_type: ty.to_string(),
            weight_gib: gib,
        })
    }
}

/// Checks a run id: 1 to 40 characters of `a-z`, `0-9` and `-`, starting with a letter or digit (it goes into
/// resource names and tag values).
pub fn validate_run_id(id: &str) -> anyhow::Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 40
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !id.starts_with('-');
    if !ok {
        bail!("run id `{id}` is invalid: use 1-40 characters of a-z, 0-9 and `-`, not starting with `-`");
    }
    Ok(())
}

/// Checks a region name (`us-east-1`, `eu-west-1`, `ap-southeast-2`, …).
pub fn validate_region(r: &str) -> anyhow::Result<()> {
    let parts: Vec<&str> = r.split('-').collect();
    let ok = parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()));
    if !ok {
        bail!("region `{r}` is not an AWS region name like us-east-1");
    }
    Ok(())
}

/// One instance type in one region of the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TypeLine {
    /// EC2 instance type.
    pub instance_type: String,
    /// Weight, GiB of RAM per instance.
    pub weight_gib: u32,
    /// Typical spot price, USD per instance-hour (price table).
    pub spot_usd_per_h: f64,
    /// Spot price per GiB of RAM, USD per GiB-hour.
    pub spot_usd_per_gib_h: f64,
    /// Instances if the fleet were filled with this type only.
    pub instances_if_only: u32,
    /// Cost if the fleet were filled with this type only, USD per hour.
    pub usd_per_h_if_only: f64,
}

/// The plan of one region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegionPlan {
    /// AWS region.
    pub region: String,
    /// Target capacity, GiB of client RAM (fleet capacity units).
    pub target_gib: u32,
    /// Each allowed instance type.
    pub types: Vec<TypeLine>,
    /// The type with the lowest spot price per GiB: the expected mix if spot capacity is equal everywhere.
    pub expected_type: String,
    /// Instances of the expected type.
    pub expected_instances: u32,
    /// Cost of the expected fleet, USD per hour.
    pub expected_usd_per_h: f64,
    /// Upper bound on instances for any mix.
    pub max_instances: u32,
    /// Upper bound on cost for any mix, USD per hour.
    pub max_usd_per_h: f64,
}

/// What `stampede provision` will create, with its bounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProvisionPlan {
    /// Run id (the `stampede:run-id` tag value).
    pub run_id: String,
    /// Instance types and weights, in the order given.
    pub instance_types: Vec<InstanceChoice>,
    /// One entry per region, in the order given.
    pub regions: Vec<RegionPlan>,
    /// Where the prices came from.
    pub price_source: String,
    /// Expected instances over all regions.
    pub expected_instances: u32,
    /// Expected cost over all regions, USD per hour.
    pub expected_usd_per_h: f64,
    /// Upper bound on instances over all regions.
    pub max_instances: u32,
    /// Upper bound on cost over all regions, USD per hour.
    pub max_usd_per_h: f64,
}

/// Budget limits; `None` = no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Guardrails {
    /// Refuse plans whose instance bound is above this.
    pub max_instances: Option<u32>,
    /// Refuse plans whose cost bound is above this, USD per hour.
    pub max_hourly_cost: Option<f64>,
}

impl ProvisionPlan {
    /// Builds the plan: `capacity_gib` of client RAM in **each** region.
    pub fn build(
        run_id: &str,
        regions: &[String],
        capacity_gib: u32,
        types: &[InstanceChoice],
        prices: &PriceTable,
    ) -> anyhow::Result<ProvisionPlan> {
        validate_run_id(run_id)?;
        if regions.is_empty() {
            bail!("no region given (--regions)");
        }
        if types.is_empty() {
            bail!("no instance type given (--instance-types)");
        }
        if capacity_gib == 0 {
            bail!("--capacity-gib must be at least 1");
        }
        for (i, r) in regions.iter().enumerate() {
            validate_region(r)?;
            if regions[..i].contains(r) {
                bail!("region `{r}` is given twice");
            }
        }
        for (i, t) in types.iter().enumerate() {
            if types[..i]
                .iter()
                .any(|o| o.instance_type == t.instance_type)
            {
                bail!("instance type `{}` is given twice", t.instance_type);
            }
        }
        let mut out = Vec::new();
        for region in regions {
            let mut lines = Vec::new();
            for t in types {
                let p = prices.require(&t.instance_type, region)?;
                let n = capacity_gib.div_ceil(t.weight_gib);
                lines.push(TypeLine {
                    instance_type: t.instance_type.clone(),
                    weight_gib: t.weight_gib,
                    spot_usd_per_h: p.spot,
                    spot_usd_per_gib_h: p.spot / f64::from(t.weight_gib),
                    instances_if_only: n,
                    usd_per_h_if_only: f64::from(n) * p.spot,
                });
            }
            let cheapest = lines
                .iter()
                .min_by(|a, b| a.spot_usd_per_gib_h.total_cmp(&b.spot_usd_per_gib_h))
                .expect("at least one type");
            let min_w = types.iter().map(|t| t.weight_gib).min().unwrap_or(1);
            let max_w = types.iter().map(|t| t.weight_gib).max().unwrap_or(1);
            let max_rate = lines
                .iter()
                .map(|l| l.spot_usd_per_gib_h)
                .fold(0.0, f64::max);
            out.push(RegionPlan {
                region: region.clone(),
                target_gib: capacity_gib,
                expected_type: cheapest.instance_type.clone(),
                expected_instances: cheapest.instances_if_only,
                expected_usd_per_h: cheapest.usd_per_h_if_only,
                max_instances: capacity_gib.div_ceil(min_w),
                max_usd_per_h: f64::from(capacity_gib + max_w - 1) * max_rate,
                types: lines,
            });
        }
        Ok(ProvisionPlan {
            run_id: run_id.to_string(),
            instance_types: types.to_vec(),
            expected_instances: out.iter().map(|r| r.expected_instances).sum(),
            expected_usd_per_h: out.iter().map(|r| r.expected_usd_per_h).sum(),
            max_instances: out.iter().map(|r| r.max_instances).sum(),
            max_usd_per_h: out.iter().map(|r| r.max_usd_per_h).sum(),
            regions: out,
            price_source: prices.source.clone(),
        })
    }

    /// Refuses a plan whose bounds exceed the guardrails (with both figures in the message).
    pub fn check(&self, g: &Guardrails) -> anyhow::Result<()> {
        if let Some(max) = g.max_instances {
            if self.max_instances > max {
                bail!(
                    "refusing to provision: up to {} instances could be launched (expected {}), over --max-instances {max}",
                    self.max_instances,
                    self.expected_instances
                );
            }
        }
        if let Some(max) = g.max_hourly_cost {
            if self.max_usd_per_h > max {
                bail!(
                    "refusing to provision: the fleet could cost up to {:.2} USD/h (expected {:.2} USD/h), over --max-hourly-cost {max:.2}",
                    self.max_usd_per_h,
                    self.expected_usd_per_h
                );
            }
        }
        Ok(())
    }

    /// Human-readable plan (the `--dry-run` output).
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "provision plan for run {} (spot, capacity-optimized, weights = GiB of RAM)",
            self.run_id
        );
        let _ = writeln!(s, "prices: {}", self.price_source);
        for r in &self.regions {
            let _ = writeln!(s, "\n{}: {} GiB of client RAM", r.region, r.target_gib);
            let _ = writeln!(
                s,
                "  {:<14} {:>6} {:>10} {:>12} {:>10} {:>10}",
                "type", "GiB", "spot $/h", "$/GiB-h", "if only", "$/h"
            );
            for t in &r.types {
                let _ = writeln!(
                    s,
                    "  {:<14} {:>6} {:>10.4} {:>12.5} {:>10} {:>10.2}",
                    t.instance_type,
                    t.weight_gib,
                    t.spot_usd_per_h,
                    t.spot_usd_per_gib_h,
                    t.instances_if_only,
                    t.usd_per_h_if_only
                );
            }
            let _ = writeln!(
                s,
                "  expected: {} x {} = {:.2} USD/h; bound: <= {} instances, <= {:.2} USD/h",
                r.expected_instances,
                r.expected_type,
                r.expected_usd_per_h,
                r.max_instances,
                r.max_usd_per_h
            );
        }
        let _ =
            writeln!(
            s,
            "\ntotal: expected {} instances, {:.2} USD/h; bound <= {} instances, <= {:.2} USD/h",
            self.expected_instances, self.expected_usd_per_h, self.max_instances, self.max_usd_per_h
        );
        s
    }
}

/// A provisioning request as the user states it (`stampede provision` flags, `run --provision`, a test),
/// before validation: strings as typed, nothing resolved.
#[derive(Debug, Clone, Default)]
pub struct ProvisionSpec {
    /// Run id (validated by [`validate_run_id`]).
    pub run_id: String,
    /// Regions as given; surrounding spaces are trimmed.
    pub regions: Vec<String>,
    /// Client RAM to provision in each region, GiB.
    pub capacity_gib: u32,
    /// Instance types: `TYPE` (known to stampede) or `TYPE:GiB` ([`InstanceChoice::parse`]).
    pub instance_types: Vec<String>,
    /// AMI values: one `ami-…` for every region or `REGION=ami-…` pairs ([`ami_map`]).
    pub ami: Vec<String>,
    /// Price table overrides (CSV) on top of the embedded table.
    pub prices: Option<PathBuf>,
    /// Guardrail: most instances the plan may launch (all regions).
    pub max_instances: Option<u32>,
    /// Guardrail: most USD per hour the plan may cost (all regions, spot prices).
    pub max_hourly_cost: Option<f64>,
}

/// A validated [`ProvisionSpec`]: the plan, its guardrails and the AMI chosen per region (regions without
/// one use the newest own `stampede-nomad-client-*` image).
#[derive(Debug, Clone)]
pub struct ResolvedProvision {
    /// The plan (capacity, instance and cost bounds per region).
    pub plan: ProvisionPlan,
    /// The budget the plan is checked against ([`ProvisionPlan::check`]).
    pub guardrails: Guardrails,
    /// Region → AMI id.
    pub amis: BTreeMap<String, String>,
}

impl ProvisionSpec {
    /// Validates the request into a plan. No IO but reading the price-table overrides; the guardrails are
    /// *not* checked here (a dry run prints the plan first), see [`ProvisionPlan::check`].
    pub fn resolve(&self) -> anyhow::Result<ResolvedProvision> {
        let types = self
            .instance_types
            .iter()
            .map(|t| InstanceChoice::parse(t))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let prices = PriceTable::embedded_with_overrides(self.prices.as_deref())?;
        let regions: Vec<String> = self.regions.iter().map(|r| r.trim().to_string()).collect();
        let plan =
            ProvisionPlan::build(&self.run_id, &regions, self.capacity_gib, &types, &prices)?;
        if let Some(c) = self.max_hourly_cost {
            if !c.is_finite() || c < 0.0 {
                bail!("--max-hourly-cost {c} must be a non-negative number of USD per hour");
            }
        }
        let amis = ami_map(&self.ami, &regions)?;
        Ok(ResolvedProvision {
            plan,
            guardrails: Guardrails {
                max_instances: self.max_instances,
                max_hourly_cost: self.max_hourly_cost,
            },
            amis,
        })
    }
}

/// `--ami` values into a region → AMI map: `ami-…` applies to every one of `regions`, `REGION=ami-…` to
/// that region (a later value overrides an earlier one for the same region).
pub fn ami_map(values: &[String], regions: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut m = BTreeMap::new();
    for v in values {
        let v = v.trim();
        match v.split_once('=') {
            Some((r, a)) => {
                validate_region(r)?;
                if !a.starts_with("ami-") {
                    bail!("--ami {v}: `{a}` is not an AMI id (ami-…)");
                }
                m.insert(r.to_string(), a.to_string());
            }
            None => {
                if !v.starts_with("ami-") {
                    bail!("--ami {v}: not an AMI id (ami-…) nor REGION=ami-…");
                }
                for r in regions {
                    m.insert(r.clone(), v.to_string());
                }
            }
        }
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn types(s: &[&str]) -> Vec<InstanceChoice> {
        s.iter()
            .map(|t| InstanceChoice::parse(t).unwrap())
            .collect()
    }

    #[test]
    fn sizing_and_bounds() {
        let p = PriceTable::embedded();
        let regions = vec!["us-east-1".to_string(), "eu-west-1".to_string()];
        let plan = ProvisionPlan::build(
            "r1",
            &regions,
            960,
            &types(&["m5.xlarge", "m5.2xlarge"]),
            &p,
        )
        .unwrap();
        let r = &plan.regions[0];
        assert_eq!(r.types[0].instances_if_only, 60);
        assert_eq!(r.types[1].instances_if_only, 30);
        assert_eq!(r.max_instances, 60);
        let rate = r
            .types
            .iter()
            .map(|t| t.spot_usd_per_gib_h)
            .fold(0.0, f64::max);
        assert!((r.max_usd_per_h - 991.0 * rate).abs() < 1e-9);
        assert!(r.expected_usd_per_h <= r.max_usd_per_h);
        assert_eq!(plan.max_instances, 120);
        // Uneven division rounds up.
        let plan =
            ProvisionPlan::build("r1", &regions[..1], 100, &types(&["m5.2xlarge"]), &p).unwrap();
        assert_eq!(plan.regions[0].max_instances, 4);
    }

    #[test]
    fn guardrails_refuse_over_budget() {
        let p = PriceTable::embedded();
        let plan = ProvisionPlan::build(
            "r1",
            &["us-east-1".to_string()],
            960,
            &types(&["m5.xlarge", "m5.2xlarge"]),
            &p,
        )
        .unwrap();
        let e = plan
            .check(&Guardrails {
                max_instances: Some(59),
                max_hourly_cost: None,
            })
            .unwrap_err();
        assert!(e.to_string().contains("up to 60 instances"), "{e}");
        assert!(plan
            .check(&Guardrails {
                max_instances: Some(60),
                max_hourly_cost: None
            })
            .is_ok());
        let e = plan
            .check(&Guardrails {
                max_instances: None,
                max_hourly_cost: Some(0.5),
            })
            .unwrap_err();
        assert!(e.to_string().contains("--max-hourly-cost 0.50"), "{e}");
        assert!(plan
            .check(&Guardrails {
                max_instances: None,
                max_hourly_cost: Some(plan.max_usd_per_h)
            })
            .is_ok());
    }

    #[test]
    fn bad_inputs_are_named() {
        assert!(InstanceChoice::parse("x9.huge")
            .unwrap_err()
            .to_string()
            .contains("x9.huge:GiB"));
        assert_eq!(InstanceChoice::parse("x9.huge:48").unwrap().weight_gib, 48);
        assert!(InstanceChoice::parse("m5.xlarge:0").is_err());
        assert!(InstanceChoice::parse("BAD:4").is_err());
        assert!(validate_run_id("Bad_Id").is_err());
        assert!(validate_run_id("").is_err());
        assert!(validate_run_id("c2m-2026-11-22").is_ok());
        assert!(validate_region("us-east-1").is_ok());
        assert!(validate_region("useast1").is_err());
        let p = PriceTable::embedded();
        let e = ProvisionPlan::build("r", &["us-east-1".into()], 10, &types(&["x9.huge:4"]), &p)
            .unwrap_err();
        assert!(
            e.to_string().contains("no price for x9.huge in us-east-1"),
            "{e}"
        );
        let e = ProvisionPlan::build(
            "r",
            &["us-east-1".into(), "us-east-1".into()],
            10,
            &types(&["m5.xlarge"]),
            &p,
        )
        .unwrap_err();
        assert!(e.to_string().contains("twice"));
    }

    #[test]
    fn ami_forms() {
        let regions = vec!["us-east-1".to_string(), "eu-west-1".to_string()];
        let m = ami_map(&["ami-1".into()], &regions).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m["eu-west-1"], "ami-1");
        let m = ami_map(&["ami-1".into(), "us-east-1=ami-2".into()], &regions).unwrap();
        assert_eq!(m["us-east-1"], "ami-2");
        assert_eq!(m["eu-west-1"], "ami-1");
        let e = ami_map(&["xyz".into()], &regions).unwrap_err().to_string();
        assert!(e.contains("--ami xyz"), "{e}");
        let e = ami_map(&["us-east-1=xyz".into()], &regions)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`xyz` is not an AMI id"), "{e}");
        assert!(ami_map(&["narnia=ami-3".into()], &regions).is_err());
    }

    fn spec() -> ProvisionSpec {
        ProvisionSpec {
            run_id: "r1".into(),
            regions: vec!["us-east-1".into(), " eu-west-1".into()],
            capacity_gib: 960,
            instance_types: vec!["m5.xlarge".into(), "m5.2xlarge".into()],
            ami: vec!["ami-1".into()],
            ..Default::default()
        }
    }

    #[test]
    fn spec_resolves_with_trimmed_regions_for_plan_and_amis() {
        let r = spec().resolve().unwrap();
        let regions: Vec<&str> = r.plan.regions.iter().map(|p| p.region.as_str()).collect();
        assert_eq!(regions, ["us-east-1", "eu-west-1"]);
        // The AMI map is keyed like the plan (an untrimmed key would miss the region).
        assert_eq!(
            r.amis.keys().collect::<Vec<_>>(),
            ["eu-west-1", "us-east-1"]
        );
        assert_eq!(r.guardrails, Guardrails::default());
        assert_eq!(r.plan.regions[0].types[0].instances_if_only, 60);
    }

    #[test]
    fn spec_refuses_bad_inputs_before_any_call() {
        let bad_cost = ProvisionSpec {
            max_hourly_cost: Some(f64::NAN),
            ..spec()
        };
        let e = bad_cost.resolve().unwrap_err().to_string();
        assert!(e.contains("--max-hourly-cost"), "{e}");
        let bad_type = ProvisionSpec {
            instance_types: vec!["zz.huge".into()],
            ..spec()
        };
        assert!(bad_type.resolve().is_err());
        let bad_id = ProvisionSpec {
            run_id: "Bad_Id".into(),
            ..spec()
        };
        assert!(bad_id.resolve().unwrap_err().to_string().contains("run id"));
        let missing_prices = ProvisionSpec {
            prices: Some("/nonexistent/prices.csv".into()),
            ..spec()
        };
        let e = format!("{:#}", missing_prices.resolve().unwrap_err());
        assert!(e.contains("/nonexistent/prices.csv"), "{e}");
        let guarded = ProvisionSpec {
            max_instances: Some(1),
            ..spec()
        };
        let r = guarded.resolve().unwrap();
        assert!(r.plan.check(&r.guardrails).is_err());
    }
}
