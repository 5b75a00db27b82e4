//! The one scenario loader: read a TOML file, validate it into a [`Scenario`], apply `--scale`.

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
    let sc = read_scenario(path)?;
    if scale != 1.0 {
        return sc
            .scaled(scale)
            .map_err(|e| anyhow::anyhow!("--scale: {e}"));
    }
    Ok(sc)
}
