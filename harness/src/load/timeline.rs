//! The per-allocation timeline of a run: a compact, order-insensitive merge of everything the event
//! stream and the final poll said about the run's own allocations.
//!
//! Memory: one [`Tracked`] (80 bytes) plus one hash-index entry per allocation; job IDs, task-group names
//! and node IDs are interned; allocation IDs are kept as 16-byte UUIDs; times are `u64` ns offsets from
//! t = 0. [`Timeline::heap_bytes_estimate`] reports the total; the `ingest` benchmark measures it.
//!
//! Merging rules (so replays, duplicates and the stream/poll race never double-count):
//! - placed = `CreateTime` (set once); running = min over updates of min `TaskStates[*].StartedAt`;
//!   done = max `FinishedAt` (or the terminal update's `ModifyTime`) once the allocation is terminal;
//! - status, node and desired status come from the update with the highest `ModifyIndex`.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use stampede_sim::record::{AllocRow, AllocStatus};

use crate::nomad::ndjson::{rfc3339_to_unix_ns, Batch, Event};
use crate::nomad::types::Allocation;

const NONE: u64 = u64::MAX;

/// FNV-1a with a final avalanche: a fast, fixed hasher for UUID bytes and interned strings (SipHash costs
/// more than the rest of the bookkeeping). Inputs come from our own server, not an adversary.
#[derive(Default)]
pub struct FastHasher(u64);

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut h = self.0 ^ 0xcbf29ce484222325;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            h = (h ^ u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                .wrapping_mul(0x100000001b3)
                .rotate_left(23);
        }
        for &b in chunks.remainder() {
            h = (h ^ b as u64).wrapping_mul(0x100000001b3);
        }
        self.0 = h;
    }
    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51afd7ed558ccd);
        h ^ (h >> 33)
    }
}

type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

const BLOCK: usize = 4096;

/// Append-only storage in fixed blocks: no 2× slack from `Vec` doubling, no copy on growth.
#[derive(Debug, Default)]
struct Blocks<T> {
    blocks: Vec<Vec<T>>,
    len: usize,
}

impl<T> Blocks<T> {
    fn push(&mut self, v: T) -> usize {
        if self.len.is_multiple_of(BLOCK) {
            self.blocks.push(Vec::with_capacity(BLOCK));
        }
        if let Some(b) = self.blocks.last_mut() {
            b.push(v);
        }
        self.len += 1;
        self.len - 1
    }
    fn get(&self, i: usize) -> &T {
        &self.blocks[i / BLOCK][i % BLOCK]
    }
    fn get_mut(&mut self, i: usize) -> &mut T {
        &mut self.blocks[i / BLOCK][i % BLOCK]
    }
    fn heap_bytes(&self) -> usize {
        self.blocks.len() * BLOCK * std::mem::size_of::<T>()
            + self.blocks.capacity() * std::mem::size_of::<Vec<T>>()
    }
}

fn lo(k: &[u8; 16]) -> u64 {
    u64::from_le_bytes([k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7]])
        ^ u64::from_le_bytes([k[8], k[9], k[10], k[11], k[12], k[13], k[14], k[15]])
}

/// Interns strings to dense `u32` ids.
#[derive(Debug, Default)]
pub struct Interner {
    map: FastMap<Box<str>, u32>,
    names: Vec<Box<str>>,
    bytes: usize,
}

impl Interner {
    /// The id of `s`, adding it if new.
    pub fn intern(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.map.get(s) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(s.into());
        self.map.insert(s.into(), i);
        self.bytes += 2 * s.len();
        i
    }
    /// The id of `s` if known.
    pub fn get(&self, s: &str) -> Option<u32> {
        self.map.get(s).copied()
    }
    /// The string of id `i`.
    pub fn name(&self, i: u32) -> &str {
        self.names.get(i as usize).map_or("", |s| s)
    }
    /// Number of strings.
    pub fn len(&self) -> usize {
        self.names.len()
    }
    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
    fn heap_bytes(&self) -> usize {
        self.bytes
            + self.map.capacity() * (std::mem::size_of::<(Box<str>, u32)>() + 1)
            + self.names.capacity() * std::mem::size_of::<Box<str>>()
    }
}

