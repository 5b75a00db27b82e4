//! The Nomad HTTP client, the event-stream reader and the metrics parsers.
//!
//! | file | what |
//! |---|---|
//! | [`conn`] | [`NomadConnArgs`]: the `nomad` CLI's flags and env vars (address, token, TLS) |
//! | [`error`] | [`NomadError`]: typed errors with [`NomadError::is_retryable`] |
//! | [`client`] | [`NomadClient`]: jobs, parse, dispatch, scheduler config (cas), lists with blocking queries and paging, metrics, status |
//! | [`types`] | response shapes (PascalCase, all optional, unknown fields ignored) |
//! | [`ndjson`] | the event stream's framing and batch decoding: pure functions over bytes |
//! | [`stream`] | the reconnecting event-stream reader |
//! | [`prometheus`] | the Prometheus text-format parser |
//! | [`metrics`] | server metric snapshots from either metrics format |

pub mod client;
pub mod conn;
pub mod error;
pub mod metrics;
pub mod ndjson;
pub mod prometheus;
pub mod stream;
pub mod types;

pub use client::{ListQuery, NomadClient};
pub use conn::NomadConnArgs;
pub use error::NomadError;
