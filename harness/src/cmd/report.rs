//! `stampede report` (not built yet).

/// Arguments of `stampede report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {}

/// Runs the command.
pub fn run(_args: ReportArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`stampede report` is not built yet")
}
