//! `GET /v1/event/stream`: NDJSON batches from the 100-batch ring with Nomad's topic filters and index
//! semantics; `{}` first and every heartbeat interval.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use super::state::{batch_line, EventBatch, Topic};
use super::{ApiError, Shared};

/// A subscription's topic filter: topic (`None` = `*`) → keys (`None` = all keys).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    topics: BTreeMap<Option<Topic>, Option<Vec<String>>>,
    namespace: String,
}

fn parse_topic(s: &str) -> Result<Option<Topic>, ApiError> {
    Ok(Some(match s {
        "*" => return Ok(None),
        "Job" => Topic::Job,
        "Evaluation" => Topic::Evaluation,
        "Allocation" => Topic::Allocation,
        "Node" => Topic::Node,
        // Deployment and other topics: nothing is ever published on them here.
        _ => return Err((0, s.to_string())),
    }))
}

impl Filter {
    /// Parses the `topic` and `namespace` query parameters.
    pub fn parse(params: &[(String, String)]) -> Result<Filter, ApiError> {
        let mut f = Filter {
            namespace: "default".into(),
            ..Default::default()
        };
        let mut any = false;
        let mut unknown_only = true;
        for (k, v) in params {
            match k.as_str() {
                "namespace" => f.namespace = v.clone(),
                "topic" => {
                    any = true;
                    let parts: Vec<&str> = v.split(':').collect();
                    if parts.len() > 2 || parts[0].is_empty() {
                        return Err((400, "Invalid topic query".into()));
                    }
                    let topic = match parse_topic(parts[0]) {
                        Ok(t) => t,
                        Err(_) => continue,
                    };
                    unknown_only = false;
                    let key = parts.get(1).copied().unwrap_or("*");
                    let e = f.topics.entry(topic).or_insert(Some(Vec::new()));
                    if key == "*" {
                        *e = None;
                    } else if let Some(keys) = e {
                        keys.push(key.to_string());
                    }
                }
                _ => {}
            }
        }
        if !any {
            f.topics.insert(None, None);
        } else if unknown_only {
            // Only topics that never publish here: match nothing.
            f.topics.clear();
        }
        Ok(f)
    }

    fn all(&self) -> bool {
        self.namespace == "*" && self.topics.get(&None).is_some_and(|k| k.is_none())
    }

    fn matches(&self, e: &super::state::Event) -> bool {
        if !(self.namespace == "*" || e.namespace.is_empty() || e.namespace == self.namespace) {
            return false;
        }
        let key_ok = |keys: &Option<Vec<String>>| match keys {
            None => true,
            Some(ks) => ks
                .iter()
                .any(|k| *k == e.key || (!e.filter_key.is_empty() && *k == e.filter_key)),
        };
        self.topics.get(&Some(e.topic)).is_some_and(key_ok)
            || self.topics.get(&None).is_some_and(key_ok)
    }

    /// The NDJSON line of a batch for this filter, or `None` when no event matches.
    pub fn line(&self, b: &EventBatch) -> Option<Bytes> {
        if self.all()
            || (self.namespace != "*"
                && self.topics.get(&None).is_some_and(|k| k.is_none())
                && b.events
                    .iter()
                    .all(|e| e.namespace.is_empty() || e.namespace == self.namespace))
        {
            return Some(b.line.clone());
        }
        let sel: Vec<&str> = b
            .events
            .iter()
            .filter(|e| self.matches(e))
            .map(|e| e.json.as_str())
            .collect();
        if sel.is_empty() {
            None
        } else {
            Some(batch_line(b.index, sel.into_iter()))
        }
    }
}

/// Serves one subscription.
pub fn serve(sh: Arc<Shared>, params: &[(String, String)]) -> Result<Response, ApiError> {
    let filter = Filter::parse(params)?;
    let mut index = 0u64;
    for (k, v) in params {
        if k == "index" {
            index = v.parse().map_err(|_| (400, "Invalid index".to_string()))?;
        }
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, Infallible>>(64);
    let heartbeat = sh.cfg.heartbeat;
    let drop_after = sh.cfg.faults.drop_streams_every;
    tokio::spawn(async move {
        let _ = pump(sh, filter, index, heartbeat, drop_after, tx).await;
    });
    let body = Body::from_stream(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }));
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(resp)
}