/// Parses a UUID (`8-4-4-4-12` hex) into 16 bytes.
pub fn parse_uuid(s: &str) -> Option<[u8; 16]> {
    let b = s.as_bytes();
    if b.len() != 36 || b[8] != b'-' || b[13] != b'-' || b[18] != b'-' || b[23] != b'-' {
        return None;
    }
    let mut out = [0u8; 16];
    let mut n = 0;
    let mut hi = None;
    for &c in b {
        if c == b'-' {
            continue;
        }
        let v = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return None,
        };
        match hi.take() {
            None => hi = Some(v),
            Some(h) => {
                out[n] = (h << 4) | v;
                n += 1;
            }
        }
    }
    Some(out)
}

/// Formats 16 bytes as a lowercase UUID.
pub fn format_uuid(id: &[u8; 16]) -> String {
    let mut s = String::with_capacity(36);
    for (i, b) in id.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push_str(&format!("{b:02x}"));
    }
    s
}

const ST_PENDING: u8 = 0;
const ST_RUNNING: u8 = 1;
const ST_COMPLETE: u8 = 2;
const ST_FAILED: u8 = 3;
const ST_LOST: u8 = 4;
const ST_STOPPED: u8 = 5;

const F_LOST: u8 = 1;
const F_RESCHEDULED: u8 = 2;
const F_HAS_PREV: u8 = 4;
const F_SETTLED: u8 = 8;
const F_FINISHED: u8 = 16;

/// One tracked allocation (64 bytes).
#[derive(Debug, Clone)]
pub struct Tracked {
    id: [u8; 16],
    placed: u64,
    running: u64,
    done: u64,
    modify_index: u64,
    job: u32,
    group: u32,
    node: u32,
    status: u8,
    flags: u8,
}

/// What a job submission recorded, and whether the server last said the job is `dead`.
#[derive(Debug, Clone, Copy)]
struct JobInfo {
    submit: u64,
    sent: u64,
    desired: u32,
    dead: bool,
}

/// What a run waits for after the last submission (`stampede run --wait`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum WaitFor {
    /// Every desired allocation placed.
    Placed,
    /// Every desired allocation placed and each started (or ended): the default for service jobs.
    #[default]
    Running,
    /// Every allocation finished (complete, failed, lost or stopped) and no replacement pending: every job
    /// reported `dead`, or every failed/lost allocation already replaced. The default for batch jobs.
    Done,
}

impl WaitFor {
    /// The flag value (`placed`, `running`, `done`).
    pub fn as_str(self) -> &'static str {
        match self {
            WaitFor::Placed => "placed",
            WaitFor::Running => "running",
            WaitFor::Done => "done",
        }
    }
}

/// One allocation update, from an event or a list stub.
#[derive(Debug)]
pub struct AllocUpdate<'a> {
    /// Allocation ID.
    pub id: &'a str,
    /// Job ID.
    pub job: &'a str,
    /// Node ID.
    pub node: &'a str,
    /// Task group.
    pub group: &'a str,
    /// Desired status.
    pub desired: &'a str,
    /// Client status.
    pub client: &'a str,
    /// `CreateTime`, Unix ns.
    pub create_time: i64,
    /// `ModifyTime`, Unix ns.
    pub modify_time: i64,
    /// `ModifyIndex`.
    pub modify_index: u64,
    /// Min task `StartedAt`, Unix ns.
    pub started: Option<i64>,
    /// Max task `FinishedAt`, Unix ns.
    pub finished: Option<i64>,
    /// Replaced allocation.
    pub previous: Option<&'a str>,
    /// Whether it carries a reschedule tracker.
    pub rescheduled: bool,
    /// Task restarts in place (sum over its tasks' `Restarts`).
    pub restarts: u64,
}

/// The allocation's run span from its tasks' `(StartedAt, FinishedAt)`: earliest start, latest finish (Unix ns).
fn task_span<'s>(
    tasks: impl Iterator<Item = (Option<&'s str>, Option<&'s str>)>,
) -> (Option<i64>, Option<i64>) {
    let (mut started, mut finished) = (None::<i64>, None::<i64>);
    for (s, f) in tasks {
        if let Some(s) = s.and_then(rfc3339_to_unix_ns) {
            started = Some(started.map_or(s, |x| x.min(s)));
        }
        if let Some(f) = f.and_then(rfc3339_to_unix_ns) {
            finished = Some(finished.map_or(f, |x| x.max(f)));
        }
    }
    (started, finished)
}

