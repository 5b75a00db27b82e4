//! The emulator's Nomad state store (jobs, evaluations, allocations, nodes, with a Raft index per table for
//! blocking queries) and the event broker's ring of the last [`RING_SIZE`] Raft-index batches.
//!
//! Both are fed by folding the core's [`ChangeBatch`]es, in index order, on the driver thread. Each event
//! is serialized once, when it is folded; subscribers only concatenate.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bytes::Bytes;
use serde_json::{json, Value};
use stampede_sim::api::{AllocView, ChangeBatch, EvalView, JobView, NodeView};

use super::render;

/// Batches the event broker keeps (Nomad's `event_buffer_size`).
pub const RING_SIZE: usize = 100;

/// Event topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Topic {
    /// `Job`.
    Job,
    /// `Evaluation`.
    Evaluation,
    /// `Allocation`.
    Allocation,
    /// `Node`.
    Node,
}

impl Topic {
    /// Nomad's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Job => "Job",
            Topic::Evaluation => "Evaluation",
            Topic::Allocation => "Allocation",
            Topic::Node => "Node",
        }
    }
}

/// One event, serialized.
#[derive(Debug, Clone)]
pub struct Event {
    /// Topic.
    pub topic: Topic,
    /// `Key` (object ID).
    pub key: String,
    /// First `FilterKeys` entry (the JobID for Allocation/Evaluation), empty otherwise.
    pub filter_key: String,
    /// Namespace (`""` for Node).
    pub namespace: &'static str,
    /// The event's JSON object.
    pub json: String,
}

/// One Raft index's events.
#[derive(Debug)]
pub struct EventBatch {
    /// Raft index.
    pub index: u64,
    /// Events.
    pub events: Vec<Event>,
    /// The whole batch as an NDJSON line (`{"Index":N,"Events":[…]}\n`), for unfiltered subscribers.
    pub line: Bytes,
}

/// Raft index of the last change per table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableIndexes {
    /// `jobs` (and job summaries).
    pub jobs: u64,
    /// `evals`.
    pub evals: u64,
    /// `allocs`.
    pub allocs: u64,
    /// `nodes`.
    pub nodes: u64,
    /// Latest Raft index seen.
    pub last: u64,
}

/// The scheduler configuration (`/v1/operator/scheduler/configuration`).
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// The config object without the index fields.
    pub config: serde_json::Map<String, Value>,
    /// `CreateIndex`.
    pub create_index: u64,
    /// `ModifyIndex`.
    pub modify_index: u64,
}

/// The state tables.
#[derive(Debug, Default)]
pub struct Store {
    /// Jobs by ID.
    pub jobs: BTreeMap<String, JobView>,
    /// Evaluations by ID.
    pub evals: BTreeMap<String, EvalView>,
    /// `(CreateIndex, ID)` of every evaluation, for ordered listing and pagination.
    pub evals_by_create: BTreeSet<(u64, String)>,
    /// Allocations by ID.
    pub allocs: BTreeMap<String, AllocView>,
    /// `(CreateIndex, ID)` of every allocation.
    pub allocs_by_create: BTreeSet<(u64, String)>,
    /// Allocation IDs by job.
    pub job_allocs: BTreeMap<String, BTreeSet<(u64, String)>>,
    /// Evaluation IDs by job.
    pub job_evals: BTreeMap<String, BTreeSet<(u64, String)>>,
    /// Allocation IDs by node.
    pub node_allocs: BTreeMap<String, BTreeSet<(u64, String)>>,
    /// Nodes by ID.
    pub nodes: BTreeMap<String, NodeView>,
    /// Table indexes.
    pub idx: TableIndexes,
    /// Scheduler configuration.
    pub sched: Option<SchedulerConfig>,
    /// Jobs purged from state, with the Raft index of the purge: later batches (stopping their
    /// allocations) still carry their view, which must not bring them back. A new registration clears the
    /// mark; the GC forgets marks older than its job threshold.
    pub purged: BTreeMap<String, u64>,
    /// Raft index by commit time, for the GC's thresholds.
    pub time_table: super::gc::TimeTable,
}

/// The event ring.
#[derive(Debug, Default)]
pub struct Ring {
    /// Batches, oldest first.
    pub batches: VecDeque<std::sync::Arc<EventBatch>>,
}

