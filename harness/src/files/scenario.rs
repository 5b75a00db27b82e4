//! The one scenario loader: read a TOML file, apply `--set KEY=VALUE` overrides, validate it into a
//! [`Scenario`], apply `--scale`.

use std::path::Path;

use anyhow::{Context, Result};
use stampede_sim::scenario::Scenario;

/// Reads and validates a scenario file; errors name the file (and the line and key, from the validator).
pub fn read_scenario(path: &Path) -> Result<Scenario> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading scenario {}", path.display()))?;
    Ok(Scenario::from_toml(&path.display().to_string(), &text)?)
}

/// Reads a scenario file with `--scale` applied (1.0: as written).
pub fn load_scenario(path: &Path, scale: f64) -> Result<Scenario> {
    load_scenario_with(path, scale, &[])
}

/// Reads a scenario file with `--set` overrides (see [`Scenario::from_toml_with_overrides`]) and `--scale`.
pub fn load_scenario_with(path: &Path, scale: f64, sets: &[(String, String)]) -> Result<Scenario> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading scenario {}", path.display()))?;
    let sc = Scenario::from_toml_with_overrides(&path.display().to_string(), &text, sets)?;
    if scale != 1.0 {
        return sc
            .scaled(scale)
            .map_err(|e| anyhow::anyhow!("--scale: {e}"));
    }
    Ok(sc)
}

/// Parses a `--set KEY=VALUE` flag.
pub fn parse_set(s: &str) -> std::result::Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
        _ => Err(format!(
            "`{s}`: expected KEY=VALUE, e.g. plan_apply_pipeline=8 or cluster.nomad_version=2.0.5"
        )),
    }
}
