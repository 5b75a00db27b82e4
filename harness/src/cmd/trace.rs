//! `stampede trace` (not built yet).

/// Arguments of `stampede trace`.
#[derive(Debug, clap::Args)]
pub struct TraceArgs {}

/// Runs the command.
pub fn run(_args: TraceArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`stampede trace` is not built yet")
}
