//! `stampede run`: the load generator and its measurement.
//!
//! | file | what |
//! |---|---|
//! | [`build`] | [`WorkloadRequest`] → [`BuiltWorkload`]: read the scenario or jobspec, shape the job JSON |
//! | [`ingest`] | the synthetic event stream and ingest loop of `stampede bench ingest` |
//! | [`plan`] | [`RunPlan`]: the typed plan `run_load` executes (built from CLI flags or a scenario) |
//! | [`generator`] | open-loop (paced, intended vs actual send time) and closed-loop (workers) submission with retries |
//! | [`timeline`] | the compact per-allocation timeline merged from the event stream and the final poll |
//! | [`scraper`] | 1 s scrapes of every server's `/v1/metrics` into `metrics.csv` rows |
//! | [`runner`] | [`run_load`]: observe, submit, drain, reconcile, write the run record |

pub mod build;
pub mod generator;
pub mod ingest;
pub mod plan;
pub mod runner;
pub mod scraper;
pub mod soak;
pub mod timeline;

pub use build::{build_workload, BuiltWorkload, WorkloadRequest, WorkloadSpec};
pub use plan::{Pacing, RunPlan, WorkloadPlan};
pub use runner::{run_load, run_load_with, EmbeddedTarget, RunOutcome};
pub use timeline::WaitFor;
