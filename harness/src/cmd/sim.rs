//! `stampede sim` (being built).

/// Arguments of `stampede sim`.
#[derive(Debug, clap::Args)]
pub struct SimArgs {}

/// Runs the command.
pub fn run(_args: SimArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`stampede sim` is not built yet")
}
