//! `stampede bench` (not built yet).

/// Arguments of `stampede bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {}

/// Runs the command.
pub fn run(_args: BenchArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`stampede bench` is not built yet")
}
