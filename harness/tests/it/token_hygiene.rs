//! Token hygiene at the client boundary: redirects are never followed (so `X-Nomad-Token` cannot reach
//! another address), and userinfo in an address never appears in an error message.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use stampede::nomad::{NomadClient, NomadConnArgs};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A one-purpose HTTP server on 127.0.0.1: answers every request with `reply`, counts requests and keeps
/// their raw heads. Stops with the test's runtime.
async fn raw_server(reply: String) -> (String, Arc<AtomicUsize>, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("http://{}", l.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let heads = Arc::new(Mutex::new(Vec::new()));
    let (h2, hd2) = (hits.clone(), heads.clone());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let mut buf = vec![0u8; 8192];
            let n = s.read(&mut buf).await.unwrap_or(0);
            h2.fetch_add(1, Ordering::SeqCst);
            hd2.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&buf[..n]).into_owned());
            let _ = s.write_all(reply.as_bytes()).await;
            let _ = s.shutdown().await;
        }
    });
    (addr, hits, heads)
}

#[tokio::test]
async fn a_redirect_is_not_followed_and_the_token_stays_home() {
    let ok = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";
    let (other, other_hits, _) = raw_server(ok.to_string()).await;
    let redirect = format!(
        "HTTP/1.1 307 Temporary Redirect\r\nLocation: {other}/v1/agent/self\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    let (addr, hits, _) = raw_server(redirect).await;
    let conn = NomadConnArgs {
        token: Some("tok-must-not-travel".into()),
        ..NomadConnArgs::for_address(&addr)
    };
    let c = NomadClient::new(&conn).unwrap();
    let err = c.agent_self().await.unwrap_err();
    let msg = err.to_string();
    assert_eq!(err.status(), Some(307), "{msg}");
    assert!(msg.contains("not followed"), "{msg}");
    assert!(!err.is_retryable(), "a redirect is final: {msg}");
    assert!(hits.load(Ordering::SeqCst) >= 1);
    assert_eq!(
        other_hits.load(Ordering::SeqCst),
        0,
        "the redirect target was contacted"
    );
}

#[tokio::test]
async fn userinfo_becomes_basic_auth_and_never_shows_in_errors() {
    let nf = "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found";
    let (addr, _, heads) = raw_server(nf.to_string()).await;
    let with_user = addr.replace("http://", "http://alice:pa55word@");
    let c = NomadClient::new(&NomadConnArgs::for_address(&with_user)).unwrap();
    assert!(!c.base().contains("pa55word"), "{}", c.base());
    let msg = c.agent_self().await.unwrap_err().to_string();
    assert!(msg.contains("HTTP 404"), "{msg}");
    assert!(!msg.contains("pa55word") && !msg.contains("alice"), "{msg}");
    let head = heads.lock().unwrap()[0].to_lowercase();
    // base64("alice:pa55word")
    assert!(
        head.contains("authorization: basic ywxpy2u6cge1nxdvcmq="),
        "{head}"
    );
    // A closed port: the connection error names the address without the secret either.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let c = NomadClient::new(&NomadConnArgs::for_address(&format!(
        "http://bob:hunter2@127.0.0.1:{port}"
    )))
    .unwrap();
    let msg = c.agent_self().await.unwrap_err().to_string();
    assert!(!msg.contains("hunter2"), "{msg}");
}
