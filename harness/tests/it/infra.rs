//! The infrastructure code: `tools/infra-check.sh` (terraform fmt + sizing tests, checkov, packer validate
//! and a moto build) and the AMI's spot-interruption watcher against a fake instance-metadata service.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::repo;

#[test]
fn infra_check_script_passes() {
    let out = Command::new("bash")
        .arg(repo().join("tools/infra-check.sh"))
        .output()
        .expect("running tools/infra-check.sh");
    let so = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "infra-check failed:\n{so}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(so.contains("5 passed, 0 failed"), "{so}");
    assert!(
        so.contains("4 passed, 0 failed"),
        "terraform test of the sizing module: {so}"
    );
}

/// A fake IMDSv2: token on PUT; `spot/instance-action` 404 for the first `notice_after` GETs, then 200.
fn fake_imds(notice_after: usize) -> (u16, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let gets = Arc::new(AtomicUsize::new(0));
    let g = gets.clone();
    std::thread::spawn(move || {
        for s in l.incoming().take(200) {
            let Ok(mut s) = s else { continue };
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut first = String::new();
            if r.read_line(&mut first).is_err() {
                continue;
            }
            let mut token_ok = false;
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
                    break;
                }
                token_ok |= h
                    .to_ascii_lowercase()
                    .starts_with("x-aws-ec2-metadata-token: tok");
            }
            let (code, body) = if first.starts_with("PUT /latest/api/token") {
                ("200 OK", "tok".to_string())
            } else if first.starts_with("GET /latest/meta-data/spot/instance-action") && token_ok {
                if g.fetch_add(1, Ordering::SeqCst) >= notice_after {
                    (
                        "200 OK",
                        r#"{"action":"terminate","time":"2026-11-22T03:00:00Z"}"#.to_string(),
                    )
                } else {
                    ("404 Not Found", String::new())
                }
            } else {
                ("401 Unauthorized", String::new())
            };
            let _ = write!(
                s,
                "HTTP/1.1 {code}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let mut sink = Vec::new();
            let _ = s.read_to_end(&mut sink);
        }
    });
    (port, gets)
}

#[test]
fn spot_watcher_drains_the_node_on_the_notice() {
    let (port, gets) = fake_imds(2);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("nomad-args");
    let fake_nomad = dir.path().join("nomad");
    std::fs::write(
        &fake_nomad,
        format!("#!/bin/sh\necho \"$@\" >> {}\n", log.display()),
    )
    .unwrap();
    Command::new("chmod")
        .arg("+x")
        .arg(&fake_nomad)
        .status()
        .unwrap();
    let started = Instant::now();
    let mut child = Command::new("bash")
        .arg(repo().join("packer/files/stampede-spot-watch"))
        .env("IMDS", format!("http://127.0.0.1:{port}"))
        .env("NOMAD", &fake_nomad)
        .env("POLL_SECONDS", "0.2")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("the watcher did not exit within 30 s after the notice");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(status.success(), "{out}");
    assert!(out.contains("interruption notice"), "{out}");
    assert_eq!(
        gets.load(Ordering::SeqCst),
        3,
        "polled until the first 200 (after two 404s), then stopped"
    );
    let args = std::fs::read_to_string(&log).expect("the watcher ran nomad");
    assert_eq!(
        args.trim(),
        "node drain -self -enable -deadline 90s -yes -detach"
    );
}
