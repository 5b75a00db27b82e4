//! Response shapes of the endpoints the harness uses. Every field is optional or defaulted and unknown
//! fields are ignored, because every Nomad release adds some.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

/// Index headers of a read (`X-Nomad-Index`, `X-Nomad-NextToken`, `X-Nomad-KnownLeader`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryMeta {
    /// `X-Nomad-Index`: the table index the answer reflects (use as the next blocking `index`).
    pub index: u64,
    /// `X-Nomad-NextToken`: the next page's token, when there is one.
    pub next_token: Option<String>,
    /// `X-Nomad-KnownLeader`.
    pub known_leader: bool,
}

/// Response of `PUT /v1/jobs`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RegisterResponse {
    /// Evaluation created for the registration (empty for periodic/parameterized parents).
    #[serde(rename = "EvalID")]
    pub eval_id: String,
    /// Raft index of the eval.
    pub eval_create_index: u64,
    /// Raft index of the job.
    pub job_modify_index: u64,
    /// Warnings.
    pub warnings: String,
}

/// Response of `POST /v1/job/:id/dispatch`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DispatchResponse {
    /// ID of the dispatched child job.
    #[serde(rename = "DispatchedJobID")]
    pub dispatched_job_id: String,
    /// Evaluation created.
    #[serde(rename = "EvalID")]
    pub eval_id: String,
    /// Raft index of the eval.
    pub eval_create_index: u64,
}

/// A job list stub (`GET /v1/jobs`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct JobListStub {
    /// Job ID.
    #[serde(rename = "ID")]
    pub id: String,
    /// Namespace.
    pub namespace: String,
    /// `pending|running|dead`.
    pub status: String,
    /// Job type.
    #[serde(rename = "Type")]
    pub job_type: String,
    /// Registration time, Unix ns (leader clock).
    pub submit_time: i64,
    /// Raft index of the last job change.
    pub job_modify_index: u64,
}

/// One task's state (`TaskStates[name]`). Times are RFC 3339 strings on the client's clock.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct TaskState<'a> {
    /// `pending|running|dead`.
    #[serde(borrow)]
    pub state: Cow<'a, str>,
    /// Whether the task failed.
    pub failed: bool,
    /// When the task started (RFC 3339), `null` if never.
    #[serde(borrow)]
    pub started_at: Option<Cow<'a, str>>,
    /// When the task finished (RFC 3339), `null` if not yet.
    #[serde(borrow)]
    pub finished_at: Option<Cow<'a, str>>,
    /// Restarts in place so far.
    pub restarts: u64,
}

impl TaskState<'_> {
    fn into_owned(self) -> TaskState<'static> {
        TaskState {
            state: owned(self.state),
            failed: self.failed,
            started_at: self.started_at.map(owned),
            finished_at: self.finished_at.map(owned),
            restarts: self.restarts,
        }
    }
}

