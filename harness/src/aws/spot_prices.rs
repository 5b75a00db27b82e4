//! Live spot prices (`--live-prices`): DescribeSpotPriceHistory for each (instance type, region), the median
//! over availability zones of each zone's latest Linux/UNIX price.

use std::collections::BTreeMap;

use anyhow::{bail, Context};

use super::ec2::AwsTarget;

/// Latest spot price, USD per instance-hour, for every `(instance type, region)` asked.
pub async fn live_spot_prices(
    target: &AwsTarget,
    pairs: &[(String, String)],
) -> anyhow::Result<BTreeMap<(String, String), f64>> {
    let mut by_region: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (t, r) in pairs {
        by_region.entry(r.as_str()).or_default().push(t.as_str());
    }
    let mut out = BTreeMap::new();
    for (region, mut types) in by_region {
        types.sort_unstable();
        types.dedup();
        let c = target.clients(region).await;
        let mut req = c
            .ec2
            .describe_spot_price_history()
            .product_descriptions("Linux/UNIX")
            .max_results(1000);
        for t in &types {
            req = req.instance_types(aws_sdk_ec2::types::InstanceType::from(*t));
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("DescribeSpotPriceHistory in {region}"))?;
        // Latest price per (type, zone).
        let mut latest: BTreeMap<(String, String), (i64, f64)> = BTreeMap::new();
        for h in resp.spot_price_history() {
            let (Some(t), Some(p)) = (h.instance_type(), h.spot_price()) else {
                continue;
            };
            let Ok(price) = p.parse::<f64>() else {
                continue;
            };
            let zone = h.availability_zone().unwrap_or("").to_string();
            let ts = h.timestamp().map(|d| d.secs()).unwrap_or(0);
            let e = latest
                .entry((t.as_str().to_string(), zone))
                .or_insert((ts, price));
            if ts >= e.0 {
                *e = (ts, price);
            }
        }
        for t in types {
            let mut zone_prices: Vec<f64> = latest
                .iter()
                .filter(|((ty, _), _)| ty == t)
                .map(|(_, v)| v.1)
                .collect();
            if zone_prices.is_empty() {
                bail!("no spot price history for {t} in {region}");
            }
            zone_prices.sort_by(f64::total_cmp);
            out.insert(
                (t.to_string(), region.to_string()),
                zone_prices[zone_prices.len() / 2],
            );
        }
    }
    Ok(out)
}
