//! Nomad versions and the control-plane mechanisms each one has, with that version's defaults.
//!
//! A scenario names a version (`[cluster] nomad_version = "1.0" | "1.6" | "1.10" | "2.0.5" …`);
//! [`NomadVersion::parse`] reads it and [`VersionProfile::for_version`] gives the defaults below, each of which
//! [`VersionProfile::set`] can override (an override needing a feature the version lacks is an error).
//! Sources and the commit/tag where each mechanism appeared are in `sim/MECHANISMS.md` §1; in short:
//!
//! | field | behaviour | versions | source |
//! |---|---|---|---|
//! | `plan_apply_pipeline` | plans in Raft at once (default 1) | configurable ≥ 2.0.5 | [src] `nomad/plan_apply.go:planner.planApply` (#28249, 34110d0222) |
//! | `signing` | one JWT per alloc × task, serial on the applier | Ed25519 1.4–1.6, RS256 ≥ 1.7 | [src] `plan_apply.go:signAllocIdentities`, `nomad/encrypter.go:Encrypter.SignClaims` |
//! | `client_update_every_ticks` | non-urgent alloc updates every 5th 200 ms tick | ≥ 1.6.0 (1 before) | [src] `client/client.go:pendingClientUpdates.nextBatch` (#17354) |
//! | `log_store` / `raft_wal_available` | boltdb (2 fsyncs) or raft-wal (1) | wal ≥ 2.0.0 | [src] `nomad/server.go:Server.setupRaft` (#27493) |
//! | `raft_max_rpcs_in_flight` | AppendEntries pipeline depth | 128 ≤ 1.5 (raft < 1.5), 2 ≥ 1.6 | [src] raft `net_transport.go` (#541) |
//! | `node_limit` | nodes scored per placement with spread/affinity | all < 1.0.16/1.1.10/1.2.4, then 100, configurable ≥ 2.0.1 | [src] `scheduler/stack.go:GenericStack.SetTaskGroup` (#11712, #27650) |
//! | `batch_max_run_duration` | `max_run_duration` on batch groups | ≥ 2.0.3 | [src] `client/allocrunner/max_run_duration_hook.go` |
//! | `node_pools` | `node_pool` on jobs and clients | ≥ 1.6.0 | [src] `nomad/structs/node_pool.go`, `scheduler/util.go:readyNodesInDCsAndPool` |
//! | `alloc_indexes` | memdb indexes on the allocs table | 6 < 1.3, 8 < 1.5, 9 ≥ 1.5 | [src] `nomad/state/schema.go:allocTableSchema` |
//! | `client_update_copies_job` | client updates deep-copy the alloc with its job | all | [src] `state_store.go:nestedUpdateAllocFromClient` |
//! | `eval_gc` / `eval_gc_threshold_s` | evaluation GC every 5 min, 1 h threshold | all | [src] `nomad/core_sched.go:CoreScheduler.evalGC`, `nomad/config.go:DefaultConfig` |
//! | `batch_eval_gc_threshold_s` | batch evaluations of live jobs reaped after 24 h | ≥ 1.4.5 / 1.5.0 (never before) | [src] `core_sched.go:gcEval` (#15097, 2285432424) |
//!
//! A version without a patch (`"1.6"`) means the series' `.0` release. Versions newer than the newest
//! source read here (2.0.5) get the 2.0.5 profile with `extrapolated = true`, so callers can warn.

use std::cmp::Ordering;
use std::fmt;

use super::storage::LogStoreKind;

/// A Nomad release `major.minor[.patch]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NomadVersion {
    major: u16,
    minor: u16,
    patch: Option<u16>,
}