async fn pump(
    sh: Arc<Shared>,
    filter: Filter,
    index: u64,
    heartbeat: Duration,
    drop_after: Option<Duration>,
    tx: tokio::sync::mpsc::Sender<Result<Bytes, Infallible>>,
) -> Result<(), ()> {
    let send = |b: Bytes| {
        let tx = tx.clone();
        async move { tx.send(Ok(b)).await.map_err(|_| ()) }
    };
    send(Bytes::from_static(b"{}\n")).await?;
    let mut idx_rx = sh.index_tx.subscribe();
    let mut shut_rx = sh.shutdown_tx.subscribe();
    let deadline = drop_after.map(|d| tokio::time::Instant::now() + d);
    // Next raft index to deliver.
    let mut next = {
        let ring = sh.ring.lock().map_err(|_| ())?;
        let pos = ring.start_pos(index);
        ring.batches.get(pos).map(|b| b.index).unwrap_or(0)
    };
    let mut hb = tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat);
    loop {
        idx_rx.borrow_and_update();
        // Everything buffered at or after `next`.
        let batch: Vec<Arc<EventBatch>> = {
            let ring = sh.ring.lock().map_err(|_| ())?;
            if let Some(front) = ring.batches.front() {
                if next != 0 && next < front.index {
                    // Fell behind the ring: Nomad closes slow subscribers.
                    return Err(());
                }
            }
            ring.batches
                .iter()
                .filter(|b| b.index >= next)
                .cloned()
                .collect()
        };
        for b in batch {
            next = b.index + 1;
            if let Some(line) = filter.line(&b) {
                send(line).await?;
            }
        }
        tokio::select! {
            r = idx_rx.changed() => { if r.is_err() { return Ok(()); } }
            _ = hb.tick() => { send(Bytes::from_static(b"{}\n")).await?; }
            _ = shut_rx.changed() => return Ok(()),
            _ = async { match deadline { Some(d) => tokio::time::sleep_until(d).await, None => std::future::pending().await } } => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::state::{Event, Ring};
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    fn ev(topic: Topic, key: &str, fk: &str, ns: &'static str) -> Event {
        Event {
            topic,
            key: key.into(),
            filter_key: fk.into(),
            namespace: ns,
            json: format!("{{\"Key\":\"{key}\"}}"),
        }
    }

    fn batch(index: u64, events: Vec<Event>) -> EventBatch {
        let line = batch_line(index, events.iter().map(|e| e.json.as_str()));
        EventBatch {
            index,
            events,
            line,
        }
    }

    #[test]
    fn topic_filters() {
        let b = batch(
            7,
            vec![
                ev(Topic::Allocation, "a1", "job1", "default"),
                ev(Topic::Allocation, "a2", "job2", "default"),
                ev(Topic::Node, "n1", "", ""),
                ev(Topic::Job, "job1", "", "default"),
            ],
        );
        let keys = |f: &Filter| -> Vec<String> {
            b.events
                .iter()
                .filter(|e| f.matches(e))
                .map(|e| e.key.clone())
                .collect()
        };
        let f = Filter::parse(&q(&[("topic", "Allocation:job1")])).unwrap();
        assert_eq!(keys(&f), vec!["a1"], "FilterKeys hold the JobID");
        let f = Filter::parse(&q(&[("topic", "Allocation:*"), ("topic", "Node")])).unwrap();
        assert_eq!(keys(&f), vec!["a1", "a2", "n1"]);
        let f = Filter::parse(&q(&[("topic", "*:job1")])).unwrap();
        assert_eq!(keys(&f), vec!["a1", "job1"]);
        let f = Filter::parse(&q(&[])).unwrap();
        assert_eq!(
            f.line(&b).unwrap(),
            b.line,
            "no topic: everything, the shared line"
        );
        let f = Filter::parse(&q(&[("topic", "Allocation:job1"), ("namespace", "other")])).unwrap();
        assert!(f.line(&b).is_none(), "other namespace");
        let f = Filter::parse(&q(&[("topic", "Deployment")])).unwrap();
        assert!(f.line(&b).is_none());
        assert_eq!(
            Filter::parse(&q(&[("topic", "Job:a:b")])).unwrap_err().0,
            400
        );
        let line = Filter::parse(&q(&[("topic", "Allocation:job2")]))
            .unwrap()
            .line(&b)
            .unwrap();
        assert_eq!(&line[..], b"{\"Index\":7,\"Events\":[{\"Key\":\"a2\"}]}\n");
    }

    #[test]
    fn ring_start_positions() {
        let mut r = Ring::default();
        assert_eq!(r.start_pos(5), 0);
        for i in [10u64, 12, 15] {
            r.batches.push_back(std::sync::Arc::new(batch(i, vec![])));
        }
        assert_eq!(r.start_pos(0), 0, "0: oldest");
        assert_eq!(r.start_pos(3), 0, "older than the ring: oldest");
        assert_eq!(r.start_pos(12), 1, "inclusive");
        assert_eq!(r.start_pos(13), 2, "next after");
        assert_eq!(r.start_pos(99), 2, "beyond the newest: the newest again");
    }
}
