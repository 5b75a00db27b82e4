//! Every calibrated model parameter, in one place, with its default and its source.
//!
//! A scenario overrides any of them in its `[params]` table (same names). `sim/CALIBRATION.md` explains how
//! the defaults were chosen; tags: **[src]** a constant read from Nomad's source, **[doc]** Nomad's docs,
//! **[c2m]** calibrated so `scenarios/c2m.toml` reproduces the published C2M run, **[real]** measured on the
//! real loopback Nomad cluster (`tools/nomad/cluster.sh`, how in the parameter's doc), **[est]** an
//! engineering estimate (documented, overridable, and the first thing to re-calibrate against a real cluster).
//!
//! **CPU costs are reference-core time**: ns or µs of work on a 3.0 GHz Skylake-SP core (IPC 1.0). The
//! cluster divides them by the server's core speed (clock × generation, `model/cpu.rs`) and runs them on the
//! server's cores shared by every goroutine, so a smaller or older server is slower and a saturated one
//! slows everything. Which mechanisms apply (pipeline depth, signing, client-update batching, log store,
//! memdb indexes) comes from the Nomad version (`[cluster] nomad_version`, `model/versions.rs`).

use serde::{Deserialize, Serialize};

macro_rules! params {
    ($( $(#[doc = $doc:literal])* $name:ident : $ty:ty = $default:expr ;)*) => {
        /// Model parameters (all durations in microseconds unless the name says otherwise).
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields, default)]
        pub struct ModelParams {
            $( $(#[doc = $doc])* pub $name: $ty, )*
        }
        impl Default for ModelParams {
            fn default() -> Self {
                Self { $( $name: $default, )* }
            }
        }
        impl ModelParams {
            /// Names of every parameter, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$(stringify!($name)),*];
            /// `(name, default as written in the source, doc comment)` of every parameter, in order.
            pub const DOCS: &'static [(&'static str, &'static str, &'static str)] =
                &[$((stringify!($name), stringify!($default), concat!($($doc, "\n"),*))),*];
            /// `(name, value)` of every parameter as `f64`, in declaration order (for range checks).
            pub fn values(&self) -> Vec<(&'static str, f64)> {
                vec![$((stringify!($name), self.$name as f64)),*]
            }
        }
    };
}

