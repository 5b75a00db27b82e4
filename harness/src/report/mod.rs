//! Reports of a run record: `summary.md`, a self-contained `report.html`, JSON and CSV exports, and the
//! comparison of records (`stampede compare`).
//!
//! ## Module map
//! | module | what |
//! |---|---|
//! | `tables` | the summary tables (what ran, totals, latency, peaks, failures, SLO verdict), format-neutral |
//! | `markdown`, `html`, `json`, `csv` | one exporter per format behind the private `Exporter` trait |
//! | `charts` | one file per chart (plotters, SVG backend), with downsampling and "no data" panels |
//! | [`cost`] | `stampede cost`: run and fleet costs as text tables |
//! | [`trace`] | `trace inspect`: a trace's statistics as text |
//! | [`plan`] | the capacity plan (`stampede plan`) as Markdown, SVG chart and HTML page |
//! | [`compare`] | loading both sides, key figures, statistics, thresholds and the verdict of `stampede compare` |
//!
//! The layout follows hyperfine's `export/`: an [`ExportFormat`] enum picks an exporter; every exporter turns a
//! whole [`RunRecord`] into bytes, and the caller writes them atomically.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use stampede_sim::record::RunRecord;

use crate::files::record as record_io;

pub mod charts;
pub mod compare;
pub mod cost;
mod csv;
pub(crate) mod html;
mod json;
mod markdown;
pub mod plan;
pub(crate) mod tables;
pub mod trace;

/// An export format of `stampede report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum ExportFormat {
    /// `summary.md`: the summary tables as GitHub-flavoured Markdown.
    Md,
    /// `report.html`: tables plus the five charts as inline SVG; one file, no external assets.
    Html,
    /// `summary.json`: `run.json`'s meta and summary (validated by `reports/schema/run.schema.json`).
    Json,
    /// `summary.csv`: the summary as `key,value` rows.
    Csv,
}

impl ExportFormat {
    /// File name the format is written to inside the output directory.
    pub fn file_name(self) -> &'static str {
        match self {
            ExportFormat::Md => "summary.md",
            ExportFormat::Html => "report.html",
            ExportFormat::Json => "summary.json",
            ExportFormat::Csv => "summary.csv",
        }
    }

    fn exporter(self) -> Box<dyn Exporter> {
        match self {
            ExportFormat::Md => Box::new(markdown::MarkdownExporter),
            ExportFormat::Html => Box::new(html::HtmlExporter),
            ExportFormat::Json => Box::new(json::JsonExporter),
            ExportFormat::Csv => Box::new(csv::CsvExporter),
        }
    }
}

/// One output format. Exporters are pure: record in, bytes out; the caller does the IO.
trait Exporter {
    fn serialize(&self, rec: &RunRecord) -> Result<Vec<u8>>;
}

/// Renders `rec` in `format` (no IO).
pub fn render(format: ExportFormat, rec: &RunRecord) -> Result<Vec<u8>> {
    format
        .exporter()
        .serialize(rec)
        .with_context(|| format!("rendering {}", format.file_name()))
}

/// Writes each format into `out_dir` (created if needed), atomically; returns the paths written.
pub fn write_formats(
    out_dir: &Path,
    rec: &RunRecord,
    formats: &[ExportFormat],
) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let mut written = Vec::new();
    for &f in formats {
        let bytes = render(f, rec)?;
        let path = out_dir.join(f.file_name());
        record_io::write_atomic(&path, &bytes)?;
        written.push(path);
    }
    Ok(written)
}

/// Writes `summary.md` and `report.html` into `dir` (the record directory). `stampede sim` and `stampede run`
/// call this at the end of a run unless `--no-report`.
pub fn write_reports(dir: &Path, rec: &RunRecord) -> Result<()> {
    write_formats(dir, rec, &[ExportFormat::Md, ExportFormat::Html]).map(|_| ())
}
