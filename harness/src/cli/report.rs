//! `stampede report RUN_DIR [--format md|html|json|csv ...] [--out DIR]`: writes the reports of a run record.

use std::path::PathBuf;

use anyhow::Result;

use crate::files::record as record_io;
use crate::report::{self, ExportFormat};

/// Arguments of `stampede report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Run record directory (holding run.json, allocs.csv, metrics.csv, nodes.csv).
    pub run_dir: PathBuf,
    /// Formats to write (repeat or comma-separate); default `md,html`.
    #[arg(long = "format", value_enum, value_delimiter = ',')]
    pub formats: Vec<ExportFormat>,
    /// Directory to write into; default the record directory itself.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Runs the command: prints each path written.
pub fn run(args: ReportArgs) -> Result<u8> {
    let rec = record_io::read_record(&args.run_dir)?;
    let mut formats = if args.formats.is_empty() {
        vec![ExportFormat::Md, ExportFormat::Html]
    } else {
        args.formats
    };
    formats.sort();
    formats.dedup();
    let out = args.out.unwrap_or(args.run_dir);
    for p in report::write_formats(&out, &rec, &formats)? {
        println!("{}", p.display());
    }
    Ok(0)
}
