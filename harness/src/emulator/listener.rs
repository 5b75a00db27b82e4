//! A TCP listener that enforces Nomad's per-client connection cap (`limits.http_max_conns_per_client`,
//! default 100): a connection beyond the cap gets the raw 429 Nomad writes, then is closed.

use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// The raw response Nomad writes when a client exceeds its connection cap.
pub const TOO_MANY_CONNS: &[u8] = b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: 81\r\n\r\nYour IP is issuing too many concurrent connections, please rate limit your calls\n";

type Counts = Arc<Mutex<BTreeMap<IpAddr, usize>>>;

/// The listener.
pub struct CappedListener {
    inner: TcpListener,
    cap: usize,
    counts: Counts,
}

impl CappedListener {
    /// Wraps a bound listener; `cap = 0` means unlimited.
    pub fn new(inner: TcpListener, cap: usize) -> Self {
        CappedListener {
            inner,
            cap,
            counts: Arc::default(),
        }
    }
}

/// A counted connection: decrements its client's count when dropped.
pub struct CountedStream {
    inner: TcpStream,
    ip: IpAddr,
    counts: Counts,
}

impl Drop for CountedStream {
    fn drop(&mut self) {
        if let Ok(mut c) = self.counts.lock() {
            if let Some(n) = c.get_mut(&self.ip) {
                *n -= 1;
                if *n == 0 {
                    c.remove(&self.ip);
                }
            }
        }
    }
}

impl AsyncRead for CountedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for CountedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

impl axum::serve::Listener for CappedListener {
    type Io = CountedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (mut s, addr) = match self.inner.accept().await {
                Ok(x) => x,
                Err(_) => {
                    // Out of file descriptors and the like: back off as axum's own listener does.
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = s.set_nodelay(true);
            let ip = addr.ip();
            let over = {
                let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
                let n = c.entry(ip).or_insert(0);
                if self.cap > 0 && *n >= self.cap {
                    true
                } else {
                    *n += 1;
                    false
                }
            };
            if over {
                tokio::spawn(async move {
                    let _ = s.write_all(TOO_MANY_CONNS).await;
                    let _ = s.shutdown().await;
                });
                continue;
            }
            return (
                CountedStream {
                    inner: s,
                    ip,
                    counts: self.counts.clone(),
                },
                addr,
            );
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}