impl<'a> AllocUpdate<'a> {
    /// From an allocation, as the event stream or a list (`task_states=true`) carries it.
    pub fn from_alloc(a: &'a Allocation<'a>) -> AllocUpdate<'a> {
        let (started, finished) = task_span(
            a.task_states
                .iter()
                .map(|t| (t.started_at.as_deref(), t.finished_at.as_deref())),
        );
        let restarts = a.task_states.iter().map(|t| t.restarts).sum();
        AllocUpdate {
            id: &a.id,
            job: &a.job_id,
            node: &a.node_id,
            group: &a.task_group,
            desired: &a.desired_status,
            client: &a.client_status,
            create_time: a.create_time,
            modify_time: a.modify_time,
            modify_index: a.modify_index,
            started,
            finished,
            previous: a.previous_allocation.as_deref().filter(|p| !p.is_empty()),
            rescheduled: a.reschedule_tracker.is_some(),
            restarts,
        }
    }
}

/// Counters for progress display.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Jobs submitted successfully.
    pub submitted: u64,
    /// Jobs that failed to submit for good.
    pub submit_failed: u64,
    /// Allocations desired by submitted jobs.
    pub desired: u64,
    /// Allocations placed.
    pub placed: u64,
    /// Allocations that started.
    pub running: u64,
    /// Allocations that reached a terminal state.
    pub done: u64,
}

/// The run's timeline.
#[derive(Debug)]
pub struct Timeline {
    prefix: String,
    start_unix_ns: i64,
    jobs: Interner,
    job_info: Vec<JobInfo>,
    groups: Interner,
    nodes: Interner,
    allocs: Blocks<Tracked>,
    /// Folded 64-bit UUID → position; a second map holds the (astronomically rare) folded collisions.
    index: FastMap<u64, u32>,
    collide: FastMap<[u8; 16], u32>,
    prevs: FastMap<u32, [u8; 16]>,
    odd_ids: FastMap<[u8; 16], Box<str>>,
    evals: FastMap<[u8; 16], u8>,
    progress: Progress,
    /// Allocations that started, ended or were stopped (the drain condition), O(1) to check.
    settled_count: usize,
    /// `--shard I/N`: only this generator's jobs belong to the run.
    shard: Option<crate::distrib::Shard>,
    /// Allocations that ended or were stopped (the `--wait done` condition).
    finished_count: usize,
    /// Jobs the server last reported `dead`.
    dead_jobs: u64,
    /// Task restarts per allocation (only allocations with restarts).
    restarts: FastMap<u32, u32>,
}

fn key_of(id: &str, odd: &mut FastMap<[u8; 16], Box<str>>) -> [u8; 16] {
    if let Some(k) = parse_uuid(id) {
        return k;
    }
    // Not a UUID (some emulators): a 128-bit FNV-1a hash, remembering the original text.
    let mut h: u128 = 0x6c62272e07bb014262b821756295c58d;
    for b in id.bytes() {
        h ^= b as u128;
        h = h.wrapping_mul(0x0000000001000000000000000000013B);
    }
    let k = h.to_be_bytes();
    odd.entry(k).or_insert_with(|| id.into());
    k
}

impl Timeline {
    /// A timeline of the jobs whose ID starts with `prefix`; t = 0 is `start_unix_ns`.
    pub fn new(prefix: &str, start_unix_ns: i64) -> Timeline {
        Timeline {
            prefix: prefix.to_string(),
            start_unix_ns,
            jobs: Interner::default(),
            job_info: Vec::new(),
            groups: Interner::default(),
            nodes: Interner::default(),
            allocs: Blocks {
                blocks: Vec::new(),
                len: 0,
            },
            index: FastMap::default(),
            collide: FastMap::default(),
            prevs: FastMap::default(),
            odd_ids: FastMap::default(),
            evals: FastMap::default(),
            progress: Progress::default(),
            settled_count: 0,
            shard: None,
            finished_count: 0,
            dead_jobs: 0,
            restarts: FastMap::default(),
        }
    }

    /// Keeps only the jobs generator `shard` owns ([`crate::distrib::Shard::owns_job_id`]).
    pub fn with_shard(mut self, shard: Option<crate::distrib::Shard>) -> Timeline {
        self.shard = shard;
        self
    }

    /// Whether `job` belongs to this run.
    pub fn owns(&self, job: &str) -> bool {
        job.starts_with(&self.prefix) && self.shard.is_none_or(|s| s.owns_job_id(&self.prefix, job))
    }

