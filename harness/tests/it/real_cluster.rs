//! Fixture: a real Nomad cluster on loopback (`tools/nomad/cluster.sh`), built with `tools/nomad/build.sh`
//! when missing. Started per test, stopped on drop (and by the script's watchdog if this process dies);
//! real-cluster tests run one at a time (they share two cores with everything else).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::common::{argv, repo};

/// Serialises the real-cluster tests of this binary (and the emulator calibration test, which measures in real time).
pub static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// `tools/nomad/build.sh`: the Nomad binary's path (builds it on first use: slow, once per machine).
pub fn nomad_bin() -> PathBuf {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        let out = Command::new("bash")
            .arg(repo().join("tools/nomad/build.sh"))
            .stderr(Stdio::inherit())
            .output()
            .expect("running tools/nomad/build.sh");
        assert!(out.status.success(), "tools/nomad/build.sh failed");
        let p = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        assert!(p.is_file(), "build.sh printed `{}`", p.display());
        p
    })
    .clone()
}

/// Options of [`RealCluster::start`].
#[derive(Debug, Clone)]
pub struct ClusterOpts {
    pub servers: u32,
    pub clients: u32,
    pub tls: bool,
    pub nodesim: u32,
}

impl Default for ClusterOpts {
    fn default() -> Self {
        ClusterOpts {
            servers: 3,
            clients: 3,
            tls: false,
            nodesim: 0,
        }
    }
}

/// One agent line of `DIR/agents`.
#[derive(Debug, Clone, PartialEq)]
pub struct Agent {
    pub name: String,
    pub role: String,
    pub ip: String,
    pub http: u16,
    pub rpc: u16,
    pub pid: u32,
}

/// A running cluster. Dropping it stops every process and removes its directory.
pub struct RealCluster {
    pub dir: PathBuf,
    /// `cluster.env` (NOMAD_ADDR, TLS paths, STAMPEDE_NOMAD_SERVERS) — no token.
    pub env: BTreeMap<String, String>,
    /// The bootstrap (management) token.
    pub token: String,
    pub started_in: Duration,
    _tmp: tempfile::TempDir,
    _serial: MutexGuard<'static, ()>,
}

fn script<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    Command::new("bash")
        .arg(repo().join("tools/nomad/cluster.sh"))
        .args(args)
        .env("NOMAD_BIN", nomad_bin())
        .output()
        .expect("running tools/nomad/cluster.sh")
}