impl Ring {
    /// Position in the ring where a subscription with `index` starts (inclusive; older → oldest; beyond the
    /// newest → the newest again).
    pub fn start_pos(&self, index: u64) -> usize {
        if self.batches.is_empty() {
            return 0;
        }
        match self.batches.iter().position(|b| b.index >= index) {
            Some(p) => p,
            None => self.batches.len() - 1,
        }
    }
}

impl Store {
    /// Folds one batch into the tables and returns its serialized events.
    pub fn fold(&mut self, b: ChangeBatch, base_ns: u64) -> EventBatch {
        let ty = b.kind.as_str();
        let mut events =
            Vec::with_capacity(b.jobs.len() + b.evals.len() + b.allocs.len() + b.nodes.len());
        let ev =
            |topic: Topic, key: &str, fk: &str, ns: &'static str, filter: Value, payload: Value| {
                Event {
                    topic,
                    key: key.to_string(),
                    filter_key: fk.to_string(),
                    namespace: ns,
                    json: json!({"Topic": topic.as_str(), "Type": ty, "Key": key, "Namespace": ns,
                         "FilterKeys": filter, "Index": b.index, "Payload": payload})
                    .to_string(),
                }
            };
        for j in b.jobs {
            let mut payload = json!({"Job": render::job_full(&j, base_ns)});
            if b.kind == stampede_sim::api::ChangeKind::JobDeregistered
                && b.purged_jobs.contains(&j.spec.id)
            {
                payload["Deleted"] = json!(true);
            }
            events.push(ev(
                Topic::Job,
                &j.spec.id,
                "",
                "default",
                Value::Null,
                payload,
            ));
            if b.kind == stampede_sim::api::ChangeKind::JobRegistered {
                self.purged.remove(&j.spec.id);
            }
            if !self.purged.contains_key(&j.spec.id) {
                self.idx.jobs = b.index;
                self.jobs.insert(j.spec.id.clone(), j);
            }
        }
        for e in b.evals {
            events.push(ev(
                Topic::Evaluation,
                &e.id,
                &e.job_id,
                "default",
                json!([e.job_id, ""]),
                json!({"Evaluation": render::eval(&e, base_ns)}),
            ));
            self.idx.evals = b.index;
            let k = (e.create_index, e.id.clone());
            self.evals_by_create.insert(k.clone());
            self.job_evals
                .entry(e.job_id.clone())
                .or_default()
                .insert(k);
            self.evals.insert(e.id.clone(), e);
        }
        for a in b.allocs {
            events.push(ev(
                Topic::Allocation,
                &a.id,
                &a.job_id,
                "default",
                json!([a.job_id, ""]),
                json!({"Allocation": render::alloc_full(&a, base_ns, Value::Null)}),
            ));
            self.idx.allocs = b.index;
            let k = (a.create_index, a.id.clone());
            if !self.allocs.contains_key(&a.id) {
                self.allocs_by_create.insert(k.clone());
                self.job_allocs
                    .entry(a.job_id.clone())
                    .or_default()
                    .insert(k.clone());
                self.node_allocs
                    .entry(a.node_id.clone())
                    .or_default()
                    .insert(k);
            }
            self.allocs.insert(a.id.clone(), a);
        }
        for n in b.nodes {
            events.push(ev(
                Topic::Node,
                &n.id,
                "",
                "",
                Value::Null,
                json!({"Node": render::node_full(&n, base_ns)}),
            ));
            self.idx.nodes = b.index;
            self.nodes.insert(n.id.clone(), n);
        }
        for id in &b.purged_jobs {
            self.purged.insert(id.clone(), b.index);
            if self.jobs.remove(id).is_some() {
                self.idx.jobs = b.index;
            }
        }
        self.idx.last = self.idx.last.max(b.index);
        self.time_table.witness(b.index, b.time);
        let line = batch_line(b.index, events.iter().map(|e| e.json.as_str()));
        EventBatch {
            index: b.index,
            events,
            line,
        }
    }
}

/// `{"Index":N,"Events":[…]}\n` from serialized events.
pub fn batch_line<'a>(index: u64, events: impl Iterator<Item = &'a str>) -> Bytes {
    let mut s = String::with_capacity(256);
    s.push_str("{\"Index\":");
    s.push_str(&index.to_string());
    s.push_str(",\"Events\":[");
    for (i, e) in events.enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(e);
    }
    s.push_str("]}\n");
    Bytes::from(s)
}
