//! Reading and writing run-record directories (`reports/<run-id>/`).
//!
//! Whole files are written to a temporary name and renamed into place, so a reader never sees a partial
//! file passed off as whole. Long runs stream rows with [`CsvAppender`] (flushed per batch) into
//! `<name>.partial` files, renamed when the run finishes: an interrupted run keeps everything it measured,
//! clearly marked as partial.

use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

pub use super::atomic::{write_atomic, write_atomic_with};
use stampede_sim::record::{self, AllocRow, MetricRow, NodeRow, RunEvent, RunMeta, RunRecord};

/// File names inside a record directory.
pub const RUN_JSON: &str = "run.json";
/// Per-allocation table.
pub const ALLOCS_CSV: &str = "allocs.csv";
/// Per-second per-server metrics.
pub const METRICS_CSV: &str = "metrics.csv";
/// Per-node table.
pub const NODES_CSV: &str = "nodes.csv";

/// Writes a whole record into `dir` (created if needed). Tables first, `run.json` last: a directory with a
/// `run.json` is complete.
pub fn write_record(dir: &Path, rec: &RunRecord) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    // The three tables are written in parallel (a replayed CI day has 60,000 allocation rows and 260,000
    // metric rows); run.json, which makes the directory a record, goes last, after all three are whole.
    let (allocs, (metrics, nodes)) = std::thread::scope(|sc| {
        let metrics = sc.spawn(|| {
            write_atomic_with(&dir.join(METRICS_CSV), |w| {
                record::write_metrics_csv(w, &rec.metrics)
            })
        });
        let allocs = write_atomic_with(&dir.join(ALLOCS_CSV), |w| {
            record::write_allocs_csv(w, &rec.allocs)
        });
        let nodes = write_atomic_with(&dir.join(NODES_CSV), |w| {
            record::write_nodes_csv(w, &rec.nodes)
        });
        let metrics = metrics
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        (allocs, (metrics, nodes))
    });
    allocs?;
    metrics?;
    nodes?;
    write_run_json(dir, &rec.meta)
}

/// Writes `run.json` atomically.
pub fn write_run_json(dir: &Path, meta: &RunMeta) -> Result<()> {
    write_atomic(
        &dir.join(RUN_JSON),
        record::run_json_string(meta).as_bytes(),
    )
}

/// Adds notable events (e.g. spot interruptions polled during the run) to a written record: merged in time
/// order, the summary's spot-interruption count recounted, `run.json` rewritten. Returns the record.
pub fn add_events(dir: &Path, events: Vec<RunEvent>) -> Result<RunRecord> {
    let mut rec = read_record(dir)?;
    if !events.is_empty() {
        rec.meta.events.extend(events);
        rec.meta.events.sort_by_key(|e| e.t_ns);
        rec.meta.summary.spot_interruptions = rec
            .meta
            .events
            .iter()
            .filter(|e| e.kind == "spot_interruption")
            .count() as u64;
        write_run_json(dir, &rec.meta)?;
    }
    Ok(rec)
}

/// Reads `run.json` from a record directory.
pub fn read_meta(dir: &Path) -> Result<RunMeta> {
    let p = dir.join(RUN_JSON);
    let text = fs::read_to_string(&p).with_context(|| {
        format!(
            "reading {} (is {} a run record directory?)",
            p.display(),
            dir.display()
        )
    })?;
    let meta = record::parse_run_json(&text).with_context(|| format!("parsing {}", p.display()))?;
    check_meta(&meta).with_context(|| format!("{}", p.display()))?;
    Ok(meta)
}

/// Bounds on a record's values that size what readers allocate (report charts bucket the time axis).
fn check_meta(meta: &RunMeta) -> Result<()> {
    let max = stampede_sim::limits::MAX_DURATION_S as f64;
    anyhow::ensure!(
        meta.duration_s.is_finite() && (0.0..=max).contains(&meta.duration_s),
        "duration_s = {}: must be within 0..={max} s (30 days)",
        meta.duration_s
    );
    Ok(())
}

