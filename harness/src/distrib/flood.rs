//! `stampede run --as-nomad-job N …`: the N generators of a sharded flood placed by Nomad itself.
//!
//! One batch job (`stampede-gen-<run-id>`) with one task group of count N: allocation I runs the same
//! stampede binary (raw_exec, an absolute path that exists on the clients) as the hidden `stampede
//! run-worker --shard-index ${NOMAD_ALLOC_INDEX}`, i.e. generator I/N of [`super::shard`], all started at one
//! `--start-at` (default: 30 s after the job is registered). What a generator submits travels in the job's
//! meta as the *built* workload (the job JSON, pacing, prefix, seed), so no scenario or jobspec file needs to
//! exist on the clients. The ACL token never enters the job: it is written to the Nomad Variable
//! `nomad/jobs/<job>` (encrypted at rest, readable only by that job's tasks through their workload
//! identity) and rendered by a template into the task's `secrets/` directory as `NOMAD_TOKEN`; the variable
//! is deleted at the end. Generators are neither restarted nor rescheduled (a restarted generator would
//! submit its jobs twice). When every allocation has ended, each generator's record is read back through
//! the allocation filesystem API and [`super::merge`] writes the one record; the job is purged.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use stampede_sim::record::ScenarioInfo;

use super::merge::{merge_into, ClockCorrection, MergeRequest};
use super::shard::{unix_ns_now, Shard, SHARD_JSON};
use crate::files::record as record_io;
use crate::load::{Pacing, RunPlan, WorkloadPlan};
use crate::nomad::client::path_escape;
use crate::nomad::{NomadClient, NomadConnArgs};

/// Job meta key holding the base64 [`GeneratorSpec`] (`NOMAD_META_stampede_spec` in the task).
pub const SPEC_META: &str = "stampede_spec";
/// Default lead between registering the job and `--start-at`.
pub const DEFAULT_LEAD: Duration = Duration::from_secs(30);
/// Files of a generator's record read back.
const RECORD: [&str; 5] = [
    record_io::RUN_JSON,
    record_io::ALLOCS_CSV,
    record_io::METRICS_CSV,
    record_io::NODES_CSV,
    SHARD_JSON,
];

/// Pacing, serialisable.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub enum PacingSpec {
    /// [`Pacing::Open`].
    Open {
        /// Jobs per second.
        rate_per_s: f64,
        /// Jobs released together.
        burst: u32,
        /// Jitter, ns.
        jitter_ns: u64,
        /// In-flight bound.
        max_in_flight: u32,
    },
    /// [`Pacing::Closed`].
    Closed {
        /// Submitters (all generators together).
        workers: u32,
    },
}

/// What every generator runs (the job meta).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GeneratorSpec {
    /// stampede version (a generator of another version refuses).
    pub version: String,
    /// Generators.
    pub count: u32,
    /// Run ID.
    pub run_id: String,
    /// Job-ID prefix.
    pub prefix: String,
    /// Jitter seed.
    pub seed: u64,
    /// The job JSON copied for every submission.
    pub job: Value,
    /// Jobs of the whole run.
    pub jobs: u32,
    /// Pacing of the whole run.
    pub pacing: PacingSpec,
    /// t = 0 of every generator, Unix ns.
    pub start_at_unix_ns: i64,
    /// `--timeout`, ns (from the start).
    pub timeout_ns: u64,
    /// `--drain-timeout`, ns.
    pub drain_timeout_ns: u64,
    /// Attempts per submission.
    pub max_attempts: u32,
    /// Scrape metrics.
    pub scrape_metrics: bool,
    /// Scrape every server.
    pub peer_scrape: bool,
    /// Purge own jobs at the end.
    pub cleanup: bool,
    /// For `run.json`.
    pub scenario: ScenarioInfo,
    /// Scenario SLOs.
    pub slo: BTreeMap<String, f64>,
}

