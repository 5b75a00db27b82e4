//! `stampede compare BASE NEW` / `stampede compare base1 base2 … -- new1 new2 …`: key figures side by side,
//! thresholds, and an exit code for CI (0 ok, 1 regression, 2 bad input). The rule is documented in
//! [`crate::report::compare`].

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use crate::files::record as record_io;
use crate::report::compare::{self, Threshold};

/// Arguments of `stampede compare`.
#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// `BASE NEW` (two record directories, or two directories of records), or the base side's records when
    /// the new side follows `--`.
    #[arg(required = true, value_name = "BASE")]
    pub paths: Vec<PathBuf>,
    /// The new side's records (after `--`).
    #[arg(last = true, value_name = "NEW")]
    pub new: Vec<PathBuf>,
    /// Fail (exit 1) if the condition holds, e.g. `submit_to_running.p99 > +10%`, `placement_rate < -5%`,
    /// `servers.cpu_pct_max > 80` (absolute). Repeatable.
    #[arg(long = "fail-if", value_name = "COND")]
    pub fail_if: Vec<String>,
    /// File of thresholds, one per line (`#` comments).
    #[arg(long, value_name = "FILE")]
    pub thresholds: Option<PathBuf>,
    /// Print a machine-readable verdict (JSON) instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Also write a side-by-side HTML page with the C2M chart and latency CDFs overlaid.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Compare records of different scenarios (normally refused).
    #[arg(long)]
    pub allow_different_scenarios: bool,
    /// Compare records whose run did not complete (outcome interrupted, partial or timed-out; normally
    /// refused with exit 2), with a warning on stderr.
    #[arg(long)]
    pub allow_incomplete: bool,
}

/// Runs the command.
pub fn run(args: CompareArgs) -> Result<u8> {
    let (base, new) = if args.new.is_empty() {
        if args.paths.len() != 2 {
            bail!(
                "give exactly two paths (`compare BASE NEW`), or several per side separated by `--` \
                 (`compare base1 base2 -- new1 new2`); got {}",
                args.paths.len()
            );
        }
        (vec![args.paths[0].clone()], vec![args.paths[1].clone()])
    } else {
        (args.paths.clone(), args.new.clone())
    };
    let mut thresholds: Vec<Threshold> = args
        .fail_if
        .iter()
        .map(|t| compare::parse_threshold(t, "--fail-if"))
        .collect::<Result<_>>()?;
    if let Some(f) = &args.thresholds {
        thresholds.extend(compare::read_thresholds(f)?);
    }
    let (b, n) = compare::load_sides_with(
        &base,
        &new,
        args.allow_different_scenarios,
        args.allow_incomplete,
    )?;
    let c = compare::compare(&b, &n, &thresholds);
    if let Some(path) = &args.html {
        let load = |dirs: &[PathBuf]| {
            dirs.iter()
                .map(|d| record_io::read_record(d))
                .collect::<Result<Vec<_>>>()
        };
        let page = compare::render_html(&c, &load(&b.dirs)?, &load(&n.dirs)?)?;
        record_io::write_atomic(path, page.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&c).context("serialising the verdict")?
        );
    } else {
        print!("{}", compare::render_text(&c));
    }
    Ok(if c.regression { crate::EXIT_FAIL } else { 0 })
}
