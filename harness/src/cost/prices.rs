//! The EC2 price table: on-demand and typical spot prices per instance type and region.
//!
//! The committed table is `harness/data/prices.csv` (dated, with its sources in its header); a user
//! overrides it with a CSV of the same columns. Interruption rates come from Spot-Advisor-style buckets.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context};

/// The table compiled into the binary.
pub const EMBEDDED_CSV: &str = include_str!("../../data/prices.csv");
/// Date of the embedded table.
pub const EMBEDDED_DATE: &str = "2026-11-22";

/// Prices of one instance type in one region.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    /// On-demand, USD per instance-hour.
    pub on_demand: f64,
    /// Typical spot, USD per instance-hour.
    pub spot: f64,
    /// Spot interruptions per instance per month (fraction), the midpoint of the Spot-Advisor bucket.
    pub interruption_rate_per_month: f64,
}

/// Spot-Advisor interruption-frequency buckets → a representative monthly rate (the bucket midpoint;
/// `>20%` is taken as 25%).
pub fn bucket_rate(bucket: &str) -> Option<f64> {
    Some(match bucket.trim() {
        "<5%" => 0.025,
        "5-10%" => 0.075,
        "10-15%" => 0.125,
        "15-20%" => 0.175,
        ">20%" => 0.25,
        _ => return None,
    })
}

/// A price table keyed by (instance type, region).
#[derive(Debug, Clone, Default)]
pub struct PriceTable {
    /// Where the table came from (`embedded 2026-11-22` or a path).
    pub source: String,
    prices: BTreeMap<(String, String), Price>,
}

impl PriceTable {
    /// The committed table.
    pub fn embedded() -> PriceTable {
        Self::parse(EMBEDDED_CSV, &format!("embedded table of {EMBEDDED_DATE}"))
            .expect("embedded price table parses")
    }

    /// Reads a table from a CSV file (same columns as the embedded one).
    pub fn from_file(path: &Path) -> anyhow::Result<PriceTable> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading price table {}", path.display()))?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Embedded table overlaid with a user's CSV (rows in the user's file win).
    pub fn embedded_with_overrides(path: Option<&Path>) -> anyhow::Result<PriceTable> {
        let mut t = Self::embedded();
        if let Some(p) = path {
            let user = Self::from_file(p)?;
            t.prices.extend(user.prices);
            t.source = format!("{} overridden by {}", t.source, user.source);
        }
        Ok(t)
    }

    /// Parses CSV text: `instance_type,region,on_demand_usd_per_h,spot_usd_per_h,interruption_bucket`;
    /// `#` lines are comments. Errors name `origin` and the line.
    pub fn parse(text: &str, origin: &str) -> anyhow::Result<PriceTable> {
        let mut prices = BTreeMap::new();
        let mut header = false;
        for (i, line) in text.lines().enumerate() {
            let ln = i + 1;
            let t = line.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            let f: Vec<&str> = t.split(',').map(str::trim).collect();
            if !header {
                if f != [
                    "instance_type",
                    "region",
                    "on_demand_usd_per_h",
                    "spot_usd_per_h",
                    "interruption_bucket",
                ] {
                    bail!("{origin}:{ln}: expected header `instance_type,region,on_demand_usd_per_h,spot_usd_per_h,interruption_bucket`");
                }
                header = true;
                continue;
            }
            if f.len() != 5 {
                bail!("{origin}:{ln}: expected 5 columns, found {}", f.len());
            }
            let num = |s: &str, col: &str| -> anyhow::Result<f64> {
                match s.parse::<f64>() {
                    Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
                    _ => bail!("{origin}:{ln}: column `{col}`: `{s}` is not a non-negative number"),
                }
            };
            let on_demand = num(f[2], "on_demand_usd_per_h")?;
            let spot = num(f[3], "spot_usd_per_h")?;
            let rate = bucket_rate(f[4]).with_context(|| {
                format!("{origin}:{ln}: column `interruption_bucket`: `{}` is not one of <5%, 5-10%, 10-15%, 15-20%, >20%", f[4])
            })?;
            prices.insert(
                (f[0].to_string(), f[1].to_string()),
                Price {
                    on_demand,
                    spot,
                    interruption_rate_per_month: rate,
                },
            );
        }
        if !header {
            bail!("{origin}: no header line");
        }
        Ok(PriceTable {
            source: origin.to_string(),
            prices,
        })
    }

