//! `stampede emulate` (not built yet).

/// Arguments of `stampede emulate`.
#[derive(Debug, clap::Args)]
pub struct EmulateArgs {}

/// Runs the command.
pub fn run(_args: EmulateArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`stampede emulate` is not built yet")
}