impl RealCluster {
    /// Starts a cluster (builds Nomad first if needed). Panics with the script's output on failure (the
    /// script has stopped whatever it started by then).
    pub fn start(o: &ClusterOpts) -> RealCluster {
        let serial = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
        nomad_bin();
        let tmp = tempfile::Builder::new()
            .prefix("stampede-real-")
            .tempdir_in("/tmp")
            .unwrap();
        let dir = tmp.path().join("cluster");
        let t = Instant::now();
        let (servers, clients, nodesim, owner) = (
            o.servers.to_string(),
            o.clients.to_string(),
            o.nodesim.to_string(),
            std::process::id().to_string(),
        );
        let mut args = argv!(
            "start",
            &dir,
            "--servers",
            &servers,
            "--clients",
            &clients,
            "--nodesim",
            &nodesim,
            "--owner",
            &owner,
            "--ttl 900"
        );
        if o.tls {
            args.push("--tls".into());
        }
        let out = script(&args);
        assert!(
            out.status.success(),
            "cluster.sh start failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let env = std::fs::read_to_string(dir.join("cluster.env"))
            .unwrap()
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let token = std::fs::read_to_string(dir.join("token")).unwrap();
        assert_eq!(token.len(), 36, "bootstrap token looks like a UUID");
        RealCluster {
            dir,
            env,
            token,
            started_in: t.elapsed(),
            _tmp: tmp,
            _serial: serial,
        }
    }

    pub fn addr(&self) -> &str {
        &self.env["NOMAD_ADDR"]
    }

    pub fn agents(&self) -> Vec<Agent> {
        std::fs::read_to_string(self.dir.join("agents"))
            .unwrap()
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                Agent {
                    name: f[0].into(),
                    role: f[1].into(),
                    ip: f[2].into(),
                    http: f[3].parse().unwrap(),
                    rpc: f[4].parse().unwrap(),
                    pid: f[6].parse().unwrap(),
                }
            })
            .collect()
    }

    pub fn agent(&self, name: &str) -> Agent {
        self.agents()
            .into_iter()
            .find(|a| a.name == name)
            .unwrap_or_else(|| panic!("no agent {name}"))
    }

    /// HTTP base URL of one agent.
    pub fn http_of(&self, name: &str) -> String {
        let a = self.agent(name);
        let scheme = if self.env.contains_key("NOMAD_CACERT") {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}:{}", a.ip, a.http)
    }

    /// Waits (bounded) until a leader other than `not` is elected; returns it.
    pub fn wait_leader(&self, not: Option<&str>, within: Duration) -> String {
        let end = Instant::now() + within;
        loop {
            let out = script(&["leader", self.dir.to_str().unwrap()]);
            let l = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if out.status.success() && !l.is_empty() && Some(l.as_str()) != not {
                return l;
            }
            assert!(Instant::now() < end, "no new leader within {within:?}");
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    pub fn kill(&self, name: &str) {
        let out = script(&["kill", self.dir.to_str().unwrap(), name]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn restart(&self, name: &str) {
        let out = script(&["restart", self.dir.to_str().unwrap(), name]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A `stampede` command with this cluster's environment (address, TLS paths; the token only if
    /// `with_token`) and nothing inherited that could point elsewhere.
    pub fn stampede(&self, with_token: bool) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_stampede"));
        for k in [
            "NOMAD_ADDR",
            "NOMAD_TOKEN",
            "NOMAD_CACERT",
            "NOMAD_CLIENT_CERT",
            "NOMAD_CLIENT_KEY",
            "NOMAD_SKIP_VERIFY",
            "NOMAD_TLS_SERVER_NAME",
            "NOMAD_REGION",
            "NOMAD_NAMESPACE",
        ] {
            c.env_remove(k);
        }
        for (k, v) in &self.env {
            if k.starts_with("NOMAD_") {
                c.env(k, v);
            }
        }
        if with_token {
            c.env("NOMAD_TOKEN", &self.token);
        }
        c.stdin(Stdio::null());
        c
    }

    /// A blocking HTTP GET against the cluster with the token (curl, which honours the TLS files).
    pub fn get(&self, path: &str) -> serde_json::Value {
        let out = self.curl(self.addr(), "GET", path, None);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("GET {path}: {e}: {out}"))
    }

    /// curl with the token and TLS files; panics on HTTP errors.
    pub fn curl(&self, base: &str, method: &str, path: &str, body: Option<&str>) -> String {
        let mut c = Command::new("curl");
        c.args(["-sS", "-f", "--max-time", "20", "-X", method]);
        c.args(["-H", &format!("X-Nomad-Token: {}", self.token)]);
        if let Some(ca) = self.env.get("NOMAD_CACERT") {
            c.args(["--cacert", ca]);
            c.args(["--cert", &self.env["NOMAD_CLIENT_CERT"]]);
            c.args(["--key", &self.env["NOMAD_CLIENT_KEY"]]);
        }
        if let Some(b) = body {
            c.args(["--data-binary", b]);
        }
        c.arg(format!("{base}{path}"));
        let out = c.output().expect("curl");
        assert!(
            out.status.success(),
            "{method} {base}{path}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Summed CPU seconds (user + system) and RSS bytes of a process, from /proc.
    pub fn proc_usage(pid: u32) -> Option<(f64, u64)> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let rest = &stat[stat.rfind(')')? + 2..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        let tck = 100.0; // USER_HZ on Linux
        let cpu = (f[11].parse::<f64>().ok()? + f[12].parse::<f64>().ok()?) / tck;
        let rss_pages: u64 = f[21].parse().ok()?;
        Some((cpu, rss_pages * 4096))
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }
}

impl Drop for RealCluster {
    fn drop(&mut self) {
        let out = script(&["stop", self.dir.to_str().unwrap(), "--keep"]);
        if !out.status.success() {
            eprintln!(
                "cluster.sh stop failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// Every file under `dir` (recursively).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}
