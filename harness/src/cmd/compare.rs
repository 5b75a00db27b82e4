//! `stampede compare` (not built yet).

/// Arguments of `stampede compare`.
#[derive(Debug, clap::Args)]
pub struct CompareArgs {}

/// Runs the command.
pub fn run(_args: CompareArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`stampede compare` is not built yet")
}
