//! The provisioning journal: JSON lines, one `write` + `fsync` per entry, written **before** each create
//! call (an `intent`) and after it (`created`), so a process killed at any point leaves a record of every
//! region and resource name it may have created. `stampede teardown` reads it next to the tag search.
//!
//! A process killed during a write can leave a torn last line; [`read`] ignores an unparsable *last* line
//! (and says so) but rejects one anywhere else, naming the file and line.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

/// One journal entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Wall-clock time of the entry, ms since the Unix epoch.
    pub t_unix_ms: u64,
    /// Run id.
    pub run_id: String,
    /// `intent` (about to call), `created` (call returned), `teardown` (teardown started), `removed`.
    pub op: String,
    /// Resource kind: `launch-template`, `fleet`, `instance`, `asg`, `run`.
    pub kind: String,
    /// Region.
    pub region: String,
    /// Resource name, if it has one (launch templates, ASGs).
    #[serde(default)]
    pub name: Option<String>,
    /// Resource ids returned by AWS (for `created`).
    #[serde(default)]
    pub ids: Vec<String>,
}

/// An open, append-only journal.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
}

/// The directory of a run's local state: `<state_dir>/<run_id>/`.
pub fn run_dir(state_dir: &Path, run_id: &str) -> PathBuf {
    state_dir.join(run_id)
}

/// The journal path of a run.
pub fn journal_path(state_dir: &Path, run_id: &str) -> PathBuf {
    run_dir(state_dir, run_id).join("journal.jsonl")
}

/// The manifest path of a run.
pub fn manifest_path(state_dir: &Path, run_id: &str) -> PathBuf {
    run_dir(state_dir, run_id).join("manifest.json")
}

/// Milliseconds since the Unix epoch (labels only).
pub fn now_unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Journal {
    /// Opens (creating the directory and file) for appending.
    pub fn open(path: &Path) -> anyhow::Result<Journal> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating directory {}", dir.display()))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening journal {}", path.display()))?;
        Ok(Journal {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Path of the journal file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one entry and fsyncs before returning.
    pub fn record(&mut self, e: &Entry) -> anyhow::Result<()> {
        let mut line = serde_json::to_string(e).context("serialising a journal entry")?;
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .with_context(|| format!("writing journal {}", self.path.display()))?;
        self.file
            .sync_data()
            .with_context(|| format!("fsyncing journal {}", self.path.display()))?;
        Ok(())
    }

    /// Shorthand: appends an entry stamped now.
    pub fn note(
        &mut self,
        run_id: &str,
        op: &str,
        kind: &str,
        region: &str,
        name: Option<&str>,
        ids: &[String],
    ) -> anyhow::Result<()> {
        self.record(&Entry {
            t_unix_ms: now_unix_ms(),
            run_id: run_id.to_string(),
            op: op.to_string(),
            kind: kind.to_string(),
            region: region.to_string(),
            name: name.map(str::to_string),
            ids: ids.to_vec(),
        })
    }
}

/// Reads a journal; a missing file is an empty journal. Returns the entries and a warning when a torn last
/// line was ignored.
pub fn read(path: &Path) -> anyhow::Result<(Vec<Entry>, Option<String>)> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), None)),
        Err(e) => return Err(e).with_context(|| format!("reading journal {}", path.display())),
    };
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut warning = None;
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Entry>(line) {
            Ok(e) => out.push(e),
            Err(err) if i + 1 == lines.len() && !text.ends_with('\n') => {
                warning = Some(format!(
                    "{}:{}: ignored a torn last line ({err})",
                    path.display(),
                    i + 1
                ));
            }
            Err(err) => bail!("{}:{}: not a journal entry: {err}", path.display(), i + 1),
        }
    }
    Ok((out, warning))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let p = journal_path(dir.path(), "r1");
        let mut j = Journal::open(&p).unwrap();
        j.note("r1", "intent", "fleet", "us-east-1", None, &[])
            .unwrap();
        j.note(
            "r1",
            "created",
            "fleet",
            "us-east-1",
            None,
            &["fleet-1".into()],
        )
        .unwrap();
        drop(j);
        let (e, w) = read(&p).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[1].ids, vec!["fleet-1".to_string()]);
        assert!(w.is_none());
        // A torn tail (killed mid-write) is ignored with a warning.
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"{\"t_unix_ms\":1,\"run").unwrap();
        let (e, w) = read(&p).unwrap();
        assert_eq!(e.len(), 2);
        assert!(w.unwrap().contains(":3: ignored a torn last line"));
        // Garbage in the middle is an error naming the line.
        std::fs::write(&p, "nope\n{}\n").unwrap();
        assert!(read(&p)
            .unwrap_err()
            .to_string()
            .ends_with(":1: not a journal entry: expected ident at line 1 column 2"));
        assert!(read(&dir.path().join("missing")).unwrap().0.is_empty());
    }
}