/// Why a version string or an override was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum VersionError {
    /// Not of the form `major.minor[.patch]`.
    #[error("nomad_version {input:?}: {why} (expected major.minor or major.minor.patch, e.g. \"1.6\" or \"2.0.5\")")]
    Syntax {
        /// The text given.
        input: String,
        /// What is wrong with it.
        why: String,
    },
    /// Older than the oldest version modelled.
    #[error("nomad_version {0}: versions before 1.0 are not modelled")]
    TooOld(String),
    /// Unknown override key.
    #[error("unknown version setting {0:?} (known: {known})", known = VersionProfile::KEYS.join(", "))]
    UnknownKey(String),
    /// Override value does not parse or is out of range.
    #[error("version setting {key} = {value:?}: {why}")]
    BadValue {
        /// Key.
        key: String,
        /// Value given.
        value: String,
        /// Why.
        why: String,
    },
    /// The version does not have the feature the override needs.
    #[error("version setting {key}: {why} (nomad_version {version})")]
    NotInVersion {
        /// Key.
        key: &'static str,
        /// Version in force.
        version: String,
        /// What the version lacks.
        why: &'static str,
    },
}

impl NomadVersion {
    /// `major.minor.patch`.
    pub(crate) const fn new(major: u16, minor: u16, patch: u16) -> Self {
        NomadVersion {
            major,
            minor,
            patch: Some(patch),
        }
    }

    /// The newest version whose source was read for this model.
    pub(crate) const NEWEST_READ: NomadVersion = NomadVersion::new(2, 0, 5);

    /// Parses `"1.6"`, `"1.10"`, `"2.0.5"`, `"v1.6.5"`; refuses anything else (pre-release suffixes, four
    /// components, empty parts, signs, versions before 1.0).
    pub(crate) fn parse(input: &str) -> Result<Self, VersionError> {
        let syntax = |why: &str| VersionError::Syntax {
            input: input.to_string(),
            why: why.to_string(),
        };
        let s = input.trim();
        let s = s.strip_prefix('v').unwrap_or(s);
        if s.is_empty() {
            return Err(syntax("empty"));
        }
        if let Some(i) = s.find(['-', '+']) {
            return Err(syntax(&format!(
                "pre-release or build suffix {:?} is not supported: name the release",
                &s[i..]
            )));
        }
        let mut parts = [0u16; 3];
        let mut n = 0;
        for p in s.split('.') {
            if n == 3 {
                return Err(syntax("more than three components"));
            }
            if p.is_empty() {
                return Err(syntax("empty component"));
            }
            if !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(syntax(&format!("{p:?} is not a number")));
            }
            parts[n] = p
                .parse()
                .map_err(|_| syntax(&format!("{p:?} is too large")))?;
            n += 1;
        }
        if n < 2 {
            return Err(syntax("missing minor version"));
        }
        let v = NomadVersion {
            major: parts[0],
            minor: parts[1],
            patch: (n == 3).then_some(parts[2]),
        };
        if v < NomadVersion::new(1, 0, 0) {
            return Err(VersionError::TooOld(v.to_string()));
        }
        Ok(v)
    }

    fn key(self) -> (u16, u16, u16) {
        (self.major, self.minor, self.patch.unwrap_or(0))
    }

    /// At least `major.minor.patch`.
    pub(crate) fn at_least(self, major: u16, minor: u16, patch: u16) -> bool {
        self.key() >= (major, minor, patch)
    }
}

impl PartialEq for NomadVersion {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl Eq for NomadVersion {}
impl PartialOrd for NomadVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for NomadVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

impl fmt::Display for NomadVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.patch {
            Some(p) => write!(f, "{}.{}.{}", self.major, self.minor, p),
            None => write!(f, "{}.{}", self.major, self.minor),
        }
    }
}

/// How the plan applier signs workload identities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signing {
    /// No workload identities (< 1.4).
    None,
    /// Ed25519 JWTs (1.4–1.6; also ≥ 1.7 for keys without an RSA key).
    Ed25519,
    /// RS256 with a 2048-bit RSA key (≥ 1.7).
    Rs256,
}

