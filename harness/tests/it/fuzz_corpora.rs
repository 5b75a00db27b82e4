//! CI replay of the fuzz corpora: every committed input of every cargo-fuzz target (`fuzz/corpus/T`, the
//! hand-written seeds `fuzz/seeds/T` and the crash regressions `fuzz/regressions/T`) goes through the same
//! check the fuzz target runs (`fuzz/src/lib.rs`, included here so the two cannot drift), on the stable
//! toolchain. A check may accept or reject its input; it must not panic and must finish in bounded time.
//! Long fuzzing is `tools/fuzz.sh`, not a test.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[path = "../../../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod checks;

/// Per-input bound (debug build of the harness; the fuzzer's own per-input timeout is 10 s in release).
const PER_INPUT: Duration = Duration::from_secs(20);

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The regular files of `dir`, sorted; an error if it is missing.
fn files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let rd = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut out: Vec<PathBuf> = rd
        .map(|e| {
            e.map(|e| e.path())
                .map_err(|e| format!("{}: {e}", dir.display()))
        })
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    Ok(out)
}

/// Runs `check` on every file, returning (inputs, failures).
fn replay(check: fn(&[u8]), inputs: &[PathBuf]) -> (usize, Vec<String>) {
    let mut bad = Vec::new();
    for p in inputs {
        let data = std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let t0 = Instant::now();
        let r = std::panic::catch_unwind(|| check(&data));
        let took = t0.elapsed();
        if let Err(e) = r {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            bad.push(format!("{}: panicked: {msg}", p.display()));
        } else if took > PER_INPUT {
            bad.push(format!("{}: took {took:?} (> {PER_INPUT:?})", p.display()));
        }
    }
    (inputs.len(), bad)
}

#[test]
fn every_corpus_input_is_parsed_without_panic() {
    let root = fuzz_dir();
    let mut problems = Vec::new();
    let mut total = 0usize;
    for t in checks::TARGETS {
        // The corpus and the seeds must exist and be non-empty: a lost corpus would make this test vacuous.
        let mut inputs = Vec::new();
        for kind in ["corpus", "seeds"] {
            let dir = root.join(kind).join(t.name);
            match files(&dir) {
                Ok(f) if f.is_empty() => problems.push(format!("{}: empty", dir.display())),
                Ok(f) => inputs.extend(f),
                Err(e) => problems.push(format!("missing {kind} directory: {e}")),
            }
        }
        // Crash regressions are optional per target.
        let reg = root.join("regressions").join(t.name);
        if reg.exists() {
            inputs.extend(files(&reg).unwrap_or_else(|e| panic!("{e}")));
        }
        let (n, bad) = replay(t.check, &inputs);
        total += n;
        problems.extend(bad);
    }
    assert!(total > 0, "no fuzz inputs found under {}", root.display());
    assert!(
        problems.is_empty(),
        "{} problem(s) replaying {total} fuzz inputs:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// Every corpus directory belongs to a target and every target of `fuzz/Cargo.toml` has a check, so a
/// renamed target cannot leave its corpus unreplayed.
#[test]
fn corpus_directories_match_the_fuzz_targets() {
    let root = fuzz_dir();
    let names: Vec<&str> = checks::TARGETS.iter().map(|t| t.name).collect();
    for kind in ["corpus", "seeds", "regressions"] {
        let dir = root.join(kind);
        let Ok(rd) = std::fs::read_dir(&dir) else {
            assert_ne!(kind, "corpus", "{} is missing", dir.display());
            assert_ne!(kind, "seeds", "{} is missing", dir.display());
            continue;
        };
        for e in rd {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            assert!(
                names.contains(&name.as_str()),
                "{}/{name} is not a fuzz target ({names:?})",
                dir.display()
            );
        }
    }
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let bins: Vec<&str> = manifest
        .lines()
        .filter_map(|l| l.strip_prefix("name = \""))
        .filter_map(|l| l.strip_suffix('"'))
        .filter(|n| *n != "stampede-fuzz")
        .collect();
    assert_eq!(
        bins, names,
        "fuzz/Cargo.toml targets vs fuzz/src/lib.rs TARGETS"
    );
    for n in &names {
        let src = root.join("fuzz_targets").join(format!("{n}.rs"));
        let text =
            std::fs::read_to_string(&src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
        assert!(
            text.contains(&format!("stampede_fuzz::{n}(")),
            "{} does not call stampede_fuzz::{n}",
            src.display()
        );
    }
}