params! {
    // ---- eval broker [src nomad/eval_broker.go] ----
    /// Broker nack timeout: an unacked eval is redelivered after this long, µs. [src] 60 s.
    broker_nack_timeout_us: u64 = 60_000_000;
    /// Broker delivery limit: after this many deliveries an eval fails. [src] 3.
    broker_delivery_limit: u32 = 3;
    /// Re-enqueue delay after the first nack, µs. [src] 1 s.
    broker_initial_nack_delay_us: u64 = 1_000_000;
    /// Re-enqueue delay after later nacks, µs. [src] 20 s.
    broker_subsequent_nack_delay_us: u64 = 20_000_000;

    // ---- scheduler workers ----
    /// Fixed cost of one scheduler invocation: snapshot, reconcile, eval bookkeeping, µs. [est]
    sched_eval_base_us: u64 = 800;
    /// Cost per allocation placed (alloc construction, plan append), µs. [est]
    sched_per_alloc_us: u64 = 15;
    /// Fixed cost per node examined by the ranking stack (feasibility checks, fit score), reference-core
    /// ns. [est] Nomad's `Metrics.AllocationTime` ≈ 75 µs for a placement examining a handful of nodes.
    sched_node_base_ns: u64 = 4_000;
    /// Scheduler cost per allocation of an examined node returned by `state.AllocsByNode` (live or terminal
    /// until GC; `scheduler/context.go:EvalContext.ProposedAllocs`), reference-core ns. [est]
    sched_alloc_scan_ns: u64 = 150;
    /// Scheduler and plan-verifier cost per *live* allocation of a node (proposed-alloc map, `AllocsFit`
    /// sum; `plan_apply.go:evaluateNodePlan`), reference-core ns. [est]
    sched_live_alloc_ns: u64 = 250;
    /// Extra latency for a follower's worker to dequeue from the leader (RPC round trip), µs. [est]
    worker_dequeue_rpc_us: u64 = 400;
    /// Scheduler attempts for batch jobs before the eval is blocked. [src] 2.
    batch_max_attempts: u32 = 2;
    /// Scheduler attempts for service jobs before the eval is blocked. [src] 5.
    service_max_attempts: u32 = 5;

    // ---- plan applier [src nomad/plan_apply.go] ----
    /// Fixed cost of verifying one plan on the leader, µs. [est]
    plan_verify_base_us: u64 = 150;
    /// Fixed cost to verify one node of a plan (`evaluateNodePlan`: snapshot reads, `AllocsFit`), reference-core
    /// ns, plus `sched_live_alloc_ns` per live allocation of the node. The applier verifies nodes on a pool of
    /// NumCPU/2 goroutines; this is the effective serial cost. [est] (C2M hides it behind the FSM)
    plan_verify_node_ns: u64 = 20_000;
    /// One RS256 (RSA-2048) workload-identity signature on the plan applier (`plan_apply.go:signAllocIdentities`,
    /// `encrypter.go:SignClaims`, 1.7+), reference-core µs. [est] Go `crypto/rsa` 2048-bit sign ≈ 1–1.5 ms.
    sign_rs256_us: u64 = 1_200;
    /// One Ed25519 workload-identity signature (1.4–1.6), reference-core µs. [est] `crypto/ed25519` ≈ 25–50 µs.
    sign_ed25519_us: u64 = 40;

    // ---- Raft and FSM ----
    /// Median fsync latency of the servers' disks, µs; 0 = the storage class's figure (the cluster's `storage`,
    /// default from the server instance type: `sim/src/model/storage.rs`). [est] (per class: MECHANISMS.md §3)
    raft_fsync_median_us: u64 = 0;
    /// Log-normal sigma of the fsync latency (used with an explicit `raft_fsync_median_us`). [est]
    raft_fsync_sigma: f64 = 0.35;
    /// Raft replication round trip leader → follower (same region), µs. [est] 0.3–0.5 ms intra-region.
    raft_rtt_us: u64 = 450;
    /// Sequential write bandwidth of the servers' disks, bytes/s; 0 = the storage class's figure. [est]
    raft_disk_bytes_per_s: u64 = 0;
    /// Bytes of a job register entry, before task groups. [est] msgpack of a small jobspec.
    raft_job_register_bytes: u64 = 3_000;
    /// Bytes per task group in a job register entry. [est]
    raft_job_group_bytes: u64 = 1_200;
    /// Bytes per allocation in a plan-result entry (normalised allocs, job sent once). [est]
    raft_plan_alloc_bytes: u64 = 600;
    /// Bytes per allocation in a client-update entry. [est]
    raft_client_update_alloc_bytes: u64 = 350;
    /// Fixed bytes of any entry (Raft log framing, eval updates riding along). [est]
    raft_entry_overhead_bytes: u64 = 400;
    /// FSM apply cost of a job register (memdb insert, eval create, summary), reference-core µs. [est]
    fsm_register_job_us: u64 = 300;
    /// FSM cost per plan-result allocation besides its index inserts, copies and summary (lookups, deployment
    /// and job status; `state_store.go:upsertAllocsImpl`), reference-core ns. [c2m] the remainder that makes
    /// plan + client-update cost 665 µs per allocation on an i3.16xlarge core at C2M's shape (530 + 135 µs,
    /// the prior split), see CALIBRATION.md.
    fsm_plan_alloc_base_ns: u64 = 297_700;
    /// FSM cost per client-update allocation besides index inserts, copies and summary
    /// (`state_store.go:nestedUpdateAllocFromClient`), reference-core ns. [c2m] remainder, as above.
    fsm_client_alloc_base_ns: u64 = 8_744;
    /// One go-memdb index insert of an allocation (radix path copy); every allocs-table index is updated
    /// (6 indexes in 1.0–1.2, 8 in 1.3–1.4, 9 from 1.5: `nomad/state/schema.go:allocTableSchema`),
    /// reference-core ns. [est]
    fsm_index_insert_ns: u64 = 8_000;
    /// Decode / deep-copy cost per KiB (allocations, the job embedded in a client-update copy, identity
    /// tokens), reference-core ns. [est]
    fsm_copy_per_kib_ns: u64 = 4_000;
    /// Copy and upsert of the job summary per allocation (`updateSummaryWithAlloc`), reference-core ns. [est]
    fsm_summary_copy_ns: u64 = 10_000;
    /// FSM apply fixed cost per entry, reference-core µs. [est]
    fsm_entry_base_us: u64 = 50;
    /// Bytes of an allocation without its job and tasks (resources, metrics, indexes' keys). [est]
    alloc_base_bytes: u64 = 1_536;
    /// Bytes per task of an allocation (task resources and states). [est]
    alloc_task_bytes: u64 = 1_024;
    /// Bytes of one signed workload-identity token stored with the allocation per task (1.4+). [est] RS256 JWT
    /// ≈ 0.9 KiB.
    identity_token_bytes: u64 = 900;
    /// Server-side batching window for client alloc updates into one Raft entry, µs. [src] 50 ms.
    server_update_batch_us: u64 = 50_000;
    /// Raft entries between snapshots (`raft_snapshot_threshold`). [src] 8192.
    raft_snapshot_threshold: u64 = 8_192;
    /// Minimum time between snapshots (`raft_snapshot_interval`), µs. [src] 120 s.
    raft_snapshot_interval_us: u64 = 120_000_000;

    // ---- clients [src client/] ----
    /// Client batching interval of alloc status updates, µs. [src] 200 ms.
    client_update_batch_us: u64 = 200_000;
    /// Delay from plan commit until the client's blocking query returns the new alloc, µs. [est]
    client_notice_us: u64 = 30_000;
    /// Median task driver start (Docker create + start of a small image), µs. [est] `docker run alpine` ≈ 0.4 s.
    driver_start_median_us: u64 = 400_000;
    /// Log-normal sigma of driver start. [est]
    driver_start_sigma: f64 = 0.4;
    /// Client-host CPU of one task start, after the driver's delay, processor-shared on the host's cores
    /// with every other start in progress there (`cluster/client.rs`): the alloc and task runners' hooks
    /// and the fork/exec and Go start-up of a `nomad logmon` and a `nomad executor` (raw_exec, exec) or
    /// `nomad docker_logger` (docker) plugin process per task, reference-core µs; 0 turns the mechanism
    /// off. [real] 140 ms. Measured on the loopback cluster (3 raw_exec clients on one 2-core AMD EPYC VM at
    /// 2,445 MHz, 0.815 × the reference core as a scenario describes it): the client agents' CPU (user +
    /// system of each agent and of its reaped plugin processes and tasks, `/proc/PID/stat`) net of their idle
    /// use was 174, 177 and 169 ms per task for 20 count-1 jobs at 1/s, one count-60 job and one count-200
    /// job (a `sleep 2` task each): ≈ 172 ms whatever the concurrency, × 0.815 ≈ 140 ms. It includes the
    /// task's stop (plugins killed and reaped); `nomad version` alone costs 50 ms of CPU here.
    client_task_start_cpu_us: u64 = 140_000;
    /// Image pull bandwidth per node, bytes/s. [est] ≈ 100 MB/s from a regional registry.
    image_pull_bytes_per_s: u64 = 100_000_000;
    /// Fixed per-pull overhead (manifest, auth, extract start), µs. [est]
    image_pull_base_us: u64 = 1_500_000;
    /// Unused images are garbage-collected after this long, µs. [src] 3 min.
    image_gc_after_us: u64 = 180_000_000;
    /// Heartbeat floor `min_heartbeat_ttl`, µs. [src] 10 s.
    min_heartbeat_ttl_us: u64 = 10_000_000;
    /// `max_heartbeats_per_second`. [src] 50.
    max_heartbeats_per_second: f64 = 50.0;
    /// Grace after a missed TTL before a node is marked down, µs. [src] 10 s.
    heartbeat_grace_us: u64 = 10_000_000;
    /// Server CPU per heartbeat handled, µs. [est]
    heartbeat_cpu_us: u64 = 60;
    /// Spot interruption notice, µs. [doc AWS] 2 min.
    spot_notice_us: u64 = 120_000_000;
    // Restart and reschedule policies are per job (api.rs `RestartPolicy`, `ReschedulePolicy`), with
    // Nomad's defaults per job type.

    // ---- control plane, misc ----
    /// HTTP round trip between a submitter and the leader (register request → response), µs. [est]
    api_rtt_us: u64 = 1_000;
    /// Capacity changes within this window unblock blocked evals together (one pass), µs. [est] Nomad's
    /// blocked-evals watcher processes capacity updates in a loop; this coalescing keeps unblock storms cheap.
    unblock_coalesce_us: u64 = 100_000;
    /// Leader election after a leader loss (no scheduling meanwhile), µs. [est] raft election timeout 1 s ×
    /// jitter, plus barrier and broker restore.
    leader_election_us: u64 = 2_500_000;
    /// Heartbeat TTL given to every node after a leader failover, µs. [src] 300 s (`failoverHeartbeatTTL`).
    failover_heartbeat_ttl_us: u64 = 300_000_000;
    /// Probability that a rate-based spot interruption comes with a usable 2-minute notice (drain). [est]
    /// CI operators report that the 2-minute notice rarely arrives in time to drain.
    spot_notice_probability: f64 = 0.1;
    /// Time for a client to kill a stopped allocation's task, µs. [est] docker stop of an idle container.
    client_kill_us: u64 = 500_000;

    // ---- server resources ----
    /// RSS of a server with no state, bytes. [doc C2M] < 100 MB with no nodes.
    mem_base_bytes: u64 = 65_000_000;
    /// State bytes per client node (node struct, fingerprints, indexes, heartbeat timers). [c2m]
    /// RSS before any work with 6,100 nodes ⇒ 3.5 GB / 1.4 (GC factor) / 6,100 ≈ 400 kB/node.
    mem_per_node_bytes: u64 = 400_000;
    /// State bytes per job (job struct, versions, summary). [est]
    mem_per_job_bytes: u64 = 24_000;
    /// State bytes per allocation (alloc struct without the job, indexes). [est]
    mem_per_alloc_bytes: u64 = 2_600;
    /// State bytes per evaluation. [est]
    mem_per_eval_bytes: u64 = 1_500;
    /// Go heap overhead factor applied to live state (GOGC=100 keeps up to 2× live; RSS sits between). [est]
    mem_gc_factor: f64 = 1.4;
    /// CPU overhead factor on modelled busy time (GC, RPC, serialisation). [est]
    cpu_overhead_factor: f64 = 1.3;
    /// CPU cost per allocation of client updates received over RPC (decode, batch), µs. [est]
    rpc_client_update_alloc_us: u64 = 20;
}