    fn rel(&self, unix_ns: i64) -> u64 {
        if unix_ns <= 0 {
            return NONE;
        }
        (unix_ns - self.start_unix_ns).max(0) as u64
    }

    fn job(&mut self, job: &str) -> u32 {
        let j = self.jobs.intern(job);
        if j as usize >= self.job_info.len() {
            self.job_info.push(JobInfo {
                submit: NONE,
                sent: NONE,
                desired: 0,
                dead: false,
            });
        }
        j
    }

    /// Records a job submission: intended and actual send time (ns since t = 0) and allocations desired.
    pub fn record_submit(&mut self, job: &str, submit_ns: u64, sent_ns: u64, desired: u32) {
        let j = self.job(job) as usize;
        // A `dead` status may have arrived on the stream before the submission's answer.
        let dead = self.job_info[j].dead;
        self.job_info[j] = JobInfo {
            submit: submit_ns,
            sent: sent_ns,
            desired,
            dead,
        };
        self.progress.submitted += 1;
        self.progress.desired += desired as u64;
    }

    /// Records a submission that failed for good.
    pub fn record_submit_failure(&mut self) {
        self.progress.submit_failed += 1;
    }

    /// Current counters.
    pub fn progress(&self) -> Progress {
        self.progress
    }

    /// Applies every relevant event of a stream batch.
    pub fn apply_batch(&mut self, b: &Batch<'_>) {
        let Some(events) = &b.events else { return };
        for ev in events {
            self.apply_event(ev);
        }
    }

    /// Applies one stream event (allocations and evaluations of the run's jobs; the rest is ignored).
    pub fn apply_event(&mut self, ev: &Event<'_>) {
        if let Some(a) = &ev.payload.allocation {
            if self.owns(&a.job_id) {
                self.apply_alloc(&AllocUpdate::from_alloc(a));
            }
        } else if let Some(e) = &ev.payload.evaluation {
            self.apply_eval(&e.id, &e.job_id, &e.status);
        } else if let Some(j) = &ev.payload.job {
            self.apply_job_status(&j.id, &j.status);
        }
    }

    /// Applies a job's status (`pending`, `running`, `dead`) from a `Job` event.
    pub fn apply_job_status(&mut self, job: &str, status: &str) {
        if !self.owns(job) || status.is_empty() {
            return;
        }
        let j = self.job(job) as usize;
        let dead = status == "dead";
        if dead != self.job_info[j].dead {
            self.job_info[j].dead = dead;
            if dead {
                self.dead_jobs += 1;
            } else {
                self.dead_jobs -= 1;
            }
        }
    }

    /// Applies an evaluation's status (blocked/failed are remembered per eval).
    pub fn apply_eval(&mut self, id: &str, job: &str, status: &str) {
        if !self.owns(job) {
            return;
        }
        let flag = match status {
            "blocked" => 1,
            "failed" => 2,
            _ => 0,
        };
        let k = key_of(id, &mut self.odd_ids);
        *self.evals.entry(k).or_insert(0) |= flag;
    }

    /// Evaluations (blocked at some point, failed).
    pub fn eval_counts(&self) -> (u64, u64) {
        let b = self.evals.values().filter(|f| **f & 1 != 0).count() as u64;
        let f = self.evals.values().filter(|f| **f & 2 != 0).count() as u64;
        (b, f)
    }

