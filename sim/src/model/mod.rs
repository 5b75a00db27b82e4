//! Leaf models of the control plane's mechanisms (issue 11): pure, deterministic, integer-ns functions and
//! small state machines that the cluster components call. Each file cites the Nomad / hashicorp/raft source
//! it follows; `sim/MECHANISMS.md` has the full account with tags and commits.
//!
//! | module | what |
//! |---|---|
//! | [`versions`] | `NomadVersion` parsing and each version's mechanisms with their defaults |
//! | [`storage`] | log stores (boltdb, raft-wal) per `StoreLogs`, storage classes → fsync latency |
//! | [`commit`] | Raft commit as hashicorp/raft does it, and the plan applier's pipeline |
//! | [`cpu`] | server CPU: processor sharing of vCPUs, core speed per instance generation |
//! | [`costs`] | per-alloc FSM cost, scheduler per-node cost, what C2M identifies |

// Wired into the cluster (`sim/src/cluster/`); parts of each module (closed-form stream models, spare
// constructors) serve only their own unit tests and the documentation of what C2M identifies.
#[allow(dead_code)]
pub(crate) mod commit;
#[allow(dead_code)]
pub(crate) mod costs;
#[allow(dead_code)]
pub(crate) mod cpu;
#[allow(dead_code)]
pub(crate) mod storage;
#[allow(dead_code)]
pub(crate) mod versions;
