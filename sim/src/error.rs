//! The simulator's error type.

use crate::api::SimTime;

/// Everything that can go wrong in a simulation. Every variant is fatal to the run it occurs in
/// (the simulator never continues after one), and carries the simulated time or input location.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// The event budget ran out (`[sim] max_events`): the model is probably livelocked.
    #[error("event budget of {max} events exhausted at t={t_ns}ns (raise [sim] max_events if this is expected)")]
    EventBudget {
        /// Budget.
        max: u64,
        /// Simulated time when it ran out.
        t_ns: SimTime,
    },
    /// The simulated-time budget ran out (`[sim] max_time`) before the workload finished.
    #[error(
        "simulated-time budget of {max_ns}ns exhausted with work still outstanding ({detail})"
    )]
    TimeBudget {
        /// Budget.
        max_ns: SimTime,
        /// What was still outstanding.
        detail: String,
    },
    /// A job could not be accepted (Nomad would answer 400/500 with this message).
    #[error("{0}")]
    InvalidJob(String),
    /// Unknown object (Nomad would answer 404).
    #[error("{0}")]
    NotFound(String),
    /// The scenario cannot be simulated (e.g. no nodes).
    #[error("scenario: {0}")]
    Scenario(String),
    /// A trace could not be read.
    #[error("{0}")]
    Trace(String),
}