impl ModelParams {
    /// Heartbeat TTL base `max(min_heartbeat_ttl, N / max_heartbeats_per_second)`, µs ([src] `nomad/heartbeat.go`).
    pub fn heartbeat_ttl_base_us(&self, nodes: usize) -> u64 {
        let rate = (nodes as f64 / self.max_heartbeats_per_second * 1e6) as u64;
        self.min_heartbeat_ttl_us.max(rate)
    }
}

/// Parameters that count attempts or entries and must be at least 1 (0 would disable the mechanism, which
/// Nomad does not allow: e.g. `broker_delivery_limit = 0` would fail every eval on its first delivery).
const AT_LEAST_ONE: &[&str] = &[
    "broker_delivery_limit",
    "batch_max_attempts",
    "service_max_attempts",
    "raft_snapshot_threshold",
    "image_pull_bytes_per_s",
];

impl ModelParams {
    /// Range-checks every parameter by its unit (the name's suffix, see [`unit`]): durations `_us` within
    /// `0..=`[`crate::limits::MAX_DURATION_S`]; rates `_per_second` and bandwidths `_bytes_per_s` positive;
    /// `_sigma` within `0..=10`; `_probability` within `0..=1`; `_factor` within `1..=100` (an overhead
    /// factor below 1 would make work free); counts in `AT_LEAST_ONE` at least 1; every value finite.
    /// Returns `(name, message)` of the first parameter out of range.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let max_us = (crate::limits::MAX_DURATION_S * 1_000_000) as f64;
        for (name, v) in self.values() {
            let bad = |why: &str| Err((name, format!("{v} {why}")));
            if !v.is_finite() {
                return Err((name, format!("{v} must be a finite number")));
            }
            if v < 0.0 {
                return bad("must not be negative");
            }
            match unit(name) {
                "µs" if v > max_us => {
                    return bad(&format!(
                        "µs is beyond the {} days bound",
                        crate::limits::MAX_DURATION_S / 86_400
                    ))
                }
                "1/s" | "bytes/s" if v <= 0.0 && name != "raft_disk_bytes_per_s" => {
                    return bad("must be positive")
                }
                "ns" if v > max_us * 1_000.0 => return bad("ns is beyond the duration bound"),
                "log-normal σ" if v > 10.0 => return bad("must be within 0..=10"),
                "probability" if v > 1.0 => return bad("must be within 0..=1"),
                "factor" if !(1.0..=100.0).contains(&v) => return bad("must be within 1..=100"),
                _ => {}
            }
            if AT_LEAST_ONE.contains(&name) && v < 1.0 {
                return bad("must be at least 1");
            }
        }
        Ok(())
    }
}

