//! The one trace loader and writer. The format follows from the extension, case-insensitively: `.jsonl`
//! (the canonical JSON Lines format, see `stampede_sim::trace`) or `.csv` (the spreadsheet flavour); any
//! other extension is an error naming the file. Writes are atomic.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use stampede_sim::trace::{csv::parse_csv_named, parse_jsonl_named, Trace};
use stampede_sim::workload::{JobSource, TraceSource};

use super::atomic::{write_atomic, write_atomic_with};

/// File format of a trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TraceFormat {
    /// JSON Lines (canonical).
    Jsonl,
    /// CSV, one row per task group.
    Csv,
}

impl TraceFormat {
    /// The format's name as `--format` spells it.
    pub fn name(self) -> &'static str {
        match self {
            TraceFormat::Jsonl => "jsonl",
            TraceFormat::Csv => "csv",
        }
    }

    /// The format of a path by its extension (the one rule), `None` when it is neither `.jsonl` nor `.csv`.
    pub fn of(path: &Path) -> Option<TraceFormat> {
        let ext = path.extension()?.to_str()?;
        if ext.eq_ignore_ascii_case("jsonl") {
            Some(TraceFormat::Jsonl)
        } else if ext.eq_ignore_ascii_case("csv") {
            Some(TraceFormat::Csv)
        } else {
            None
        }
    }

    /// [`TraceFormat::of`], or an error naming the file.
    pub fn require(path: &Path) -> Result<TraceFormat> {
        TraceFormat::of(path).with_context(|| {
            format!(
                "{}: unknown trace extension (use .jsonl or .csv)",
                path.display()
            )
        })
    }
}

/// Reads a whole trace, JSON Lines or CSV by extension; errors name the file and line.
pub fn read_trace(path: &Path) -> Result<Trace> {
    let format = TraceFormat::require(path)?;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading trace {}", path.display()))?;
    let origin = path.display().to_string();
    Ok(match format {
        TraceFormat::Jsonl => parse_jsonl_named(&text, &origin)?,
        TraceFormat::Csv => parse_csv_named(&text, &origin)?,
    })
}

/// Writes a trace atomically in the given format (parent directories are created).
pub fn write_trace(trace: &Trace, path: &Path, format: TraceFormat) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    match format {
        TraceFormat::Jsonl => write_atomic_with(path, |w| trace.write_jsonl(w)),
        TraceFormat::Csv => {
            // Render first so an unwritable name (e.g. `;` in a task) fails before any file is created.
            let mut buf = Vec::new();
            trace
                .write_csv(&mut buf)
                .with_context(|| format!("writing {}", path.display()))?;
            write_atomic(path, &buf)
        }
    }
}

/// A job source replaying a trace file.
pub fn trace_source(path: &Path) -> Result<Box<dyn JobSource>> {
    trace_source_factory(path)?()
}

/// A factory of job sources replaying one trace file, parsed once and shared across threads.
pub type TraceSourceFactory = Arc<dyn Fn() -> Result<Box<dyn JobSource>> + Send + Sync>;

/// Loads a trace once and returns a factory of sources replaying it.
pub fn trace_source_factory(path: &Path) -> Result<TraceSourceFactory> {
    let trace = Arc::new(read_trace(path)?);
    let label = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(Arc::new(move || {
        Ok(Box::new(TraceSource::new(trace.clone(), &label)) as Box<dyn JobSource>)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_extension_rule() {
        assert_eq!(
            TraceFormat::of(Path::new("a/day.jsonl")),
            Some(TraceFormat::Jsonl)
        );
        assert_eq!(
            TraceFormat::of(Path::new("DAY.JSONL")),
            Some(TraceFormat::Jsonl)
        );
        assert_eq!(
            TraceFormat::of(Path::new("day.Csv")),
            Some(TraceFormat::Csv)
        );
        assert_eq!(TraceFormat::of(Path::new("day.json")), None);
        assert_eq!(TraceFormat::of(Path::new("day")), None);
        let e = read_trace(Path::new("x/day.txt")).unwrap_err().to_string();
        assert!(
            e.contains("x/day.txt") && e.contains(".jsonl or .csv"),
            "{e}"
        );
    }
}
