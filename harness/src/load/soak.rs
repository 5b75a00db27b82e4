//! `stampede bench soak`: a long open-loop run against `stampede emulate`, both as child processes, sampling
//! the resident memory and open file descriptors of each from `/proc` every few seconds, and reporting the
//! slopes (KB/min, fds/min) and totals. A leak shows as a steady slope after warm-up; bounded history as a
//! flat one.
//!
//! Slopes are ordinary least squares over the samples: over the whole run and over its second half (the
//! steady state, after caches, pools and the GC history have filled).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;

/// What to soak.
#[derive(Debug, Clone)]
pub struct SoakConfig {
    /// The `stampede` binary to start (normally the running one).
    pub exe: PathBuf,
    /// Scenario file of the emulated cluster.
    pub scenario: PathBuf,
    /// Length of the submission phase, minutes.
    pub minutes: f64,
    /// Jobs per second (open loop).
    pub rate: f64,
    /// Sampling interval.
    pub sample_every: Duration,
    /// Extra `stampede emulate` arguments (e.g. `--job-gc-threshold=10m`).
    pub emulate_args: Vec<String>,
    /// Extra `stampede run` arguments (e.g. `--duration=2s`).
    pub run_args: Vec<String>,
    /// Where the run record, the children's logs and `soak.json` go.
    pub out: PathBuf,
}

/// One `/proc` sample of a process.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ProcSample {
    /// Seconds since the soak started.
    pub t_s: f64,
    /// Resident set size, KiB (`VmRSS`).
    pub rss_kb: u64,
    /// Open file descriptors (entries of `/proc/PID/fd`).
    pub fds: u64,
}

/// The samples of one process and what they say.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Series {
    /// Process ID.
    pub pid: u32,
    /// Samples, in time order.
    pub samples: Vec<ProcSample>,
    /// RSS slope over every sample, KiB per minute.
    pub rss_kb_per_min: f64,
    /// RSS slope over the second half of the samples (steady state), KiB per minute.
    pub rss_kb_per_min_second_half: f64,
    /// Open-fd slope over every sample, per minute.
    pub fds_per_min: f64,
    /// Open-fd slope over the second half, per minute.
    pub fds_per_min_second_half: f64,
    /// First, last and largest RSS, KiB.
    pub rss_kb_first: u64,
    /// See `rss_kb_first`.
    pub rss_kb_last: u64,
    /// See `rss_kb_first`.
    pub rss_kb_max: u64,
    /// First, last and largest open-fd count.
    pub fds_first: u64,
    /// See `fds_first`.
    pub fds_last: u64,
    /// See `fds_first`.
    pub fds_max: u64,
}

/// What a soak measured.
#[derive(Debug, Clone, Serialize)]
pub struct SoakReport {
    /// Jobs the run was asked to submit.
    pub jobs: u64,
    /// Jobs per second asked for.
    pub rate: f64,
    /// Wall seconds from the start of the run to its end.
    pub run_s: f64,
    /// Exit code of `stampede run`.
    pub run_exit: Option<i32>,
    /// `stampede emulate`.
    pub emulator: Series,
    /// `stampede run`.
    pub runner: Series,
    /// Where the run record is.
    pub record: PathBuf,
}

/// Reads `VmRSS` (KiB) and the number of open file descriptors of `pid`; `None` once it has exited.
pub fn sample_proc(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64;
    Some((rss, fds))
}

/// Least-squares slope of `y` over `x` (0 with fewer than two distinct `x`).
pub fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if points.len() < 2 {
        return 0.0;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if sxx <= 0.0 {
        return 0.0;
    }
    points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum::<f64>() / sxx
}

impl Series {
    /// The figures of a sample series.
    pub fn of(pid: u32, samples: Vec<ProcSample>) -> Series {
        let per_min = |s: &[ProcSample], f: fn(&ProcSample) -> u64| {
            let pts: Vec<(f64, f64)> = s.iter().map(|x| (x.t_s / 60.0, f(x) as f64)).collect();
            (slope(&pts) * 1000.0).round() / 1000.0
        };
        let half = &samples[samples.len() / 2..];
        Series {
            pid,
            rss_kb_per_min: per_min(&samples, |x| x.rss_kb),
            rss_kb_per_min_second_half: per_min(half, |x| x.rss_kb),
            fds_per_min: per_min(&samples, |x| x.fds),
            fds_per_min_second_half: per_min(half, |x| x.fds),
            rss_kb_first: samples.first().map_or(0, |x| x.rss_kb),
            rss_kb_last: samples.last().map_or(0, |x| x.rss_kb),
            rss_kb_max: samples.iter().map(|x| x.rss_kb).max().unwrap_or(0),
            fds_first: samples.first().map_or(0, |x| x.fds),
            fds_last: samples.last().map_or(0, |x| x.fds),
            fds_max: samples.iter().map(|x| x.fds).max().unwrap_or(0),
            samples,
        }
    }
}