fn spec_of(plan: &RunPlan, count: u32, start_at: i64) -> Result<GeneratorSpec> {
    Ok(GeneratorSpec {
        version: env!("CARGO_PKG_VERSION").into(),
        count,
        run_id: plan.run_id.clone(),
        prefix: plan.prefix.clone(),
        seed: plan.seed,
        job: plan.workload.job.clone(),
        jobs: plan.workload.jobs,
        pacing: match &plan.pacing {
            Pacing::Open {
                rate_per_s,
                burst,
                jitter,
                max_in_flight,
            } => PacingSpec::Open {
                rate_per_s: *rate_per_s,
                burst: *burst,
                jitter_ns: jitter.as_nanos() as u64,
                max_in_flight: *max_in_flight,
            },
            Pacing::Closed { workers } => PacingSpec::Closed { workers: *workers },
        },
        start_at_unix_ns: start_at,
        timeout_ns: plan.timeout.as_nanos() as u64,
        drain_timeout_ns: plan.drain_timeout.as_nanos() as u64,
        max_attempts: plan.max_attempts,
        scrape_metrics: plan.scrape_metrics,
        peer_scrape: plan.peer_scrape,
        cleanup: plan.cleanup,
        scenario: plan.scenario.clone(),
        slo: plan.slo.clone(),
    })
}

/// `stampede run-worker`: generator `index` of the spec in `NOMAD_META_stampede_spec`; writes its record
/// and `shard.json` into `out`. Returns `run`'s exit code for its outcome.
pub async fn run_worker(conn: NomadConnArgs, index: u32, out: &Path) -> Result<u8> {
    let b64 = std::env::var(format!("NOMAD_META_{SPEC_META}"))
        .with_context(|| format!("NOMAD_META_{SPEC_META} is not set: run-worker runs inside the job of `stampede run --as-nomad-job`"))?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .context("decoding the generator spec")?;
    let spec: GeneratorSpec =
        serde_json::from_slice(&bytes).context("parsing the generator spec")?;
    if spec.version != env!("CARGO_PKG_VERSION") {
        bail!(
            "the generator spec was made by stampede {}, this is {}",
            spec.version,
            env!("CARGO_PKG_VERSION")
        );
    }
    if index >= spec.count {
        bail!(
            "--shard-index {index} is not below the {} generators",
            spec.count
        );
    }
    let mut plan = RunPlan {
        conn,
        run_id: spec.run_id.clone(),
        prefix: spec.prefix.clone(),
        out_dir: out.to_path_buf(),
        seed: spec.seed,
        workload: WorkloadPlan {
            job: spec.job.clone(),
            jobs: spec.jobs,
            dispatch: false,
            standing: Vec::new(),
        },
        pacing: match spec.pacing {
            PacingSpec::Open {
                rate_per_s,
                burst,
                jitter_ns,
                max_in_flight,
            } => Pacing::Open {
                rate_per_s,
                burst,
                jitter: Duration::from_nanos(jitter_ns),
                max_in_flight,
            },
            PacingSpec::Closed { workers } => Pacing::Closed { workers },
        },
        algorithm: None,
        cleanup: spec.cleanup,
        timeout: Duration::from_nanos(spec.timeout_ns),
        drain_timeout: Duration::from_nanos(spec.drain_timeout_ns),
        // Generators placed by Nomad wait for their allocations running: the mode the real-cluster merge
        // test covers (`--wait done` for generator tasks is untested).
        wait: crate::load::WaitFor::Running,
        max_attempts: spec.max_attempts,
        scrape_metrics: spec.scrape_metrics,
        peer_scrape: spec.peer_scrape,
        progress: false,
        scenario: spec.scenario.clone(),
        slo: spec.slo.clone(),
        per_page: 500,
        announce: true,
        stop: tokio_util::sync::CancellationToken::new(),
        shard: Some(Shard {
            index,
            count: spec.count,
        }),
        start_at_unix_ns: Some(spec.start_at_unix_ns),
    };
    let shard = super::shard::prepare(&mut plan, true, true)
        .await?
        .context("a generator is always a shard")?;
    let outcome = crate::load::run_load(plan).await?;
    shard.write(&outcome.dir, outcome.meta.start_unix_ns)?;
    Ok(outcome.exit_code())
}

/// How to run a flood as a Nomad job.
#[derive(Debug, Clone)]
pub struct AsNomadJob {
    /// Generators.
    pub count: u32,
    /// The stampede binary on the clients (absolute).
    pub worker_binary: PathBuf,
    /// `--start-at` (default: [`DEFAULT_LEAD`] after registering).
    pub start_at: Option<i64>,
    /// Datacenters of the generator job.
    pub datacenters: Vec<String>,
    /// Say what is happening on stderr.
    pub announce: bool,
}