    /// Prices of a type in a region.
    pub fn get(&self, instance_type: &str, region: &str) -> Option<Price> {
        self.prices
            .get(&(instance_type.to_string(), region.to_string()))
            .copied()
    }

    /// Prices of a type in a region, or an error naming what is missing.
    pub fn require(&self, instance_type: &str, region: &str) -> anyhow::Result<Price> {
        self.get(instance_type, region).with_context(|| {
            format!("no price for {instance_type} in {region} in the price table ({}); add a row with --prices FILE", self.source)
        })
    }

    /// Sets (or replaces) one entry, e.g. from live spot prices.
    pub fn set(&mut self, instance_type: &str, region: &str, price: Price) {
        self.prices
            .insert((instance_type.to_string(), region.to_string()), price);
    }

    /// Every (type, region) in the table.
    pub fn entries(&self) -> impl Iterator<Item = (&(String, String), &Price)> {
        self.prices.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_has_the_c2m_and_monorepo_types() {
        let t = PriceTable::embedded();
        for ty in [
            "m4.xlarge",
            "m5.2xlarge",
            "m5a.4xlarge",
            "t3.xlarge",
            "t3a.2xlarge",
            "i3.2xlarge",
            "i3.16xlarge",
            "m5.4xlarge",
        ] {
            let p = t.require(ty, "us-east-1").unwrap();
            assert!(p.spot < p.on_demand, "{ty}");
        }
        assert!(
            t.get("m5.xlarge", "eu-central-1").unwrap().on_demand
                > t.get("m5.xlarge", "us-east-1").unwrap().on_demand
        );
    }

    #[test]
    fn embedded_prices_every_server_candidate_in_every_region() {
        let t = PriceTable::embedded();
        let regions: std::collections::BTreeSet<&str> =
            t.entries().map(|((_, r), _)| r.as_str()).collect();
        assert_eq!(regions.len(), 10, "{regions:?}");
        for ty in [
            "c5.xlarge",
            "c5.2xlarge",
            "c5.4xlarge",
            "c6i.2xlarge",
            "c6i.4xlarge",
            "c6i.8xlarge",
            "m5.2xlarge",
            "m5.4xlarge",
            "m6i.4xlarge",
            "r5.2xlarge",
            "i3.4xlarge",
            "i3.8xlarge",
            "i3.16xlarge",
            "i4i.4xlarge",
        ] {
            assert!(
                stampede_sim::instances::lookup(ty).is_some(),
                "{ty} is in the instance table"
            );
            for r in &regions {
                let p = t.require(ty, r).unwrap();
                assert!(p.spot < p.on_demand && p.on_demand > 0.0, "{ty} {r}");
            }
        }
        // Twice the instance, twice the price (c6i doubles linearly within the family).
        let od = |ty: &str| t.require(ty, "us-east-1").unwrap().on_demand;
        assert_eq!(od("c6i.8xlarge"), 2.0 * od("c6i.4xlarge"));
        assert_eq!(od("c6i.4xlarge"), 2.0 * od("c6i.2xlarge"));
        assert_eq!(od("c5.2xlarge"), 2.0 * od("c5.xlarge"));
    }

    #[test]
    fn bad_rows_name_the_line() {
        let e = PriceTable::parse("instance_type,region,on_demand_usd_per_h,spot_usd_per_h,interruption_bucket\nm5.xlarge,us-east-1,abc,0.1,<5%\n", "p.csv").unwrap_err();
        assert_eq!(
            e.to_string(),
            "p.csv:2: column `on_demand_usd_per_h`: `abc` is not a non-negative number"
        );
        assert!(PriceTable::parse("a,b\n", "p.csv").is_err());
        assert!(PriceTable::parse("instance_type,region,on_demand_usd_per_h,spot_usd_per_h,interruption_bucket\nx,y,1,1,often\n", "p.csv").is_err());
    }
}
