//! Helpers the test modules share: argument lists ([`argv!`]), the CLI in process ([`cli`]) or as the built
//! binary ([`bin`], [`wait_bounded`], [`run_bin`]), paths of the repository and its fixtures, run records.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use stampede_sim::record::RunRecord;

/// Command-line arguments as a `Vec<String>`: a string literal is split on white space (`"run --jobs 4"`
/// is three arguments), any other expression (a path, a `String`, a `&str` variable) is one argument as
/// it is, so paths are never split.
macro_rules! argv {
    (@push $v:ident;) => {};
    (@push $v:ident; $l:literal $(, $($rest:tt)*)?) => {
        $v.extend($l.split_whitespace().map(String::from));
        $crate::common::argv!(@push $v; $($($rest)*)?);
    };
    (@push $v:ident; $e:expr $(, $($rest:tt)*)?) => {
        $v.push($crate::common::arg($e));
        $crate::common::argv!(@push $v; $($($rest)*)?);
    };
    ($($x:tt)*) => {{
        #[allow(unused_mut)]
        let mut v: Vec<String> = Vec::new();
        $crate::common::argv!(@push v; $($x)*);
        v
    }};
}
pub(crate) use argv;

/// One argument of [`argv!`] (UTF-8: every path the tests make is).
pub fn arg(x: impl AsRef<OsStr>) -> String {
    let x = x.as_ref();
    x.to_str()
        .unwrap_or_else(|| panic!("argument {x:?} is not UTF-8"))
        .to_owned()
}

/// `stampede ARGS…` in process (clap parse errors are errors, not exits).
pub fn cli<S: AsRef<OsStr>>(args: &[S]) -> anyhow::Result<u8> {
    let words = std::iter::once(OsStr::new("stampede")).chain(args.iter().map(|a| a.as_ref()));
    stampede::run(<stampede::Opts as clap::Parser>::try_parse_from(words)?)
}

/// The built `stampede` binary, without the caller's `NOMAD_ADDR`/`NOMAD_TOKEN`, stdin closed.
pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_stampede"));
    c.env_remove("NOMAD_ADDR")
        .env_remove("NOMAD_TOKEN")
        .stdin(Stdio::null());
    c
}

/// Runs the binary ([`bin`]) to the end, output captured.
pub fn bin_output<S: AsRef<OsStr>>(args: &[S]) -> Output {
    bin()
        .args(args)
        .output()
        .expect("running the stampede binary")
}

/// Spawns `c` with its output piped, for [`wait_bounded`].
pub fn spawn_piped(mut c: Command) -> std::process::Child {
    c.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {c:?}: {e}"))
}

/// Waits for a child with a time bound: on overrun it is killed (SIGKILL) and the test fails naming
/// `what`.
pub fn wait_bounded(child: std::process::Child, limit: Duration, what: &str) -> Output {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(o) => o.expect("waiting"),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("{what} did not finish within {limit:?}");
        }
    }
}

/// Runs `c` to the end with its output captured, within `limit` ([`wait_bounded`]).
pub fn run_bounded(c: Command, limit: Duration) -> Output {
    let what = format!("{c:?}");
    wait_bounded(spawn_piped(c), limit, &what)
}

/// Asserts that the command succeeded; returns its stdout and stderr, concatenated.
pub fn ok(what: &str, out: &Output) -> String {
    let so = String::from_utf8_lossy(&out.stdout).into_owned();
    let se = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{so}\n{se}",
        out.status
    );
    so + &se
}

/// The binary's end, as a CI job sees it.
pub struct Ran {
    /// Exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Standard error.
    pub stderr: String,
    /// Wall time.
    pub took: Duration,
}

impl Ran {
    /// Asserts the exit code (stderr in the message).
    pub fn exits(&self, code: i32) -> &Ran {
        assert_eq!(self.code, Some(code), "{}", self.stderr);
        self
    }

    /// Asserts that stderr holds every one of `parts`.
    pub fn says(&self, parts: &[&str]) -> &Ran {
        for p in parts {
            assert!(
                self.stderr.contains(p),
                "`{p}` not on stderr: {}",
                self.stderr
            );
        }
        self
    }
}

/// [`bin`] for async tests: output piped, killed if the test drops it (a failing assert must not leave it
/// running).
pub fn bin_async() -> tokio::process::Command {
    let mut c = tokio::process::Command::from(bin());
    c.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    c
}

/// Runs the binary ([`bin_async`]) to the end within `bound` (a hang fails the test instead of wedging
/// it).
pub async fn run_bin<S: AsRef<OsStr>>(args: &[S], bound: Duration) -> Ran {
    let t = Instant::now();
    let child = bin_async().args(args).spawn().unwrap();
    let shown: Vec<&OsStr> = args.iter().map(|a| a.as_ref()).collect();
    let out = tokio::time::timeout(bound, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("stampede {shown:?} did not end within {bound:?}"))
        .unwrap();
    Ran {
        code: out.status.code(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        took: t.elapsed(),
    }
}

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `harness/tests/fixtures/<rel>`.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

/// An emulator configuration for the small test cluster (`emulator-small.toml`) on a free loopback port,
/// at `speed` times real time.
pub fn small_emulator(speed: f64) -> stampede::emulator::EmulatorConfig {
    let sc = stampede::files::load_scenario(&fixture("emulator-small.toml"), 1.0).unwrap();
    let mut c = stampede::emulator::EmulatorConfig::new(sc);
    c.listen = "127.0.0.1:0".parse().unwrap();
    c.speed = speed;
    c
}

/// Reads a run record, failing the test with the directory and the reason.
pub fn read_record(dir: &Path) -> RunRecord {
    stampede::files::record::read_record(dir).unwrap_or_else(|e| panic!("{}: {e:#}", dir.display()))
}