/// Runs `plan` as `o.count` generators placed by Nomad and writes the merged record to `plan.out_dir`
/// (the generators' own records under `<out>/generators/`). Returns the merged outcome's exit code.
pub async fn run_as_nomad_job(plan: RunPlan, o: &AsNomadJob) -> Result<u8> {
    if o.count == 0 || o.count > super::shard::MAX_SHARDS {
        bail!(
            "--as-nomad-job {}: must be within 1..={}",
            o.count,
            super::shard::MAX_SHARDS
        );
    }
    if !o.worker_binary.is_absolute() {
        bail!(
            "--worker-binary {}: must be an absolute path",
            o.worker_binary.display()
        );
    }
    let Some(addr) = plan.conn.address.clone() else {
        bail!("--as-nomad-job needs --addr (or NOMAD_ADDR)");
    };
    if plan.workload.dispatch || plan.algorithm.is_some() {
        bail!("--as-nomad-job with --dispatch or --algorithm is not supported (see `run --shard`)");
    }
    let client = NomadClient::new(&plan.conn)?;
    let say = |m: String| {
        if o.announce {
            eprintln!("{m}");
        }
    };
    let id = format!("stampede-gen-{}", plan.run_id);
    let start_at = o
        .start_at
        .unwrap_or_else(|| unix_ns_now() + DEFAULT_LEAD.as_nanos() as i64);
    let spec = spec_of(&plan, o.count, start_at)?;
    let meta = base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(&spec)?);
    let ns = client.namespace().to_string();
    let q = vec![("namespace".to_string(), ns.clone())];
    let var_path = format!("nomad/jobs/{id}");
    let mut env = serde_json::Map::new();
    env.insert("NOMAD_ADDR".into(), Value::String(addr.clone()));
    for (k, v) in [
        ("NOMAD_CACERT", plan.conn.ca_cert.as_ref()),
        ("NOMAD_CLIENT_CERT", plan.conn.client_cert.as_ref()),
        ("NOMAD_CLIENT_KEY", plan.conn.client_key.as_ref()),
    ] {
        if let Some(p) = v {
            env.insert(k.into(), Value::String(p.display().to_string()));
        }
    }
    if let Some(r) = &plan.conn.region {
        env.insert("NOMAD_REGION".into(), Value::String(r.clone()));
    }
    env.insert("NOMAD_NAMESPACE".into(), Value::String(ns.clone()));
    let templates = if plan.conn.token.is_some() {
        json!([{
            "EmbeddedTmpl": format!("{{{{ with nomadVar \"{var_path}\" }}}}NOMAD_TOKEN={{{{ .token }}}}{{{{ end }}}}\n"),
            "DestPath": "secrets/nomad.env",
            "Envvars": true,
            "ChangeMode": "noop"
        }])
    } else {
        json!([])
    };
    let secs = |s: u64| s * 1_000_000_000;
    let job = json!({
        "ID": id, "Name": id, "Type": "batch", "Datacenters": o.datacenters, "Priority": 50,
        "Meta": {SPEC_META: meta},
        "TaskGroups": [{
            "Name": "gen",
            "Count": o.count,
            "RestartPolicy": {"Attempts": 0, "Interval": secs(3600), "Delay": secs(1), "Mode": "fail"},
            "ReschedulePolicy": {"Attempts": 0, "Interval": secs(3600), "Delay": secs(5),
                                 "DelayFunction": "constant", "Unlimited": false},
            "Spreads": [{"Attribute": "${node.unique.id}", "Weight": 100}],
            "Tasks": [{
                "Name": "generator",
                "Driver": "raw_exec",
                "Config": {
                    "command": o.worker_binary.display().to_string(),
                    "args": ["run-worker", "--shard-index", "${NOMAD_ALLOC_INDEX}",
                             "--out", "${NOMAD_ALLOC_DIR}/data/record"]
                },
                "Env": env,
                "Templates": templates,
                "Resources": {"CPU": 500, "MemoryMB": 256},
                "KillTimeout": secs(30)
            }]
        }]
    });
    if let Some(tok) = &plan.conn.token {
        let body = json!({"Namespace": ns, "Path": var_path, "Items": {"token": tok}});
        let _: Value = client
            .write(
                reqwest::Method::PUT,
                &format!("/v1/var/{var_path}"),
                &q,
                &body,
            )
            .await
            .with_context(|| format!("writing the token to the Nomad Variable {var_path}"))?;
    }
    let result = async {
        client
            .register_job(&job)
            .await
            .with_context(|| format!("registering the generator job `{id}`"))?;
        say(format!(
            "registered `{id}`: {} generators start at {} (Unix {:.3})",
            o.count,
            chrono::DateTime::from_timestamp_nanos(start_at).to_rfc3339(),
            start_at as f64 / 1e9
        ));
        let bound = Duration::from_nanos((start_at - unix_ns_now()).max(0) as u64)
            + plan.timeout
            + Duration::from_secs(60);
        let end = tokio::time::Instant::now() + bound;
        let allocs: Vec<Value> = loop {
            let (list, _): (Vec<Value>, _) = client
                .get(&format!("/v1/job/{}/allocations", path_escape(&id)), &q)
                .await?;
            let terminal = list
                .iter()
                .filter(|a| {
                    matches!(
                        a["ClientStatus"].as_str(),
                        Some("complete" | "failed" | "lost")
                    )
                })
                .count();
            if list.len() >= o.count as usize && terminal == list.len() {
                break list;
            }
            if tokio::time::Instant::now() >= end || plan.stop.is_cancelled() {
                bail!(
                    "{} of {} generators ended within {:.0} s; stopping (job `{id}` is purged)",
                    terminal,
                    o.count,
                    bound.as_secs_f64()
                );
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        };
        let gen_root = plan.out_dir.join("generators");
        let mut dirs = Vec::new();
        for a in &allocs {
            let aid = a["ID"].as_str().unwrap_or_default().to_string();
            let name = a["Name"].as_str().unwrap_or_default();
            let idx = name
                .rsplit_once('[')
                .and_then(|(_, r)| r.trim_end_matches(']').parse::<u32>().ok())
                .unwrap_or(u32::MAX);
            let d = gen_root.join(format!("shard-{idx}"));
            std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
            let mut ok = true;
            for f in RECORD {
                match client
                    .get_text(
                        &format!("/v1/client/fs/cat/{}", path_escape(&aid)),
                        &[("path".to_string(), format!("alloc/data/record/{f}"))],
                    )
                    .await
                {
                    Ok(t) if f.ends_with(".json") && serde_json::from_str::<Value>(&t).is_err() => {
                        ok = false;
                        eprintln!(
                            "generator {idx} (allocation {aid}): {f} is not JSON ({} bytes): {:?}",
                            t.len(),
                            t.chars().take(300).collect::<String>()
                        );
                        break;
                    }
                    Ok(t) => crate::files::write_atomic(&d.join(f), t.as_bytes())?,
                    Err(e) => {
                        ok = false;
                        let tail = super::plan::stderr_tail(&client, &aid, "generator").await;
                        // Always said (also with --quiet): the merge will name the missing shard.
                        eprintln!(
                            "generator {idx} (allocation {aid}, {}): {f} could not be read: {e}; its last stderr: {tail}",
                            a["ClientStatus"].as_str().unwrap_or("?")
                        );
                        break;
                    }
                }
            }
            if ok {
                dirs.push(d);
            }
        }
        let rec = merge_into(
            &MergeRequest {
                dirs,
                run_id: Some(plan.run_id.clone()),
                clock: ClockCorrection::Auto,
            },
            &plan.out_dir,
        )?;
        say(format!(
            "merged {} generators into {}",
            o.count,
            plan.out_dir.display()
        ));
        anyhow::Ok(rec)
    }
    .await;
    // Purge the job and delete the token's variable, also after an error.
    let _ = client.deregister_job(&id, true).await;
    if plan.conn.token.is_some() {
        let del: Result<Value, _> = client
            .write(
                reqwest::Method::DELETE,
                &format!("/v1/var/{var_path}"),
                &q,
                &json!({}),
            )
            .await;
        match del {
            // Nomad answers a delete with an empty body.
            Ok(_) | Err(crate::nomad::NomadError::Decode { .. }) => {}
            Err(e) => say(format!(
                "could not delete the Nomad Variable {var_path}: {e}"
            )),
        }
    }
    let rec = result?;
    let s = &rec.meta.summary;
    Ok(if s.jobs_submitted == 0 && s.jobs_failed_to_submit > 0 {
        crate::EXIT_ERROR
    } else if !rec.meta.outcome.is_complete() {
        crate::EXIT_PARTIAL
    } else if s.slo.values().any(|r| !r.met) {
        crate::EXIT_FAIL
    } else {
        0
    })
}
