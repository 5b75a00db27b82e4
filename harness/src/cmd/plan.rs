//! `stampede plan` (not built yet).

/// Arguments of `stampede plan`.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {}

/// Runs the command.
pub fn run(_args: PlanArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`stampede plan` is not built yet")
}