impl Signing {
    /// Default cost of one signature on the reference core (3.0 GHz Skylake-SP, `cpu.rs`), ns. [est] Go
    /// `crypto/rsa` 2048-bit sign ≈ 1–1.5 ms, `crypto/ed25519` sign ≈ 25–50 µs, plus claims and JSON.
    pub(crate) fn default_cost_ns(self) -> u64 {
        match self {
            Signing::None => 0,
            Signing::Ed25519 => 40_000,
            Signing::Rs256 => 1_200_000,
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "none" => Some(Signing::None),
            "ed25519" => Some(Signing::Ed25519),
            "rs256" => Some(Signing::Rs256),
            _ => None,
        }
    }
}

/// The mechanisms of one Nomad version with their defaults (all overridable through [`VersionProfile::set`]).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct VersionProfile {
    /// The version.
    pub(crate) version: NomadVersion,
    /// Newer than the newest source read; behaviour is the newest known.
    pub(crate) extrapolated: bool,
    /// Plans dispatched to Raft and not yet committed, at most ([src] `plan_apply_pipeline`, default 1).
    pub(crate) plan_apply_pipeline: u32,
    /// Whether `plan_apply_pipeline` may exceed 1 (≥ 2.0.5).
    pub(crate) plan_apply_pipeline_configurable: bool,
    /// Identity signing on the plan applier.
    pub(crate) signing: Signing,
    /// Cost of one signature on the reference core, ns. [est]
    pub(crate) sign_cost_ns: u64,
    /// Client alloc-sync tick, ns ([src] `allocSyncIntv` 200 ms).
    pub(crate) client_update_tick_ns: u64,
    /// Non-urgent client updates go every this many ticks ([src] 5 from 1.6.0, 1 before).
    pub(crate) client_update_every_ticks: u32,
    /// Server-side batching of `Node.UpdateAlloc` into one Raft entry, ns ([src] `batchUpdateInterval` 50 ms).
    pub(crate) server_update_batch_ns: u64,
    /// Raft log store.
    pub(crate) log_store: LogStoreKind,
    /// Whether raft-wal can be selected (≥ 2.0.0).
    pub(crate) raft_wal_available: bool,
    /// Entries per AppendEntries / group commit ([src] hashicorp/raft `MaxAppendEntries` 64; Nomad never sets it).
    pub(crate) raft_max_append_entries: u32,
    /// AppendEntries RPCs in flight per follower ([src] 128 with raft < 1.5 (Nomad ≤ 1.5), 2 after).
    pub(crate) raft_max_rpcs_in_flight: u32,
    /// Nodes scored per placement when the group has spread or affinities (`None` = every feasible node).
    pub(crate) node_limit: Option<u32>,
    /// Whether `node_limit` is a scheduler configuration (≥ 2.0.1).
    pub(crate) node_limit_configurable: bool,
    /// Whether batch groups may set `max_run_duration` (≥ 2.0.3).
    pub(crate) batch_max_run_duration: bool,
    /// Node pools (`node_pool` on jobs and clients; ≥ 1.6.0, [src] `nomad/structs/node_pool.go`,
    /// `scheduler/util.go: readyNodesInDCsAndPool`).
    pub(crate) node_pools: bool,
    /// memdb indexes on the allocs table (each plan-result insert updates all of them).
    pub(crate) alloc_indexes: u32,
    /// Client updates deep-copy the alloc including its embedded job (every version read).
    pub(crate) client_update_copies_job: bool,
    /// Plan results carry the job once, allocs normalised (≥ 0.9.2, so every modelled version).
    pub(crate) plan_normalised: bool,
    /// The leader's evaluation GC runs (Nomad: always; `eval_gc = false` turns it off for what-ifs).
    pub(crate) eval_gc: bool,
    /// `eval_gc_threshold`, ns ([src] `nomad/config.go:DefaultConfig` 1 h, every version).
    pub(crate) eval_gc_threshold_ns: u64,
    /// `batch_eval_gc_threshold`, ns (24 h from 1.4.5 and 1.5.0; `None` before: batch evaluations of live
    /// jobs are never reaped by eval GC).
    pub(crate) batch_eval_gc_threshold_ns: Option<u64>,
}

