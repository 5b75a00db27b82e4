//! `stampede run-worker` (hidden): one generator of `stampede run --as-nomad-job N`, run by Nomad
//! ([`crate::distrib::flood`]).

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::nomad::NomadConnArgs;

/// Arguments of `stampede run-worker`.
#[derive(Debug, clap::Args)]
pub struct RunWorkerArgs {
    /// Connection (from the task's environment: NOMAD_ADDR, NOMAD_TOKEN from the job's variable, TLS paths).
    #[command(flatten)]
    pub conn: NomadConnArgs,
    /// Which generator (the allocation index).
    #[arg(long)]
    pub shard_index: u32,
    /// Where to write the generator's record.
    #[arg(long)]
    pub out: PathBuf,
}

/// Runs the command.
pub fn run(args: RunWorkerArgs) -> Result<u8> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    rt.block_on(crate::distrib::flood::run_worker(
        args.conn,
        args.shard_index,
        &args.out,
    ))
}
