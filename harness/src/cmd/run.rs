//! `stampede run` (not built yet).

/// Arguments of `stampede run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {}

/// Runs the command.
pub fn run(_args: RunArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`stampede run` is not built yet")
}