fn owned(s: Cow<'_, str>) -> Cow<'static, str> {
    Cow::Owned(s.into_owned())
}

/// The one allocation wire type: an event-stream payload (`Payload.Allocation`, borrowed from the line it
/// was decoded from) and a `GET /v1/allocations` item (owned, as [`AllocStub`]) alike. The fields the
/// timeline and the recorder read; the rest of Nomad's allocation is skipped.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Allocation<'a> {
    /// Allocation ID (UUID).
    #[serde(borrow, rename = "ID")]
    pub id: Cow<'a, str>,
    /// Node ID.
    #[serde(borrow, rename = "NodeID")]
    pub node_id: Cow<'a, str>,
    /// Job ID.
    #[serde(borrow, rename = "JobID")]
    pub job_id: Cow<'a, str>,
    /// Task group.
    #[serde(borrow)]
    pub task_group: Cow<'a, str>,
    /// `run|stop|evict`.
    #[serde(borrow)]
    pub desired_status: Cow<'a, str>,
    /// `pending|running|complete|failed|lost|unknown`.
    #[serde(borrow)]
    pub client_status: Cow<'a, str>,
    /// Per-task states, in the wire's order, without the task names (nothing reads them): Nomad's
    /// `TaskStates` map, empty when absent or `null` (lists carry it when asked with `task_states=true`).
    /// A `Vec` rather than a `BTreeMap`: one small allocation per event instead of a B-tree node
    /// (`stampede bench ingest`).
    #[serde(borrow, deserialize_with = "task_state_values")]
    pub task_states: Vec<TaskState<'a>>,
    /// The allocation this one replaces.
    #[serde(borrow)]
    pub previous_allocation: Option<Cow<'a, str>>,
    /// Reschedule history: present (non-null) on replacements; its content is not read.
    pub reschedule_tracker: Option<IgnoredAny>,
    /// Raft index of the last change.
    pub modify_index: u64,
    /// Placement time, Unix ns (leader clock).
    pub create_time: i64,
    /// Last change, Unix ns.
    pub modify_time: i64,
}

impl Allocation<'_> {
    /// The same allocation, owning its strings.
    pub fn into_owned(self) -> Allocation<'static> {
        Allocation {
            id: owned(self.id),
            node_id: owned(self.node_id),
            job_id: owned(self.job_id),
            task_group: owned(self.task_group),
            desired_status: owned(self.desired_status),
            client_status: owned(self.client_status),
            task_states: self
                .task_states
                .into_iter()
                .map(TaskState::into_owned)
                .collect(),
            previous_allocation: self.previous_allocation.map(owned),
            reschedule_tracker: self.reschedule_tracker,
            modify_index: self.modify_index,
            create_time: self.create_time,
            modify_time: self.modify_time,
        }
    }
}

/// The values of a `TaskStates` map (or nothing for `null`), keys skipped.
fn task_state_values<'de: 'a, 'a, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<TaskState<'a>>, D::Error> {
    struct Values<'a>(std::marker::PhantomData<TaskState<'a>>);
    impl<'de: 'a, 'a> serde::de::Visitor<'de> for Values<'a> {
        type Value = Vec<TaskState<'a>>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a map of task name to task state, or null")
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_some<D2: serde::Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            d.deserialize_map(self)
        }
        fn visit_map<M: serde::de::MapAccess<'de>>(
            self,
            mut m: M,
        ) -> Result<Self::Value, M::Error> {
            let mut out = Vec::with_capacity(m.size_hint().unwrap_or(1).min(16));
            while let Some((IgnoredAny, v)) = m.next_entry::<IgnoredAny, TaskState<'a>>()? {
                out.push(v);
            }
            Ok(out)
        }
    }
    d.deserialize_option(Values(std::marker::PhantomData))
}

/// An [`Allocation`] that owns its strings: what list endpoints (`GET /v1/allocations`) decode into.
#[derive(Debug, Clone, Default)]
pub struct AllocStub(pub Allocation<'static>);

impl<'de> Deserialize<'de> for AllocStub {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Allocation::deserialize(d).map(|a| AllocStub(a.into_owned()))
    }
}

impl std::ops::Deref for AllocStub {
    type Target = Allocation<'static>;
    fn deref(&self) -> &Allocation<'static> {
        &self.0
    }
}

/// An evaluation (`GET /v1/evaluations`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Evaluation {
    /// Evaluation ID.
    #[serde(rename = "ID")]
    pub id: String,
    /// Job ID.
    #[serde(rename = "JobID")]
    pub job_id: String,
    /// `pending|blocked|complete|failed|canceled`.
    pub status: String,
    /// What created it.
    pub triggered_by: String,
    /// Blocked eval created by this one, if any.
    pub blocked_eval: String,
    /// Raft index of the last change.
    pub modify_index: u64,
    /// Creation time, Unix ns.
    pub create_time: i64,
}

