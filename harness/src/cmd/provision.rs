//! `stampede provision` / `stampede teardown` (not built yet).

/// Arguments of `stampede provision`.
#[derive(Debug, clap::Args)]
pub struct ProvisionArgs {}

/// Arguments of `stampede teardown`.
#[derive(Debug, clap::Args)]
pub struct TeardownArgs {}

/// Runs provision.
pub fn run_provision(_args: ProvisionArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`stampede provision` is not built yet")
}

/// Runs teardown.
pub fn run_teardown(_args: TeardownArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`stampede teardown` is not built yet")
}
