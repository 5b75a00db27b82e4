//! The event-stream reader: opens `/v1/event/stream`, reads NDJSON (chunked or close-delimited), skips
//! heartbeats, reconnects with `index = last + 1` and drops batches already seen (`Index <= last`).

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::client::NomadClient;
use super::ndjson::{decode_line_events, Event, LineKind, LineSplitter, DEFAULT_MAX_LINE};

/// Counters of one stream reader's life.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Connections opened (1 + reconnects).
    pub connects: u64,
    /// Connections that failed to open or broke.
    pub disconnects: u64,
    /// Batches handed to the handler.
    pub batches: u64,
    /// Events inside those batches.
    pub events: u64,
    /// Heartbeats received.
    pub heartbeats: u64,
    /// Batches dropped because their index was already seen (replayed after a reconnect).
    pub duplicate_batches: u64,
    /// Lines that could not be decoded (skipped).
    pub bad_lines: u64,
    /// Highest batch index seen.
    pub last_index: u64,
    /// The last error text, if any (no token in it).
    pub last_error: Option<String>,
}

/// Settings of [`read_event_stream`].
#[derive(Debug, Clone)]
pub struct StreamOptions {
    /// Topics (`Allocation:*`, `Evaluation:<job>`, …).
    pub topics: Vec<String>,
    /// First index to ask for (0 = the server's oldest buffered batch).
    pub start_index: u64,
    /// Reconnect when nothing (not even a heartbeat) arrived for this long.
    pub idle_timeout: Duration,
    /// Longest line accepted.
    pub max_line: usize,
    /// Longest pause between reconnect attempts.
    pub max_backoff: Duration,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            topics: vec!["Allocation:*".into(), "Evaluation:*".into(), "Job:*".into()],
            start_index: 0,
            idle_timeout: Duration::from_secs(75),
            max_line: DEFAULT_MAX_LINE,
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// Reads the event stream until `stop` is cancelled, calling `on_event(index, event)` for every event of
/// every new batch, in index order (events are decoded one by one, never collected).
/// Never returns an error: failures reconnect (with backoff) and are counted in the returned stats.
pub async fn read_event_stream<F>(
    client: &NomadClient,
    opts: &StreamOptions,
    stop: CancellationToken,
    mut on_event: F,
) -> StreamStats
where
    F: FnMut(u64, &Event<'_>),
{
    let mut st = StreamStats {
        last_index: opts.start_index.saturating_sub(1),
        ..Default::default()
    };
    let mut have_seen = opts.start_index > 0;
    let mut backoff = Duration::from_millis(50);
    while !stop.is_cancelled() {
        let index = if have_seen { st.last_index + 1 } else { 0 };
        st.connects += 1;
        let opened = tokio::select! {
            _ = stop.cancelled() => break,
            r = client.event_stream_response(&opts.topics, index) => r,
        };
        let mut resp = match opened {
            Ok(r) => r,
            Err(e) => {
                st.disconnects += 1;
                st.last_error = Some(e.to_string());
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(opts.max_backoff);
                continue;
            }
        };
        let mut split = LineSplitter::new(opts.max_line);
        let mut got_any = false;
        loop {
            let chunk = tokio::select! {
                _ = stop.cancelled() => return st,
                c = tokio::time::timeout(opts.idle_timeout, resp.chunk()) => c,
            };
            match chunk {
                Ok(Ok(Some(bytes))) => {
                    split.push(&bytes);
                    while let Some(line) = split.next_line() {
                        let line = match line {
                            Ok(l) => l,
                            Err(e) => {
                                st.bad_lines += 1;
                                st.last_error = Some(e.to_string());
                                continue;
                            }
                        };
                        // Events of a batch already seen (replayed after a reconnect) are dropped.
                        let floor = if have_seen { Some(st.last_index) } else { None };
                        let mut delivered = 0u64;
                        let mut dropped = 0u64;
                        let kind = decode_line_events(line, |idx, ev| {
                            if floor.is_some_and(|f| idx <= f) {
                                dropped += 1;
                            } else {
                                delivered += 1;
                                on_event(idx, &ev);
                            }
                        });
                        match kind {
                            Ok(LineKind::Blank) => {}
                            Ok(LineKind::Heartbeat) => {
                                st.heartbeats += 1;
                                got_any = true;
                            }
                            Ok(LineKind::Batch { index, .. }) => {
                                got_any = true;
                                if delivered == 0 && floor.is_some_and(|f| index <= f) {
                                    st.duplicate_batches += 1;
                                    continue;
                                }
                                st.batches += 1;
                                st.events += delivered;
                                st.last_index = st.last_index.max(index);
                                have_seen = true;
                            }
                            Err(e) => {
                                st.bad_lines += 1;
                                st.last_error = Some(e.to_string());
                            }
                        }
                        let _ = dropped;
                    }
                }
                Ok(Ok(None)) => {
                    // End of body: normal for close-delimited streams when the server goes away.
                    if let Err(e) = split.finish() {
                        st.bad_lines += 1;
                        st.last_error = Some(e.to_string());
                    }
                    st.disconnects += 1;
                    break;
                }
                Ok(Err(e)) => {
                    st.disconnects += 1;
                    st.last_error = Some(format!("reading event stream: {}", e.without_url()));
                    break;
                }
                Err(_) => {
                    st.disconnects += 1;
                    st.last_error = Some(format!(
                        "event stream idle for {:?}; reconnecting",
                        opts.idle_timeout
                    ));
                    break;
                }
            }
        }
        if got_any {
            backoff = Duration::from_millis(50);
        }
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(opts.max_backoff);
    }
    st
}