/// A node list stub (`GET /v1/nodes`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NodeStub {
    /// Node ID.
    #[serde(rename = "ID")]
    pub id: String,
    /// Node name.
    pub name: String,
    /// Address.
    pub address: String,
    /// Datacenter.
    pub datacenter: String,
    /// Node class.
    pub node_class: String,
    /// Node pool.
    pub node_pool: String,
    /// `initializing|ready|down|disconnected`.
    pub status: String,
    /// `eligible|ineligible`.
    pub scheduling_eligibility: String,
    /// Nomad version of the client.
    pub version: String,
}

/// `GET /v1/operator/raft/configuration`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RaftConfiguration {
    /// Servers in the Raft configuration.
    pub servers: Vec<RaftServer>,
    /// Raft index.
    pub index: u64,
}

/// One Raft server.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RaftServer {
    /// Raft ID.
    #[serde(rename = "ID")]
    pub id: String,
    /// Node name (`s1.global`).
    pub node: String,
    /// RPC address `ip:4647`.
    pub address: String,
    /// Whether it leads.
    pub leader: bool,
    /// Whether it votes.
    pub voter: bool,
}

/// The in-memory sink of `GET /v1/metrics` (JSON form).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct MetricsSummary {
    /// Interval label.
    pub timestamp: String,
    /// Gauges.
    pub gauges: Vec<GaugeValue>,
    /// Counters (per interval).
    pub counters: Vec<SampledValue>,
    /// Timers and samples (ms for timers).
    pub samples: Vec<SampledValue>,
}

/// A gauge.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct GaugeValue {
    /// Dotted metric name (`nomad.nomad.broker.total_ready`).
    pub name: String,
    /// Value.
    pub value: f64,
    /// Labels.
    pub labels: BTreeMap<String, String>,
}

/// A counter or sample aggregated over one interval.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SampledValue {
    /// Dotted metric name.
    pub name: String,
    /// Observations in the interval.
    pub count: u64,
    /// Sum / interval seconds.
    pub rate: f64,
    /// Sum.
    pub sum: f64,
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
    /// Mean.
    pub mean: f64,
    /// Labels.
    pub labels: BTreeMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_states_keep_every_value_in_wire_order_and_accept_null_or_absence() {
        let line = r#"{"ID":"a1","TaskStates":{"web":{"State":"dead","Failed":true,"Restarts":2,
            "StartedAt":"2020-11-17T00:00:01Z","FinishedAt":null},"log":{"State":"running"}},"ModifyIndex":7}"#;
        let a: Allocation = serde_json::from_str(line).unwrap();
        assert_eq!(a.task_states.len(), 2);
        assert_eq!(a.task_states[0].state, "dead");
        assert!(a.task_states[0].failed);
        assert_eq!(a.task_states[0].restarts, 2);
        assert_eq!(
            a.task_states[0].started_at.as_deref(),
            Some("2020-11-17T00:00:01Z")
        );
        assert_eq!(a.task_states[0].finished_at, None);
        assert_eq!(a.task_states[1].state, "running");
        assert_eq!(a.modify_index, 7);
        // Borrowed from the line while decoding, owned after `into_owned`.
        let owned = a.into_owned();
        assert_eq!(owned.task_states[1].state, "running");

        for line in [
            r#"{"ID":"a","TaskStates":null}"#,
            r#"{"ID":"a"}"#,
            r#"{"ID":"a","TaskStates":{}}"#,
        ] {
            let a: AllocStub = serde_json::from_str(line).unwrap();
            assert!(a.task_states.is_empty(), "{line}");
        }
    }

    #[test]
    fn task_states_of_the_wrong_shape_are_an_error() {
        let err =
            serde_json::from_str::<AllocStub>(r#"{"ID":"a","TaskStates":["web"]}"#).unwrap_err();
        assert!(
            err.to_string().contains("a map of task name to task state"),
            "{err}"
        );
    }
}
