//! The Nomad client against the mock over loopback: blocking queries, pagination, errors, event stream.

use std::time::Duration;

use stampede::nomad::stream::{read_event_stream, StreamOptions};
use stampede::nomad::{ListQuery, NomadClient, NomadConnArgs};
use tokio_util::sync::CancellationToken;

use crate::mock_nomad::{MockConfig, MockNomad};

fn client(m: &MockNomad) -> NomadClient {
    let conn = NomadConnArgs {
        token: Some("top-secret-token".into()),
        ..NomadConnArgs::for_address(&m.addr)
    };
    NomadClient::new(&conn).unwrap()
}

fn job(id: &str, count: u32) -> serde_json::Value {
    serde_json::json!({"ID": id, "Type": "batch", "TaskGroups": [{"Name": "g0", "Count": count, "Tasks": [{"Name": "t", "Driver": "raw_exec"}]}]})
}

#[tokio::test]
async fn blocking_query_and_pagination() {
    let m = MockNomad::start(MockConfig::default()).await;
    let c = client(&m);
    let (_, meta) = c.allocations(&ListQuery::default()).await.unwrap();
    let t = tokio::time::Instant::now();
    // Nothing changes: a blocking query returns after `wait` with the same index.
    let (_, meta2) = c
        .allocations(&ListQuery {
            index: Some(meta.index),
            wait: Some(Duration::from_millis(300)),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        t.elapsed() >= Duration::from_millis(280),
        "returned after {:?}",
        t.elapsed()
    );
    assert_eq!(meta2.index, meta.index);
    // A change wakes it early.
    let c2 = c.clone();
    let waiter = tokio::spawn(async move {
        c2.allocations(&ListQuery {
            index: Some(meta.index),
            wait: Some(Duration::from_secs(20)),
            ..Default::default()
        })
        .await
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    c.register_job(&job("pg-1", 7)).await.unwrap();
    let (_, woke) = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(woke.index > meta.index);
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Pagination: 7 allocations in pages of 2 → 4 pages, every allocation once.
    let (first, m1) = c
        .allocations(&ListQuery {
            per_page: Some(2),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(first.len(), 2);
    assert!(
        m1.next_token.is_some(),
        "X-Nomad-Nexttoken read case-insensitively"
    );
    let (all, _) = c
        .list_all::<stampede::nomad::types::AllocStub>(
            "/v1/allocations",
            &ListQuery {
                per_page: Some(2),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mut ids: Vec<_> = all.iter().map(|a| a.id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 7);
}

#[tokio::test]
async fn plain_text_errors_are_typed_and_never_show_the_token() {
    let m = MockNomad::start(MockConfig {
        fail_register_every: 1,
        ..Default::default()
    })
    .await;
    let c = client(&m);
    let e = c.register_job(&job("x", 1)).await.unwrap_err();
    assert_eq!(e.status(), Some(500));
    assert!(e.is_retryable());
    assert!(e.to_string().contains("No cluster leader"), "{e}");
    assert!(!e.to_string().contains("top-secret"), "{e}");
    assert!(!format!("{c:?}").contains("top-secret"));
    let e = c.deregister_job("nope", true).await.unwrap_err();
    assert_eq!(e.status(), Some(404));
    assert!(!e.is_retryable());
    assert!(e.to_string().contains("job not found"));
    let e = c.parse_job("job {", "").await.unwrap_err();
    assert_eq!(e.status(), Some(400));
    // Connection refused is retryable.
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = NomadClient::new(&NomadConnArgs::for_address(&format!(
        "http://127.0.0.1:{closed_port}"
    )))
    .unwrap();
    assert!(dead.leader().await.unwrap_err().is_retryable());
    // 429 (raw, Connection: close) is retryable.
    let m = MockNomad::start(MockConfig {
        register_429_at: Some(1),
        ..Default::default()
    })
    .await;
    let e = client(&m).register_job(&job("y", 1)).await.unwrap_err();
    assert_eq!(e.status(), Some(429));
    assert!(e.is_retryable());
}

async fn stream_sees_everything(chunked: bool) {
    let m = MockNomad::start(MockConfig {
        chunked,
        drop_stream_every: Some(Duration::from_millis(150)),
        ..Default::default()
    })
    .await;
    let c = client(&m);
    let stop = CancellationToken::new();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let c2 = c.clone();
    let s2 = stop.clone();
    let reader = tokio::spawn(async move {
        let mut last = 0;
        read_event_stream(&c2, &StreamOptions::default(), s2, move |idx, _| {
            // One entry per batch (events of a batch share its index).
            if idx != last {
                tx.send(idx).unwrap();
                last = idx;
            }
        })
        .await
    });
    for i in 0..10 {
        c.register_job(&job(&format!("s-{i}"), 2)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    stop.cancel();
    let stats = reader.await.unwrap();
    let mut seen = Vec::new();
    while let Ok(i) = rx.try_recv() {
        seen.push(i);
    }
    let want: Vec<u64> = m
        .state
        .lock()
        .unwrap()
        .batches
        .iter()
        .map(|b| b.0)
        .collect();
    assert!(
        stats.connects >= 3,
        "stream should have been dropped and reopened: {stats:?}"
    );
    assert_eq!(seen, want, "every batch exactly once, in order ({stats:?})");
    assert_eq!(stats.bad_lines, 0, "{stats:?}");
}

#[tokio::test]
async fn event_stream_chunked_reconnects_without_duplicates() {
    stream_sees_everything(true).await;
}

#[tokio::test]
async fn event_stream_close_delimited_reconnects_without_duplicates() {
    stream_sees_everything(false).await;
}
