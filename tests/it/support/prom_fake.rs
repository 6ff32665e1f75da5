//! A fake Prometheus HTTP endpoint on raw TCP, for counting requests and injecting faults a
//! real server cannot be made to produce (truncated bodies, huge bodies, stalls). In proxy
//! mode it forwards every request to a real Prometheus and only counts.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the fake answers.
#[derive(Debug, Clone)]
pub struct Canned {
    /// HTTP status.
    pub status: u16,
    /// Body bytes.
    pub body: Vec<u8>,
    /// Wait this long before answering.
    pub delay: Duration,
    /// Announce more bytes than are sent, then close (a truncated body).
    pub truncate: bool,
}

impl Canned {
    /// A 200 with `body`.
    pub fn ok(body: impl Into<Vec<u8>>) -> Self {
        Self::status(200, body)
    }

    /// `status` with `body`.
    pub fn status(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            body: body.into(),
            delay: Duration::ZERO,
            truncate: false,
        }
    }
}

type Responder = Arc<dyn Fn(&str) -> Canned + Send + Sync>;

#[derive(Clone)]
enum Mode {
    Reply(Responder),
    Proxy(String),
}

/// One request the fake saw.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Request target (path and query).
    pub target: String,
    /// The raw header block.
    pub headers: String,
}

/// A running fake; stops when dropped.
pub struct Fake {
    /// Base URL.
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Fake {
    /// A fake answering every request with `f(target)`.
    pub async fn reply(f: impl Fn(&str) -> Canned + Send + Sync + 'static) -> Self {
        Self::start(Mode::Reply(Arc::new(f))).await
    }

    /// A counting proxy in front of `upstream`.
    pub async fn proxy(upstream: &str) -> Self {
        Self::start(Mode::Proxy(upstream.trim_end_matches('/').to_owned())).await
    }

    async fn start(mode: Mode) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind fake");
        let addr: SocketAddr = listener.local_addr().expect("fake addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = seen.clone();
        let task = tokio::spawn(async move {
            let client = reqwest::Client::new();
            while let Ok((sock, _)) = listener.accept().await {
                let (mode, seen, client) = (mode.clone(), seen2.clone(), client.clone());
                tokio::spawn(async move {
                    let _ = serve(sock, mode, seen, client).await;
                });
            }
        });
        Self {
            url: format!("http://{addr}"),
            seen,
            task,
        }
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Number of requests so far.
    pub fn count(&self) -> usize {
        self.seen.lock().map(|s| s.len()).unwrap_or_default()
    }
}

async fn serve(
    mut sock: TcpStream,
    mode: Mode,
    seen: Arc<Mutex<Vec<Seen>>>,
    client: reqwest::Client,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let target = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("/")
        .to_owned();
    if let Ok(mut s) = seen.lock() {
        s.push(Seen {
            target: target.clone(),
            headers: head.clone(),
        });
    }
    let canned = match mode {
        Mode::Reply(f) => f(&target),
        Mode::Proxy(up) => match client.get(format!("{up}{target}")).send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                Canned::status(
                    status,
                    r.bytes().await.map(|b| b.to_vec()).unwrap_or_default(),
                )
            }
            Err(e) => Canned::status(502, e.to_string()),
        },
    };
    if !canned.delay.is_zero() {
        tokio::time::sleep(canned.delay).await;
    }
    let len = canned.body.len() + if canned.truncate { 1000 } else { 0 };
    let header = format!(
        "HTTP/1.1 {} Fake\r\nContent-Type: application/json\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n",
        canned.status
    );
    sock.write_all(header.as_bytes()).await?;
    sock.write_all(&canned.body).await?;
    sock.flush().await?;
    sock.shutdown().await
}