/// Unit of a parameter, from its name's suffix (the naming convention of this file).
pub fn unit(name: &str) -> &'static str {
    if name.ends_with("_us") {
        "µs"
    } else if name.ends_with("_ns") {
        "ns"
    } else if name.ends_with("_bytes_per_s") {
        "bytes/s"
    } else if name.ends_with("_bytes") {
        "bytes"
    } else if name.ends_with("_per_second") {
        "1/s"
    } else if name.ends_with("_probability") {
        "probability"
    } else if name.ends_with("_sigma") {
        "log-normal σ"
    } else if name.ends_with("_factor") {
        "factor"
    } else {
        "count"
    }
}

/// Splits a parameter's doc comment into its provenance tag (`src`, `est`, `c2m`, `doc AWS`, …; the
/// first bracketed tag) and its meaning (the text without the tag), on one line.
pub fn provenance(doc: &str) -> (String, String) {
    let text = doc.split_whitespace().collect::<Vec<_>>().join(" ");
    let tag = text.find('[').and_then(|i| {
        let j = text[i..].find(']')? + i;
        let t = &text[i + 1..j];
        ["src", "est", "c2m", "doc", "real"]
            .iter()
            .any(|k| t.starts_with(k))
            .then(|| (i, j, t.to_string()))
    });
    match tag {
        Some((i, j, t)) => {
            let meaning = format!("{}{}", &text[..i], &text[j + 1..]);
            let meaning = meaning.split_whitespace().collect::<Vec<_>>().join(" ");
            (t, meaning)
        }
        None => (String::new(), text),
    }
}

