//! Parameter values by name, applied through the same serde path as a scenario's `[params]` table: the
//! parameters are serialised, the named keys replaced, and the result deserialised and range-checked by
//! `ModelParams::validate`. A parameter added to `sim/src/params.rs` is reachable here with no change.

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Result};
use stampede_sim::params::ModelParams;

/// The value of parameter `name` in `p`, as `f64` (`None`: no such parameter).
pub fn get(p: &ModelParams, name: &str) -> Option<f64> {
    p.values()
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// Whether `name` is a parameter of the model.
pub fn exists(name: &str) -> bool {
    ModelParams::NAMES.contains(&name)
}

/// `p` with the named values replaced. Integer parameters are rounded to the nearest integer. Errors name
/// the parameter (unknown name, or a value `ModelParams::validate` refuses).
pub fn apply(p: &ModelParams, values: &BTreeMap<String, f64>) -> Result<ModelParams> {
    let mut v = serde_json::to_value(p).map_err(|e| anyhow!("serialising parameters: {e}"))?;
    let obj = v
        .as_object_mut()
        .ok_or_else(|| anyhow!("parameters do not serialise to a table"))?;
    for (name, &x) in values {
        let Some(slot) = obj.get_mut(name) else {
            bail!(
                "`{name}` is not a model parameter (see sim/src/params.rs or sim/CALIBRATION.md for the names)"
            );
        };
        if !x.is_finite() {
            bail!("parameter `{name}`: {x} is not a finite number");
        }
        *slot = if slot.is_u64() || slot.is_i64() {
            if x < 0.0 {
                bail!("parameter `{name}`: {x} must not be negative");
            }
            serde_json::Value::from(x.round() as u64)
        } else {
            serde_json::Value::from(x)
        };
    }
    let out: ModelParams =
        serde_json::from_value(v).map_err(|e| anyhow!("applying parameter values: {e}"))?;
    out.validate()
        .map_err(|(name, msg)| anyhow!("parameter `{name}`: {msg}"))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_by_name_and_refuses_unknown_or_bad_values() {
        let p = ModelParams::default();
        let mut m = BTreeMap::new();
        m.insert("raft_fsync_median_us".to_string(), 1234.6);
        m.insert("driver_start_sigma".to_string(), 0.7);
        let q = apply(&p, &m).unwrap();
        assert_eq!(q.raft_fsync_median_us, 1235);
        assert_eq!(q.driver_start_sigma, 0.7);
        assert_eq!(get(&q, "raft_fsync_median_us"), Some(1235.0));
        m.insert("no_such_param".into(), 1.0);
        assert!(apply(&p, &m)
            .unwrap_err()
            .to_string()
            .contains("`no_such_param` is not a model parameter"));
        let mut bad = BTreeMap::new();
        bad.insert("driver_start_sigma".to_string(), 50.0);
        assert!(apply(&p, &bad)
            .unwrap_err()
            .to_string()
            .contains("driver_start_sigma"));
    }

    #[test]
    fn every_table_row_is_a_parameter_within_its_bounds() {
        let p = ModelParams::default();
        for r in super::super::table::TABLE {
            let d = get(&p, r.name).unwrap_or_else(|| {
                panic!(
                    "calibrate table row `{}` is not in ModelParams: rename or drop the row",
                    r.name
                )
            });
            assert!(r.lo > 0.0 && r.lo < r.hi, "{}: bounds", r.name);
            // 0 means "from the storage class" (the fit starts from the class's figure).
            let d = if r.name == "raft_fsync_median_us" && d == 0.0 {
                350.0
            } else {
                d
            };
            assert!(
                (r.lo..=r.hi).contains(&d),
                "{}: default {d} outside the fit bounds {}..={}",
                r.name,
                r.lo,
                r.hi
            );
            let mut m = BTreeMap::new();
            m.insert(r.name.to_string(), r.lo);
            apply(&p, &m).unwrap();
            m.insert(r.name.to_string(), r.hi);
            apply(&p, &m).unwrap();
        }
    }
}
