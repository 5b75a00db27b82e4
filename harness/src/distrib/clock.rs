//! The offset of this machine's wall clock against the Nomad servers', from the HTTP `Date` header.
//!
//! `Date` has a resolution of one second, but the moment it ticks is sharp: requests are sent back to back
//! until the server's `Date` changes from `D − 1` to `D`. The server's clock passed `D` after it answered
//! the previous request and before it answered this one, so on our clock that instant lies between the
//! previous request's send time `a` and this one's receive time `b`: `offset = local − server` lies in
//! `(a − D, b − D]`. We state the midpoint and the half-width (about one round trip) as the uncertainty.
//! The first edge may be wide (a first request that opens the connection, a busy machine), so the
//! measurement keeps the narrowest edge and stops once one is within [`GOOD_ENOUGH_NS`], or after
//! [`MEASURE_BOUND`].

use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::shard::unix_ns_now;
use crate::nomad::NomadClient;

/// Longest the measurement may take (room for three `Date` edges).
pub const MEASURE_BOUND: Duration = Duration::from_millis(3500);

/// A measured clock offset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClockOffset {
    /// This machine's wall clock minus the server's, ns (positive: we are ahead).
    pub offset_ns: i64,
    /// Half-width of the interval the offset is known to lie in, ns.
    pub uncertainty_ns: i64,
    /// Requests sent.
    pub requests: u32,
    /// The server asked (redacted base URL).
    pub server: String,
}

fn date_secs(resp: &reqwest::Response) -> Option<i64> {
    let v = resp.headers().get(reqwest::header::DATE)?.to_str().ok()?;
    chrono::DateTime::parse_from_rfc2822(v.trim())
        .or_else(|_| chrono::DateTime::parse_from_rfc2822(&v.replace("GMT", "+0000")))
        .ok()
        .map(|d| d.timestamp())
}

/// An edge whose interval is at most this wide ends the measurement early.
pub const GOOD_ENOUGH_NS: i64 = 2_000_000;

/// Measures the offset against `client`'s server (`GET /v1/status/leader`, which any token may read):
/// the narrowest `Date` edge seen within [`MEASURE_BOUND`] (after the first edge, the next one is
/// predicted and approached with back-to-back requests).
pub async fn measure(client: &NomadClient) -> Result<ClockOffset> {
    let started = std::time::Instant::now();
    let mut prev: Option<(i64, i64)> = None; // (Date second, send time of that request)
    let mut best: Option<(i64, i64)> = None; // (lo, hi) of the offset
    let mut requests = 0u32;
    while started.elapsed() < MEASURE_BOUND {
        let a = unix_ns_now();
        let resp = client
            .get_response("/v1/status/leader", &[])
            .await
            .context("measuring the clock offset against the server (GET /v1/status/leader)")?;
        let b = unix_ns_now();
        requests += 1;
        let Some(d) = date_secs(&resp) else {
            bail!(
                "{}: the server's answer has no usable Date header; cannot measure the clock offset",
                client.base()
            );
        };
        drop(resp);
        if let Some((pd, pa)) = prev {
            if d > pd {
                let edge = d * 1_000_000_000;
                let (lo, hi) = (pa - edge, b - edge);
                if best.is_none_or(|(l, h)| hi - lo < h - l) {
                    best = Some((lo, hi));
                }
            }
        }
        if best.is_some_and(|(l, h)| h - l <= GOOD_ENOUGH_NS) {
            break;
        }
        prev = Some((d, a));
        // With an edge known, sleep until just before the next one (on our clock) and then ask back to
        // back; before that, ask every half millisecond.
        let pause = match best {
            Some((l, h)) => {
                let next_edge_local = (d + 1) * 1_000_000_000 + l + (h - l) / 2;
                let early = (h - l) / 2 + 3_000_000;
                Duration::from_nanos((next_edge_local - early - unix_ns_now()).max(0) as u64)
            }
            None => Duration::from_micros(500),
        };
        if !pause.is_zero() {
            tokio::time::sleep(pause.min(MEASURE_BOUND)).await;
        }
    }
    match best {
        Some((lo, hi)) => Ok(ClockOffset {
            offset_ns: lo + (hi - lo) / 2,
            uncertainty_ns: (hi - lo + 1) / 2,
            requests,
            server: client.base().to_string(),
        }),
        None => bail!(
            "{}: the Date header did not tick within {:.1} s ({requests} requests); cannot measure the clock offset",
            client.base(),
            MEASURE_BOUND.as_secs_f64()
        ),
    }
}
