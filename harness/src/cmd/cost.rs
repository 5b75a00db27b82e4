//! `stampede cost` (not built yet).

/// Arguments of `stampede cost`.
#[derive(Debug, clap::Args)]
pub struct CostArgs {}

/// Runs the command.
pub fn run(_args: CostArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`stampede cost` is not built yet")
}