/// A child we started, stopped (SIGINT, then SIGKILL after 10 s) when dropped.
struct Kid {
    child: Child,
    what: &'static str,
}

impl Kid {
    fn pid(&self) -> u32 {
        self.child.id()
    }
    /// Asks it to stop like Ctrl-C, waits up to `grace`, then kills it.
    fn stop(&mut self, grace: Duration) -> Option<i32> {
        if let Ok(Some(s)) = self.child.try_wait() {
            return s.code();
        }
        let _ = Command::new("kill")
            .args(["-INT", &self.pid().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let t = Instant::now();
        while t.elapsed() < grace {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        self.child.wait().ok().and_then(|s| s.code())
    }
}

impl Drop for Kid {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            eprintln!("bench soak: stopping {} (pid {})", self.what, self.pid());
            self.stop(Duration::from_secs(10));
        }
    }
}

/// Starts `stampede emulate` on a free loopback port and returns it with its address (read from its
/// stderr, which is then copied to `log`).
fn start_emulator(cfg: &SoakConfig, log: &Path) -> Result<(Kid, String)> {
    let mut child = Command::new(&cfg.exe)
        .arg("emulate")
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--scenario")
        .arg(&cfg.scenario)
        .args(&cfg.emulate_args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {} emulate", cfg.exe.display()))?;
    let stderr = child.stderr.take().context("emulator stderr")?;
    let kid = Kid {
        child,
        what: "stampede emulate",
    };
    let (tx, rx) = mpsc::channel::<String>();
    let mut file =
        std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    std::thread::spawn(move || {
        use std::io::Write;
        for line in BufReader::new(stderr).lines().map_while(|l| l.ok()) {
            let _ = writeln!(file, "{line}");
            if let Some(a) = line.strip_prefix("export NOMAD_ADDR=") {
                let _ = tx.send(a.trim().to_string());
            }
        }
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(addr) => Ok((kid, addr)),
        Err(_) => bail!(
            "`stampede emulate` did not announce its address within 60 s (log: {})",
            log.display()
        ),
    }
}

/// Runs the soak: emulator and run as children, samples both until the run ends, stops the emulator.
pub fn run_soak(cfg: &SoakConfig, mut progress: impl FnMut(&str)) -> Result<SoakReport> {
    let max_minutes = stampede_sim::limits::MAX_DURATION_S as f64 / 60.0;
    if !(cfg.minutes.is_finite() && cfg.minutes > 0.0 && cfg.minutes <= max_minutes) {
        bail!(
            "--minutes {}: must be above 0 and at most {max_minutes}",
            cfg.minutes
        );
    }
    if !(cfg.rate.is_finite() && cfg.rate > 0.0 && cfg.rate <= stampede_sim::limits::MAX_RATE_PER_S)
    {
        bail!(
            "--rate {}: must be above 0 and at most {}",
            cfg.rate,
            stampede_sim::limits::MAX_RATE_PER_S
        );
    }
    if cfg.sample_every.is_zero() {
        bail!("--sample-every must be positive");
    }
    let jobs = (cfg.rate * cfg.minutes * 60.0).round().max(1.0) as u64;
    if jobs > stampede_sim::limits::MAX_JOBS {
        bail!(
            "--rate × --minutes asks for {jobs} jobs, more than {}",
            stampede_sim::limits::MAX_JOBS
        );
    }
    std::fs::create_dir_all(&cfg.out).with_context(|| format!("creating {}", cfg.out.display()))?;
    let (mut emu, addr) = start_emulator(cfg, &cfg.out.join("emulate.log"))?;
    progress(&format!(
        "emulator pid {} on {addr}; submitting {jobs} jobs at {}/s for {} min",
        emu.pid(),
        cfg.rate,
        cfg.minutes
    ));
    let record = cfg.out.join("run");
    let run_log = std::fs::File::create(cfg.out.join("run.log")).context("creating run.log")?;
    // The run's own bound: the submission phase plus 10 minutes of drain and reconcile.
    let bound = Duration::from_secs_f64(cfg.minutes * 60.0 + 600.0);
    let mut run = Kid {
        child: Command::new(&cfg.exe)
            .arg("run")
            .args(["--addr", &addr])
            .args(["--jobs", &jobs.to_string()])
            .args(["--rate", &cfg.rate.to_string()])
            .args(["--timeout", &format!("{}s", bound.as_secs())])
            .args(["--quiet", "--no-report", "--out"])
            .arg(&record)
            .args(&cfg.run_args)
            .env_remove("NOMAD_TOKEN")
            .stdin(Stdio::null())
            .stdout(run_log.try_clone().context("run.log")?)
            .stderr(run_log)
            .spawn()
            .context("starting stampede run")?,
        what: "stampede run",
    };
    let t0 = Instant::now();
    let (mut es, mut rs) = (Vec::new(), Vec::new());
    let mut next = t0;
    let mut last_say = t0;
    let run_exit = loop {
        let t_s = t0.elapsed().as_secs_f64();
        if let Some((rss_kb, fds)) = sample_proc(emu.pid()) {
            es.push(ProcSample { t_s, rss_kb, fds });
        }
        if let Some((rss_kb, fds)) = sample_proc(run.pid()) {
            rs.push(ProcSample { t_s, rss_kb, fds });
        }
        if let Ok(Some(st)) = run.child.try_wait() {
            break st.code();
        }
        if let Ok(Some(st)) = emu.child.try_wait() {
            bail!(
                "`stampede emulate` exited ({st}) during the soak (log: {})",
                cfg.out.join("emulate.log").display()
            );
        }
        if t0.elapsed() > bound + Duration::from_secs(60) {
            run.stop(Duration::from_secs(20));
            bail!(
                "`stampede run` did not end within {:.0} s",
                bound.as_secs_f64() + 60.0
            );
        }
        if last_say.elapsed() >= Duration::from_secs(60) {
            last_say = Instant::now();
            progress(&format!(
                "{:.0} s: emulator {} KiB / {} fds, run {} KiB / {} fds",
                t_s,
                es.last().map_or(0, |x| x.rss_kb),
                es.last().map_or(0, |x| x.fds),
                rs.last().map_or(0, |x| x.rss_kb),
                rs.last().map_or(0, |x| x.fds)
            ));
        }
        next += cfg.sample_every;
        // Sleep in short steps so the run's end is noticed promptly.
        while Instant::now() < next {
            if let Ok(Some(_)) = run.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100).min(cfg.sample_every));
        }
    };
    let run_s = t0.elapsed().as_secs_f64();
    if let Some((rss_kb, fds)) = sample_proc(emu.pid()) {
        es.push(ProcSample {
            t_s: run_s,
            rss_kb,
            fds,
        });
    }
    let emu_pid = emu.pid();
    emu.stop(Duration::from_secs(10));
    let report = SoakReport {
        jobs,
        rate: cfg.rate,
        run_s,
        run_exit,
        emulator: Series::of(emu_pid, es),
        runner: Series::of(run.pid(), rs),
        record,
    };
    let json = serde_json::to_string_pretty(&report).context("serializing the soak report")?;
    crate::files::write_atomic_with(&cfg.out.join("soak.json"), |w| {
        std::io::Write::write_all(w, json.as_bytes())
    })
    .context("writing soak.json")?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slope_is_least_squares_per_minute() {
        // 600 KiB more every minute, with noise that averages out.
        let pts: Vec<(f64, f64)> = (0..20)
            .map(|i| {
                let m = i as f64 / 2.0;
                (m, 1000.0 + 600.0 * m + if i % 2 == 0 { 5.0 } else { -5.0 })
            })
            .collect();
        assert!((slope(&pts) - 600.0).abs() < 2.0, "{}", slope(&pts));
        assert_eq!(slope(&[(1.0, 5.0)]), 0.0);
        assert_eq!(slope(&[(1.0, 5.0), (1.0, 9.0)]), 0.0);
        let flat = Series::of(
            1,
            (0..10)
                .map(|i| ProcSample {
                    t_s: i as f64 * 30.0,
                    rss_kb: 5000,
                    fds: 12,
                })
                .collect(),
        );
        assert_eq!(flat.rss_kb_per_min, 0.0);
        assert_eq!(flat.fds_per_min_second_half, 0.0);
        assert_eq!((flat.rss_kb_max, flat.fds_last), (5000, 12));
    }

    #[test]
    fn samples_this_process_and_nothing_for_a_dead_one() {
        let (rss, fds) = sample_proc(std::process::id()).expect("own /proc entry");
        assert!(rss > 0 && fds >= 3, "{rss} KiB, {fds} fds");
        let mut c = Command::new("true").spawn().unwrap();
        let pid = c.id();
        c.wait().unwrap();
        assert_eq!(sample_proc(pid), None);
    }
}
