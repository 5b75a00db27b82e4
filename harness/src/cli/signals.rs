//! SIGINT, SIGTERM and SIGHUP as one "stop" request.
//!
//! A CI `timeout`, `docker stop`, a pod eviction and a closed terminal send SIGTERM or SIGHUP, not SIGINT;
//! each must stop a run the same way Ctrl-C does: stop submitting, restore what was changed on the cluster
//! (`--algorithm`), write the record (outcome `interrupted`) and tear down what was provisioned
//! (`run --provision`). [`stop_on_signals`] starts a listener thread (its own current-thread runtime, so
//! it works before, between and after the command's runtimes) and returns a token cancelled at the first
//! of those signals. Later signals are reported and otherwise ignored: the teardown must not be cut short.
//! Once installed, the signals no longer terminate the process; this lives in [`crate::cli`] because the
//! process is the CLI's business, and the library sees only the token.

use std::sync::mpsc;

use anyhow::{Context, Result};
use tokio_util::sync::CancellationToken;

/// Installs the handlers and returns the token cancelled by the first SIGINT, SIGTERM or SIGHUP. The
/// handlers are in place when this returns.
pub fn stop_on_signals() -> Result<CancellationToken> {
    let token = CancellationToken::new();
    let t = token.clone();
    let (ready_tx, ready_rx) = mpsc::channel::<std::io::Result<()>>();
    std::thread::Builder::new()
        .name("stampede-signals".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            rt.block_on(listen(t, ready_tx));
        })
        .context("starting the signal listener thread")?;
    ready_rx
        .recv()
        .context("the signal listener thread ended before installing its handlers")?
        .context("installing the SIGINT/SIGTERM/SIGHUP handlers")?;
    Ok(token)
}

#[cfg(unix)]
async fn listen(token: CancellationToken, ready: mpsc::Sender<std::io::Result<()>>) {
    use tokio::signal::unix::{signal, SignalKind};
    let register = || -> std::io::Result<_> {
        Ok((
            signal(SignalKind::interrupt())?,
            signal(SignalKind::terminate())?,
            signal(SignalKind::hangup())?,
        ))
    };
    let (mut int, mut term, mut hup) = match register() {
        Ok(s) => {
            let _ = ready.send(Ok(()));
            s
        }
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    loop {
        let name = tokio::select! {
            _ = int.recv() => "SIGINT",
            _ = term.recv() => "SIGTERM",
            _ = hup.recv() => "SIGHUP",
        };
        if token.is_cancelled() {
            eprintln!("stampede: {name} received again; still stopping (restoring the cluster, tearing down, writing the record)");
        } else {
            eprintln!("stampede: {name} received; stopping (restoring the cluster, tearing down, writing the record)");
            token.cancel();
        }
    }
}

#[cfg(not(unix))]
async fn listen(token: CancellationToken, ready: mpsc::Sender<std::io::Result<()>>) {
    let _ = ready.send(Ok(()));
    loop {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        eprintln!("stampede: Ctrl-C received; stopping");
        token.cancel();
    }
}