    /// Applies one allocation update (ignored unless the job is the run's own).
    pub fn apply_alloc(&mut self, u: &AllocUpdate<'_>) {
        if !self.owns(u.job) || u.id.is_empty() {
            return;
        }
        let k = key_of(u.id, &mut self.odd_ids);
        let found = match self.index.get(&lo(&k)) {
            Some(&i) if self.allocs.get(i as usize).id == k => Some(i as usize),
            Some(_) => self.collide.get(&k).map(|&i| i as usize),
            None => None,
        };
        let idx = match found {
            Some(i) => i,
            None => {
                let job = self.job(u.job);
                let group = self.groups.intern(u.group);
                let node = self.nodes.intern(u.node);
                let i = self.allocs.push(Tracked {
                    id: k,
                    placed: NONE,
                    running: NONE,
                    done: NONE,
                    modify_index: 0,
                    job,
                    group,
                    node,
                    status: ST_PENDING,
                    flags: 0,
                });
                match self.index.entry(lo(&k)) {
                    std::collections::hash_map::Entry::Occupied(_) => {
                        self.collide.insert(k, i as u32);
                    }
                    std::collections::hash_map::Entry::Vacant(v) => {
                        v.insert(i as u32);
                    }
                }
                i
            }
        };
        let status = match (u.client, u.desired) {
            ("running", "run") | ("running", "") => ST_RUNNING,
            ("complete", _) => ST_COMPLETE,
            ("failed", _) => ST_FAILED,
            ("lost", _) => ST_LOST,
            (_, "stop") | (_, "evict") => ST_STOPPED,
            ("running", _) => ST_RUNNING,
            _ => ST_PENDING,
        };
        let terminal = matches!(status, ST_COMPLETE | ST_FAILED | ST_LOST);
        let placed = self.rel(u.create_time);
        let started = u.started.map_or(NONE, |s| self.rel(s));
        let finished = if terminal {
            u.finished
                .map_or_else(|| self.rel(u.modify_time), |f| self.rel(f))
        } else {
            NONE
        };
        let prev_key = u.previous.map(|p| key_of(p, &mut self.odd_ids));
        let node = if u.node.is_empty() {
            None
        } else {
            Some(self.nodes.intern(u.node))
        };
        if let Some(p) = prev_key {
            self.prevs.insert(idx as u32, p);
        }
        let t = self.allocs.get_mut(idx);
        if t.placed == NONE && placed != NONE {
            t.placed = placed;
            self.progress.placed += 1;
        }
        if started != NONE && (t.running == NONE || started < t.running) {
            if t.running == NONE {
                self.progress.running += 1;
            }
            t.running = started;
        }
        if finished != NONE && (t.done == NONE || finished > t.done) {
            if t.done == NONE {
                self.progress.done += 1;
            }
            t.done = finished;
        }
        if prev_key.is_some() {
            t.flags |= F_HAS_PREV | F_RESCHEDULED;
        }
        if u.rescheduled {
            t.flags |= F_RESCHEDULED;
        }
        if u.modify_index >= t.modify_index {
            t.modify_index = u.modify_index;
            t.status = status;
            if let Some(n) = node {
                t.node = n;
            }
            if status == ST_LOST {
                t.flags |= F_LOST;
            }
        }
        if t.flags & F_SETTLED == 0
            && (t.running != NONE || t.done != NONE || t.status == ST_STOPPED)
        {
            t.flags |= F_SETTLED;
            self.settled_count += 1;
        }
        if t.flags & F_FINISHED == 0 && (t.done != NONE || t.status == ST_STOPPED) {
            t.flags |= F_FINISHED;
            self.finished_count += 1;
        }
        if u.restarts > 0 {
            let r = self.restarts.entry(idx as u32).or_insert(0);
            *r = (*r).max(u.restarts.min(u32::MAX as u64) as u32);
        }
    }

    /// Task restarts in place over the run's allocations (the latest count seen per allocation).
    pub fn task_restarts(&self) -> u64 {
        self.restarts.values().map(|&r| r as u64).sum()
    }

    /// Whether the run reached `w` (see [`WaitFor`]).
    pub fn reached(&self, w: WaitFor) -> bool {
        let p = self.progress;
        match w {
            WaitFor::Placed => p.placed >= p.desired,
            WaitFor::Running => self.settled(),
            WaitFor::Done => {
                if p.placed < p.desired || self.finished_count < self.allocs.len {
                    return false;
                }
                if self.dead_jobs >= p.submitted {
                    return true;
                }
                // Without every job's `dead`: done when no failed or lost allocation waits for a
                // replacement (each one is named as a later allocation's previous one).
                let replaced: std::collections::HashSet<[u8; 16]> =
                    self.prevs.values().copied().collect();
                (0..self.allocs.len).all(|i| {
                    let t = self.allocs.get(i);
                    !matches!(t.status, ST_FAILED | ST_LOST) || replaced.contains(&t.id)
                })
            }
        }
    }

    /// Allocations tracked.
    pub fn len(&self) -> usize {
        self.allocs.len
    }

    /// Whether nothing is tracked.
    pub fn is_empty(&self) -> bool {
        self.allocs.len == 0
    }