impl VersionProfile {
    /// Override keys [`VersionProfile::set`] accepts.
    pub(crate) const KEYS: &'static [&'static str] = &[
        "plan_apply_pipeline",
        "signing",
        "sign_cost_ns",
        "client_update_every_ticks",
        "log_store",
        "node_limit_for_feasibility_checks",
        "alloc_indexes",
        "client_update_copies_job",
        "eval_gc",
        "eval_gc_threshold_s",
        "batch_eval_gc_threshold_s",
    ];

    /// The defaults of `v`.
    pub(crate) fn for_version(v: NomadVersion) -> Self {
        let signing = if v.at_least(1, 7, 0) {
            Signing::Rs256
        } else if v.at_least(1, 4, 0) {
            Signing::Ed25519
        } else {
            Signing::None
        };
        // #11712 fix: 1.0.16, 1.1.10, 1.2.4 and every later series.
        let node_limit_fixed = v.at_least(1, 3, 0)
            || (v.major == 1 && v.minor == 2 && v.at_least(1, 2, 4))
            || (v.major == 1 && v.minor == 1 && v.at_least(1, 1, 10))
            || (v.major == 1 && v.minor == 0 && v.at_least(1, 0, 16));
        VersionProfile {
            version: v,
            extrapolated: v > NomadVersion::NEWEST_READ,
            plan_apply_pipeline: 1,
            plan_apply_pipeline_configurable: v.at_least(2, 0, 5),
            signing,
            sign_cost_ns: signing.default_cost_ns(),
            client_update_tick_ns: 200_000_000,
            client_update_every_ticks: if v.at_least(1, 6, 0) { 5 } else { 1 },
            server_update_batch_ns: 50_000_000,
            log_store: LogStoreKind::BoltDb,
            raft_wal_available: v.at_least(2, 0, 0),
            raft_max_append_entries: 64,
            raft_max_rpcs_in_flight: if v.at_least(1, 6, 0) { 2 } else { 128 },
            node_limit: node_limit_fixed.then_some(100),
            node_limit_configurable: v.at_least(2, 0, 1),
            batch_max_run_duration: v.at_least(2, 0, 3),
            node_pools: v.at_least(1, 6, 0),
            alloc_indexes: if v.at_least(1, 5, 0) {
                9
            } else if v.at_least(1, 3, 0) {
                8
            } else {
                6
            },
            client_update_copies_job: true,
            plan_normalised: true,
            eval_gc: true,
            eval_gc_threshold_ns: 3_600 * 1_000_000_000,
            // #15097 shipped in 1.5.0 and was backported to 1.4.5.
            batch_eval_gc_threshold_ns: (v.at_least(1, 5, 0)
                || (v.major == 1 && v.minor == 4 && v.at_least(1, 4, 5)))
            .then_some(24 * 3_600 * 1_000_000_000),
        }
    }

    /// Parses `version` and returns its defaults.
    pub(crate) fn parse(version: &str) -> Result<Self, VersionError> {
        NomadVersion::parse(version).map(Self::for_version)
    }

    /// Overrides one setting (`--set KEY=VALUE` / scenario table), refusing what the version cannot do.
    pub(crate) fn set(&mut self, key: &str, value: &str) -> Result<(), VersionError> {
        let bad = |why: &str| VersionError::BadValue {
            key: key.to_string(),
            value: value.to_string(),
            why: why.to_string(),
        };
        let num = |max: u64| -> Result<u64, VersionError> {
            let n: u64 = value
                .trim()
                .parse()
                .map_err(|_| bad("not a non-negative integer"))?;
            if n > max {
                return Err(bad(&format!("larger than {max}")));
            }
            Ok(n)
        };
        let version = self.version.to_string();
        match key {
            "plan_apply_pipeline" => {
                let n = num(1024)?;
                if n == 0 {
                    return Err(bad("must be at least 1"));
                }
                if n > 1 && !self.plan_apply_pipeline_configurable {
                    return Err(VersionError::NotInVersion {
                        key: "plan_apply_pipeline",
                        version,
                        why: "plans are pipelined into Raft only from Nomad 2.0.5",
                    });
                }
                self.plan_apply_pipeline = n as u32;
            }
            "signing" => {
                let s = Signing::parse(value.trim())
                    .ok_or_else(|| bad("expected none, ed25519 or rs256"))?;
                let ok = match s {
                    Signing::None => true,
                    Signing::Ed25519 => self.version.at_least(1, 4, 0),
                    Signing::Rs256 => self.version.at_least(1, 7, 0),
                };
                if !ok {
                    return Err(VersionError::NotInVersion {
                        key: "signing",
                        version,
                        why: "workload identities are signed from 1.4 (Ed25519) and with RS256 from 1.7",
                    });
                }
                self.signing = s;
                self.sign_cost_ns = s.default_cost_ns();
            }
            "sign_cost_ns" => self.sign_cost_ns = num(1_000_000_000)?,
            "client_update_every_ticks" => {
                let n = num(1_000)?;
                if n == 0 {
                    return Err(bad("must be at least 1"));
                }
                self.client_update_every_ticks = n as u32;
            }
            "log_store" => {
                let s = LogStoreKind::parse(value).map_err(|e| bad(&e))?;
                if s == LogStoreKind::RaftWal && !self.raft_wal_available {
                    return Err(VersionError::NotInVersion {
                        key: "log_store",
                        version,
                        why: "the raft-wal log store exists from Nomad 2.0.0",
                    });
                }
                self.log_store = s;
            }
            "node_limit_for_feasibility_checks" => {
                if !self.node_limit_configurable {
                    return Err(VersionError::NotInVersion {
                        key: "node_limit_for_feasibility_checks",
                        version,
                        why:
                            "NodeLimitForFeasibilityChecks is a scheduler setting from Nomad 2.0.1",
                    });
                }
                // [src] 0 means the default (100).
                let n = num(u32::MAX as u64)?;
                self.node_limit = Some(if n == 0 { 100 } else { n as u32 });
            }
            "alloc_indexes" => {
                let n = num(64)?;
                if n == 0 {
                    return Err(bad("must be at least 1 (the id index)"));
                }
                self.alloc_indexes = n as u32;
            }
            "client_update_copies_job" => {
                self.client_update_copies_job = match value.trim() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(bad("expected true or false")),
                }
            }
            "eval_gc" => {
                self.eval_gc = match value.trim() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(bad("expected true or false")),
                }
            }
            "eval_gc_threshold_s" => {
                let n = num(365 * 86_400)?;
                if n == 0 {
                    return Err(bad(
                        "must be at least 1 (use eval_gc = false to turn it off)",
                    ));
                }
                self.eval_gc_threshold_ns = n * 1_000_000_000;
            }
            "batch_eval_gc_threshold_s" => {
                if self.batch_eval_gc_threshold_ns.is_none() {
                    return Err(VersionError::NotInVersion {
                        key: "batch_eval_gc_threshold_s",
                        version,
                        why: "batch_eval_gc_threshold exists from Nomad 1.4.5 and 1.5.0",
                    });
                }
                let n = num(365 * 86_400)?;
                if n == 0 {
                    return Err(bad("must be at least 1"));
                }
                self.batch_eval_gc_threshold_ns = Some(n * 1_000_000_000);
            }
            _ => return Err(VersionError::UnknownKey(key.to_string())),
        }
        Ok(())
    }

    /// The node limit for a task group of `count` with spread/affinity: `max(count, limit)`
    /// ([src] `GenericStack.SetTaskGroup`), or `None` (every feasible node) before the #11712 fix.
    pub(crate) fn spread_node_limit(&self, count: u32) -> Option<u32> {
        self.node_limit.map(|l| l.max(count))
    }

    /// Signing work of one plan placing `allocs` allocations of `tasks` tasks each, ns on the reference core.
    pub(crate) fn sign_ns(&self, allocs: u32, tasks: u32) -> u64 {
        if self.signing == Signing::None {
            0
        } else {
            allocs as u64 * tasks as u64 * self.sign_cost_ns
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> VersionProfile {
        VersionProfile::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn parses_the_forms_scenarios_use() {
        for (s, want) in [
            ("1.0", "1.0"),
            ("1.6", "1.6"),
            ("1.10", "1.10"),
            ("2.0.5", "2.0.5"),
            ("1.6.5", "1.6.5"),
            ("v1.6.5", "1.6.5"),
            (" 2.0 ", "2.0"),
        ] {
            assert_eq!(NomadVersion::parse(s).unwrap().to_string(), want);
        }
        assert!(NomadVersion::parse("1.10").unwrap() > NomadVersion::parse("1.9.99").unwrap());
        assert_eq!(
            NomadVersion::parse("1.6").unwrap(),
            NomadVersion::parse("1.6.0").unwrap()
        );
    }

    #[test]
    fn refuses_junk_with_the_input_in_the_message() {
        for s in [
            "",
            "1",
            "1.",
            ".1",
            "1..2",
            "1.2.3.4",
            "a.b",
            "1.x",
            "-1.0",
            "1.0-beta3",
            "1.0.0+ent",
            "99999.0",
            "1.2 .3",
            "v",
        ] {
            let e = NomadVersion::parse(s).expect_err(s);
            assert!(e.to_string().contains(&format!("{s:?}")), "{s}: {e}");
        }
        assert_eq!(
            NomadVersion::parse("0.12.9"),
            Err(VersionError::TooOld("0.12.9".into()))
        );
    }

    #[test]
    fn pipeline_is_configurable_from_2_0_5() {
        for v in ["1.0", "1.6.5", "1.10", "2.0", "2.0.4"] {
            let mut pr = p(v);
            assert_eq!(pr.plan_apply_pipeline, 1);
            assert!(matches!(
                pr.set("plan_apply_pipeline", "8"),
                Err(VersionError::NotInVersion { .. })
            ));
            pr.set("plan_apply_pipeline", "1").unwrap();
        }
        let mut pr = p("2.0.5");
        assert_eq!(pr.plan_apply_pipeline, 1, "default stays 1");
        pr.set("plan_apply_pipeline", "8").unwrap();
        assert_eq!(pr.plan_apply_pipeline, 8);
        assert!(pr.set("plan_apply_pipeline", "0").is_err());
        assert!(pr.set("plan_apply_pipeline", "eight").is_err());
    }

    #[test]
    fn signing_boundaries() {
        assert_eq!(p("1.3.10").signing, Signing::None);
        assert_eq!(p("1.4").signing, Signing::Ed25519);
        assert_eq!(p("1.6.5").signing, Signing::Ed25519);
        assert_eq!(p("1.7").signing, Signing::Rs256);
        assert_eq!(p("2.0.5").signing, Signing::Rs256);
        assert_eq!(p("1.0").sign_ns(1000, 1), 0);
        let r = p("1.10");
        assert_eq!(r.sign_ns(1, 2), 2 * r.sign_cost_ns);
        assert!(
            r.sign_cost_ns > 10 * p("1.6").sign_cost_ns,
            "RS256 ≫ Ed25519"
        );
        let mut old = p("1.6");
        assert!(old.set("signing", "rs256").is_err());
        old.set("signing", "none").unwrap();
        assert_eq!(old.sign_ns(10, 2), 0);
    }

    #[test]
    fn client_batching_and_raft_pipeline_from_1_6() {
        assert_eq!(p("1.5.99").client_update_every_ticks, 1);
        assert_eq!(p("1.6").client_update_every_ticks, 5);
        assert_eq!(p("1.5.3").raft_max_rpcs_in_flight, 128);
        assert_eq!(p("1.6.0").raft_max_rpcs_in_flight, 2);
        assert_eq!(p("1.0").raft_max_append_entries, 64);
        assert_eq!(p("1.0").server_update_batch_ns, 50_000_000);
    }

    #[test]
    fn log_store_wal_from_2_0() {
        let mut a = p("1.10");
        assert_eq!(a.log_store, LogStoreKind::BoltDb);
        assert!(a.set("log_store", "wal").is_err());
        let mut b = p("2.0");
        assert_eq!(b.log_store, LogStoreKind::BoltDb, "opt-in");
        b.set("log_store", "wal").unwrap();
        assert_eq!(b.log_store, LogStoreKind::RaftWal);
        assert!(b.set("log_store", "sqlite").is_err());
    }

    #[test]
    fn node_limit_boundaries() {
        for v in ["1.0", "1.0.15", "1.1.9", "1.2.3"] {
            assert_eq!(p(v).node_limit, None, "{v}");
            assert_eq!(p(v).spread_node_limit(5), None);
        }
        for v in ["1.0.16", "1.1.10", "1.2.4", "1.3", "1.10", "2.0"] {
            assert_eq!(p(v).node_limit, Some(100), "{v}");
        }
        assert_eq!(p("1.6").spread_node_limit(5), Some(100));
        assert_eq!(p("1.6").spread_node_limit(1000), Some(1000));
        let mut a = p("2.0.0");
        assert!(a.set("node_limit_for_feasibility_checks", "50").is_err());
        let mut b = p("2.0.1");
        b.set("node_limit_for_feasibility_checks", "50").unwrap();
        assert_eq!(b.spread_node_limit(5), Some(50));
        b.set("node_limit_for_feasibility_checks", "0").unwrap();
        assert_eq!(b.node_limit, Some(100), "0 means the default");
    }

    #[test]
    fn batch_timeouts_from_2_0_3_and_indexes() {
        assert!(!p("2.0.2").batch_max_run_duration);
        assert!(p("2.0.3").batch_max_run_duration);
        assert_eq!(p("1.0").alloc_indexes, 6);
        assert_eq!(p("1.2.9").alloc_indexes, 6);
        assert_eq!(p("1.3").alloc_indexes, 8);
        assert_eq!(p("1.5").alloc_indexes, 9);
        assert!(p("2.0.5").client_update_copies_job);
        assert!(p("1.0").plan_normalised);
    }

    #[test]
    fn newer_than_read_is_extrapolated() {
        assert!(!p("2.0.5").extrapolated);
        let f = p("2.1");
        assert!(f.extrapolated);
        assert!(f.plan_apply_pipeline_configurable);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        let mut a = p("2.0.5");
        let e = a.set("plan_apply_depth", "3").unwrap_err();
        assert!(e.to_string().contains("plan_apply_pipeline"), "{e}");
        assert!(a.set("client_update_every_ticks", "0").is_err());
        assert!(a.set("client_update_copies_job", "yes").is_err());
        a.set("client_update_copies_job", "false").unwrap();
        assert!(!a.client_update_copies_job);
        a.set("sign_cost_ns", "500000").unwrap();
        assert_eq!(a.sign_ns(2, 1), 1_000_000);
        assert!(a.set("alloc_indexes", "0").is_err());
        for k in VersionProfile::KEYS {
            assert!(
                !matches!(a.set(k, "??"), Err(VersionError::UnknownKey(_))),
                "{k} must be handled"
            );
        }
    }
}