/// The "Every parameter" table of `sim/CALIBRATION.md`, generated from the declarations above: name,
/// default, unit, provenance tag and meaning of every parameter, in declaration order.
pub fn table_markdown() -> String {
    let mut out =
        String::from("| parameter | default | unit | source | meaning |\n|---|---|---|---|---|\n");
    for (name, default, doc) in ModelParams::DOCS {
        let (tag, meaning) = provenance(doc);
        out.push_str(&format!(
            "| `{name}` | {} | {} | {} | {} |\n",
            default.replace(' ', ""),
            unit(name),
            if tag.is_empty() {
                String::new()
            } else {
                format!("[{tag}]")
            },
            meaning.replace('|', "\\|")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `sim/CALIBRATION.md`'s table must be the generated one. To refresh it after changing a parameter:
    /// `STAMPEDE_WRITE_CALIBRATION=1 cargo test -p stampede-sim --lib params`.
    #[test]
    fn calibration_table_matches_params() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/CALIBRATION.md");
        let doc = std::fs::read_to_string(path).expect("read CALIBRATION.md");
        let start =
            doc.find("## Every parameter\n").expect("section") + "## Every parameter\n".len();
        let end = start + doc[start..].find("\n## ").expect("next section");
        let want = format!("\n{}", table_markdown());
        if doc[start..end] != want {
            if std::env::var_os("STAMPEDE_WRITE_CALIBRATION").is_some() {
                let fresh = format!("{}{}{}", &doc[..start], want, &doc[end..]);
                std::fs::write(path, fresh).expect("write CALIBRATION.md");
                return;
            }
            panic!(
                "sim/CALIBRATION.md's parameter table differs from params.rs; rerun with \
                 STAMPEDE_WRITE_CALIBRATION=1 to rewrite it. Fresh table:\n{}",
                table_markdown()
            );
        }
    }

    #[test]
    fn provenance_splits_tag_and_meaning() {
        assert_eq!(
            provenance(" Broker delivery limit. [src] 3.\n"),
            ("src".into(), "Broker delivery limit. 3.".into())
        );
        assert_eq!(
            provenance(" Spot notice, µs. [doc AWS] 2 min.\n").0,
            "doc AWS"
        );
        assert!(
            ModelParams::DOCS
                .iter()
                .all(|(_, _, d)| !provenance(d).0.is_empty()),
            "every parameter is tagged"
        );
        assert_eq!(unit("raft_disk_bytes_per_s"), "bytes/s");
    }

    #[test]
    fn validate_rejects_out_of_range_values() {
        assert_eq!(ModelParams::default().validate(), Ok(()));
        let check = |f: fn(&mut ModelParams), key: &str| {
            let mut p = ModelParams::default();
            f(&mut p);
            let e = p.validate().unwrap_err();
            assert_eq!(e.0, key, "{e:?}");
        };
        check(|p| p.raft_fsync_sigma = -1.0, "raft_fsync_sigma");
        check(|p| p.raft_fsync_sigma = f64::NAN, "raft_fsync_sigma");
        check(|p| p.broker_delivery_limit = 0, "broker_delivery_limit");
        check(
            |p| p.max_heartbeats_per_second = 0.0,
            "max_heartbeats_per_second",
        );
        check(
            |p| p.spot_notice_probability = 1.5,
            "spot_notice_probability",
        );
        check(|p| p.mem_gc_factor = 0.5, "mem_gc_factor");
        check(|p| p.api_rtt_us = u64::MAX, "api_rtt_us");
        check(|p| p.image_pull_bytes_per_s = 0, "image_pull_bytes_per_s");
    }

    #[test]
    fn heartbeat_ttl_matches_nomad_formula() {
        let p = ModelParams::default();
        assert_eq!(p.heartbeat_ttl_base_us(10), 10_000_000);
        assert_eq!(p.heartbeat_ttl_base_us(500), 10_000_000);
        assert_eq!(p.heartbeat_ttl_base_us(5_000), 100_000_000);
        assert_eq!(p.heartbeat_ttl_base_us(6_100), 122_000_000);
    }
}