    /// Estimated heap bytes of the whole timeline (tracked allocations, index, interners, evals).
    pub fn heap_bytes_estimate(&self) -> usize {
        self.allocs.heap_bytes()
            + self.index.capacity() * (std::mem::size_of::<(u64, u32)>() + 1)
            + self.collide.capacity() * (std::mem::size_of::<([u8; 16], u32)>() + 1)
            + self.prevs.capacity() * (std::mem::size_of::<(u32, [u8; 16])>() + 1)
            + self.evals.capacity() * (std::mem::size_of::<([u8; 16], u8)>() + 1)
            + self.job_info.capacity() * std::mem::size_of::<JobInfo>()
            + self.jobs.heap_bytes()
            + self.groups.heap_bytes()
            + self.nodes.heap_bytes()
    }

    /// Whether every desired allocation of every submitted job has been placed and reached `running`
    /// (or a terminal state): the drain condition.
    pub fn settled(&self) -> bool {
        let p = self.progress;
        p.placed >= p.desired && self.settled_count >= self.allocs.len
    }

    fn id_string(&self, k: &[u8; 16]) -> String {
        match self.odd_ids.get(k) {
            Some(s) => s.to_string(),
            None => format_uuid(k),
        }
    }

    /// The `allocs.csv` rows: placed allocations in placement order, then one row per desired allocation
    /// that was never placed (empty `alloc_id`), in job order.
    pub fn rows(&self) -> Vec<AllocRow> {
        let opt = |v: u64| (v != NONE).then_some(v);
        let mut order: Vec<usize> = (0..self.allocs.len).collect();
        order.sort_by_key(|&i| (self.allocs.get(i).placed, i));
        let mut placed_per_job = vec![0u32; self.jobs.len()];
        let mut rows = Vec::with_capacity(self.allocs.len);
        for i in order {
            let t = self.allocs.get(i);
            let ji = self
                .job_info
                .get(t.job as usize)
                .copied()
                .unwrap_or(JobInfo {
                    submit: NONE,
                    sent: NONE,
                    desired: 0,
                    dead: false,
                });
            if t.flags & F_RESCHEDULED == 0 {
                placed_per_job[t.job as usize] += 1;
            }
            rows.push(AllocRow {
                job_id: self.jobs.name(t.job).to_string(),
                alloc_id: self.id_string(&t.id),
                node_id: self.nodes.name(t.node).to_string(),
                task_group: self.groups.name(t.group).to_string(),
                submit_ns: opt(ji.submit),
                sent_ns: opt(ji.sent),
                placed_ns: opt(t.placed),
                running_ns: opt(t.running),
                done_ns: opt(t.done),
                status: match t.status {
                    ST_RUNNING => AllocStatus::Running,
                    ST_COMPLETE => AllocStatus::Complete,
                    ST_FAILED => AllocStatus::Failed,
                    ST_LOST => AllocStatus::Lost,
                    ST_STOPPED => AllocStatus::Stopped,
                    _ => AllocStatus::Pending,
                },
                lost: t.flags & F_LOST != 0,
                rescheduled: t.flags & F_RESCHEDULED != 0,
                replaces: if t.flags & F_HAS_PREV != 0 {
                    self.prevs
                        .get(&(i as u32))
                        .map(|p| self.id_string(p))
                        .unwrap_or_default()
                } else {
                    String::new()
                },
            });
        }
        for (j, ji) in self.job_info.iter().enumerate() {
            for _ in placed_per_job[j]..ji.desired {
                rows.push(AllocRow {
                    job_id: self.jobs.name(j as u32).to_string(),
                    alloc_id: String::new(),
                    node_id: String::new(),
                    task_group: String::new(),
                    submit_ns: opt(ji.submit),
                    sent_ns: opt(ji.sent),
                    placed_ns: None,
                    running_ns: None,
                    done_ns: None,
                    status: AllocStatus::Pending,
                    lost: false,
                    rescheduled: false,
                    replaces: String::new(),
                });
            }
        }
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_round_trip() {
        let s = "5457f16d-0f87-8e6b-5e91-0c7da3a41eb7";
        assert_eq!(format_uuid(&parse_uuid(s).unwrap()), s);
        assert!(parse_uuid("5457f16d-0f87-8e6b-5e91-0c7da3a41eb").is_none());
        assert!(parse_uuid("5457f16dx0f87-8e6b-5e91-0c7da3a41eb7").is_none());
    }

    #[test]
    fn tracked_is_small() {
        assert!(
            std::mem::size_of::<Tracked>() <= 80,
            "{}",
            std::mem::size_of::<Tracked>()
        );
    }

    fn upd<'a>(id: &'a str, client: &'a str, mi: u64, started: Option<i64>) -> AllocUpdate<'a> {
        AllocUpdate {
            id,
            job: "p-1",
            node: "n1",
            group: "g",
            desired: "run",
            client,
            create_time: 1_000,
            modify_time: 5_000,
            modify_index: mi,
            started,
            finished: None,
            previous: None,
            rescheduled: false,
            restarts: 0,
        }
    }

    #[test]
    fn merge_is_order_insensitive_and_never_double_counts() {
        let id = "5457f16d-0f87-8e6b-5e91-0c7da3a41eb7";
        let mut a = Timeline::new("p-", 0);
        a.record_submit("p-1", 10, 20, 1);
        a.apply_alloc(&upd(id, "pending", 5, None));
        a.apply_alloc(&upd(id, "running", 7, Some(3_000)));
        let mut b = Timeline::new("p-", 0);
        b.record_submit("p-1", 10, 20, 1);
        assert!(!b.settled(), "nothing placed yet");
        b.apply_alloc(&upd(id, "pending", 5, None));
        assert!(!b.settled(), "placed, not running");
        b.apply_alloc(&upd(id, "running", 7, Some(3_000)));
        assert!(b.settled());
        b.apply_alloc(&upd(id, "pending", 5, None));
        b.apply_alloc(&upd(id, "running", 7, Some(3_000)));
        assert_eq!(a.rows(), b.rows());
        assert_eq!(b.progress().placed, 1);
        assert_eq!(b.progress().running, 1);
        let r = &b.rows()[0];
        assert_eq!(
            (r.placed_ns, r.running_ns, r.status),
            (Some(1_000), Some(3_000), AllocStatus::Running)
        );
        a.apply_alloc(&AllocUpdate {
            job: "other",
            ..upd("6457f16d-0f87-8e6b-5e91-0c7da3a41eb7", "pending", 9, None)
        });
        assert_eq!(a.len(), 1);
    }

    #[test]
    fn unplaced_desired_allocs_get_rows() {
        let mut t = Timeline::new("p-", 0);
        t.record_submit("p-1", 10, 20, 3);
        t.apply_alloc(&upd(
            "5457f16d-0f87-8e6b-5e91-0c7da3a41eb7",
            "pending",
            5,
            None,
        ));
        let rows = t.rows();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows.iter().filter(|r| r.alloc_id.is_empty()).count(), 2);
    }