/// Reads a whole record directory. `nodes.csv` is optional (older or minimal records), the rest required.
pub fn read_record(dir: &Path) -> Result<RunRecord> {
    let meta = read_meta(dir)?;
    let open = |name: &str| -> Result<BufReader<File>> {
        let p = dir.join(name);
        Ok(BufReader::with_capacity(
            1 << 20,
            File::open(&p).with_context(|| format!("opening {}", p.display()))?,
        ))
    };
    let allocs = record::read_allocs_csv(open(ALLOCS_CSV)?)
        .with_context(|| format!("reading {}", dir.join(ALLOCS_CSV).display()))?;
    let metrics = record::read_metrics_csv(open(METRICS_CSV)?)
        .with_context(|| format!("reading {}", dir.join(METRICS_CSV).display()))?;
    let nodes = if dir.join(NODES_CSV).exists() {
        record::read_nodes_csv(open(NODES_CSV)?)
            .with_context(|| format!("reading {}", dir.join(NODES_CSV).display()))?
    } else {
        Vec::new()
    };
    Ok(RunRecord {
        meta,
        allocs,
        metrics,
        nodes,
    })
}

/// Appends rows to `<dir>/<name>.partial`, flushing after each batch; [`CsvAppender::finish`] renames it to
/// `<dir>/<name>`. If the process dies, the `.partial` file holds every flushed row.
pub struct CsvAppender {
    partial: PathBuf,
    final_path: PathBuf,
    w: BufWriter<File>,
    rows: u64,
}

impl CsvAppender {
    /// Creates `<name>.partial` with the header.
    pub fn create(dir: &Path, name: &str, header: &str) -> Result<CsvAppender> {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let final_path = dir.join(name);
        let partial = dir.join(format!("{name}.partial"));
        let f =
            File::create(&partial).with_context(|| format!("creating {}", partial.display()))?;
        let mut w = BufWriter::with_capacity(1 << 16, f);
        writeln!(w, "{header}").with_context(|| format!("writing {}", partial.display()))?;
        Ok(CsvAppender {
            partial,
            final_path,
            w,
            rows: 0,
        })
    }
    /// Appends metric rows and flushes.
    pub fn append_metrics(&mut self, rows: &[MetricRow]) -> Result<()> {
        self.append(rows, |r, w| r.write_csv(w))
    }
    /// Appends allocation rows and flushes.
    pub fn append_allocs(&mut self, rows: &[AllocRow]) -> Result<()> {
        self.append(rows, |r, w| r.write_csv(w))
    }
    /// Appends node rows and flushes.
    pub fn append_nodes(&mut self, rows: &[NodeRow]) -> Result<()> {
        self.append(rows, |r, w| r.write_csv(w))
    }
    fn append<R>(
        &mut self,
        rows: &[R],
        write: impl Fn(&R, &mut BufWriter<File>) -> std::io::Result<()>,
    ) -> Result<()> {
        for r in rows {
            write(r, &mut self.w).with_context(|| format!("writing {}", self.partial.display()))?;
        }
        self.rows += rows.len() as u64;
        self.flush()
    }
    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }
    fn flush(&mut self) -> Result<()> {
        self.w
            .flush()
            .with_context(|| format!("flushing {}", self.partial.display()))
    }
    /// Flushes, syncs and renames the file to its final name.
    pub fn finish(self) -> Result<PathBuf> {
        let f = self
            .w
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(|| format!("flushing {}", self.partial.display()))?;
        f.sync_all()
            .with_context(|| format!("syncing {}", self.partial.display()))?;
        fs::rename(&self.partial, &self.final_path).with_context(|| {
            format!(
                "renaming {} to {}",
                self.partial.display(),
                self.final_path.display()
            )
        })?;
        Ok(self.final_path)
    }
}