    /// `--wait placed|running|done` (issue 13, finding 9b): `done` needs every allocation finished and no
    /// replacement pending (the job reported dead, or the failed allocation already replaced).
    #[test]
    fn wait_levels_and_pending_replacements() {
        let a1 = "5457f16d-0f87-8e6b-5e91-0c7da3a41eb7";
        let a2 = "6457f16d-0f87-8e6b-5e91-0c7da3a41eb7";
        let mut t = Timeline::new("p-", 0);
        t.record_submit("p-1", 10, 20, 1);
        t.apply_alloc(&upd(a1, "pending", 5, None));
        assert!(t.reached(WaitFor::Placed) && !t.reached(WaitFor::Running));
        t.apply_alloc(&upd(a1, "running", 6, Some(3_000)));
        assert!(t.reached(WaitFor::Running) && !t.reached(WaitFor::Done));
        // Failed, with a restart counted: finished, but a replacement may follow.
        t.apply_alloc(&AllocUpdate {
            restarts: 2,
            ..upd(a1, "failed", 7, Some(3_000))
        });
        assert_eq!(t.task_restarts(), 2);
        assert!(
            !t.reached(WaitFor::Done),
            "a failed allocation may be replaced"
        );
        // The replacement arrives and completes: done, without any job status.
        t.apply_alloc(&AllocUpdate {
            previous: Some(a1),
            ..upd(a2, "complete", 9, Some(6_000))
        });
        assert!(t.reached(WaitFor::Done));
        // Or: the job says it is dead (no replacement coming).
        let mut u = Timeline::new("p-", 0);
        u.apply_job_status("p-1", "dead"); // before the submission's answer
        u.record_submit("p-1", 10, 20, 1);
        u.apply_alloc(&upd(a1, "failed", 7, Some(3_000)));
        assert!(u.reached(WaitFor::Done));
        u.apply_job_status("p-1", "running");
        assert!(!u.reached(WaitFor::Done));
        u.apply_job_status("other-1", "dead");
        assert!(!u.reached(WaitFor::Done), "jobs of other runs do not count");
    }
}
