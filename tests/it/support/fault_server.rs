//! A loopback fault server whose behaviour is switched at runtime. It serves the three kinds
//! of backend rollwatch talks to: the Prometheus HTTP API (`/api/v1/query`,
//! `/api/v1/query_range`), a JSON metrics document (`/metrics.json`), an HTTP flag API
//! (`/flag`: GET with an `ETag`, PUT with `If-Match`) and the part of the Unleash admin API the
//! adapter reads (`/api/admin/...`). Raw tokio TCP, so it can misbehave the way real networks
//! do: refuse connections, accept and never answer, stall, truncate, flood.
//!
//! It counts requests per backend and tracks how many are in flight at once (and the maximum),
//! so tests can prove that a hung backend never gets a second poll stacked on the first.

use std::fmt::Write as _;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;

use super::wait;

/// How the server behaves.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Correct answers.
    Healthy,
    /// Nothing listens: connections are refused.
    Refused,
    /// Accept and read the request, never answer (until the client gives up).
    BlackHole,
    /// A correct answer, but only after this long.
    Slow(Duration),
    /// This status with a plain-text body that echoes the request's `Authorization` header (a
    /// careless proxy: messages built from it must still not show the token).
    Status(u16),
    /// 200 with a body that is not JSON.
    Malformed,
    /// 200 with JSON of the wrong shape and types.
    WrongTypes,
    /// A correct answer cut short: `Content-Length` promises more than is sent.
    Truncated,
    /// 200 with an endless body (64 MiB, no `Content-Length`): the client must stop reading.
    Huge,
    /// Prometheus values `NaN` and `+Inf` (the JSON document: `"NaN"` strings).
    NaN,
    /// Prometheus' own error envelope for a bad query: HTTP 422, `errorType:"execution"`.
    PromError,
    /// Prometheus' own error envelope when overloaded: HTTP 503, `errorType:"timeout"`.
    PromOverloaded,
}

/// The backend a request was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// `/api/v1/...`
    Prom,
    /// `/metrics.json`
    Json,
    /// `/flag`
    Flag,
    /// `/api/admin/...`
    Unleash,
    /// Anything else.
    Other,
}

const CLASSES: usize = 5;

impl Class {
    fn of(path: &str) -> Self {
        if path.starts_with("/api/v1/") {
            Class::Prom
        } else if path.starts_with("/metrics.json") {
            Class::Json
        } else if path.starts_with("/flag") {
            Class::Flag
        } else if path.starts_with("/api/admin/") {
            Class::Unleash
        } else {
            Class::Other
        }
    }
    fn idx(self) -> usize {
        self as usize
    }
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// `GET`, `PUT`, ...
    pub method: String,
    /// Path and query.
    pub target: String,
    /// The raw header block.
    pub headers: String,
    /// Which backend.
    pub class: Class,
    /// When it arrived, in ms since the server started.
    pub at_ms: u64,
}

/// The flag the `/flag` and Unleash routes serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlagDoc {
    /// Rollout percentage.
    pub percent: u8,
    /// On/off.
    pub enabled: bool,
    /// Bumped on every write; the `ETag` is `"r<rev>"`.
    pub rev: u64,
}

struct Inner {
    fault: Mutex<Fault>,
    write_fault: Mutex<Option<Fault>>,
    values: Mutex<(f64, f64)>,
    flag: Mutex<FlagDoc>,
    seen: Mutex<Vec<Seen>>,
    in_flight: [AtomicUsize; CLASSES],
    max_in_flight: [AtomicUsize; CLASSES],
    tls_hellos: AtomicUsize,
    huge_written: AtomicUsize,
    started: std::time::Instant,
    /// (request index, ms since start) of every request that is over.
    ended: Mutex<Vec<(usize, u64)>>,
}

/// A runtime for the fault server of a test that is not async itself (it drives tmux, say).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A running fault server; stops when dropped.
pub struct FaultServer {
    /// `http://127.0.0.1:port`.
    pub url: String,
    inner: Arc<Inner>,
    fault_tx: watch::Sender<Fault>,
    listening_rx: watch::Receiver<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let s = TcpSocket::new_v4()?;
    s.set_reuseaddr(true)?;
    s.bind(addr)?;
    s.listen(128)
}

impl FaultServer {
    /// Starts a healthy server on a free loopback port; the flag at `percent` %, metrics
    /// legacy 1.0 / new 2.0.
    #[allow(clippy::unused_async)] // it spawns its task on the caller's runtime: async says so
    pub async fn start(percent: u8) -> Self {
        let listener = bind("127.0.0.1:0".parse().unwrap()).expect("bind fault server");
        let addr = listener.local_addr().unwrap();
        let inner = Arc::new(Inner {
            fault: Mutex::new(Fault::Healthy),
            write_fault: Mutex::new(None),
            values: Mutex::new((1.0, 2.0)),
            flag: Mutex::new(FlagDoc {
                percent,
                enabled: true,
                rev: 1,
            }),
            seen: Mutex::new(Vec::new()),
            in_flight: Default::default(),
            max_in_flight: Default::default(),
            tls_hellos: AtomicUsize::new(0),
            huge_written: AtomicUsize::new(0),
            started: std::time::Instant::now(),
            ended: Mutex::new(Vec::new()),
        });
        let (fault_tx, fault_rx) = watch::channel(Fault::Healthy);
        let (listening_tx, listening_rx) = watch::channel(true);
        let task = tokio::spawn(accept_loop(
            listener,
            addr,
            inner.clone(),
            fault_rx,
            listening_tx,
        ));
        Self {
            url: format!("http://{addr}"),
            inner,
            fault_tx,
            listening_rx,
            task,
        }
    }

    /// Switches every route (and writes, unless [`FaultServer::set_write_fault`] says
    /// otherwise) to `fault`. Returns once the listener is closed or open accordingly.
    pub async fn set_fault(&self, fault: Fault) {
        *self.inner.fault.lock().unwrap() = fault.clone();
        let want_listening = fault != Fault::Refused;
        self.fault_tx.send_replace(fault);
        let mut rx = self.listening_rx.clone();
        tokio::time::timeout(
            Duration::from_secs(5),
            rx.wait_for(|l| *l == want_listening),
        )
        .await
        .expect("the fault server's listener follows the mode")
        .expect("accept loop alive");
    }

    /// A separate behaviour for writes (non-GET requests); `None` follows the main fault.
    pub fn set_write_fault(&self, fault: Option<Fault>) {
        assert_ne!(fault, Some(Fault::Refused), "refusal is per listener");
        *self.inner.write_fault.lock().unwrap() = fault;
    }

    /// The healthy metric values (legacy, new).
    pub fn set_values(&self, legacy: f64, new: f64) {
        *self.inner.values.lock().unwrap() = (legacy, new);
    }

    /// The flag as served now.
    pub fn flag(&self) -> FlagDoc {
        *self.inner.flag.lock().unwrap()
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.inner.seen.lock().unwrap().clone()
    }

    /// One line per request of `class`: arrival, end (ms since start), method and target.
    pub fn timeline(&self, class: Class) -> String {
        let ended = self.inner.ended.lock().unwrap().clone();
        let mut out = String::new();
        for (i, s) in self.seen().iter().enumerate() {
            if s.class == class {
                let end = ended.iter().find(|(j, _)| *j == i).map(|(_, t)| *t);
                writeln!(out, "{:>6} → {end:>6?} {} {}", s.at_ms, s.method, s.target).unwrap();
            }
        }
        out
    }

    /// Requests so far for one backend.
    pub fn count(&self, class: Class) -> usize {
        self.seen().iter().filter(|s| s.class == class).count()
    }

    /// Non-GET requests so far for one backend.
    pub fn writes(&self, class: Class) -> usize {
        self.seen()
            .iter()
            .filter(|s| s.class == class && s.method != "GET")
            .count()
    }

    /// Requests of one backend in flight now.
    pub fn in_flight(&self, class: Class) -> usize {
        self.inner.in_flight[class.idx()].load(Ordering::SeqCst)
    }

    /// The most requests of one backend ever in flight at once.
    pub fn max_in_flight(&self, class: Class) -> usize {
        self.inner.max_in_flight[class.idx()].load(Ordering::SeqCst)
    }

    /// Connections that opened with a TLS ClientHello instead of HTTP.
    pub fn tls_hellos(&self) -> usize {
        self.inner.tls_hellos.load(Ordering::SeqCst)
    }

    /// The most bytes of a huge body the server managed to write before a client hung up.
    pub fn huge_written(&self) -> usize {
        self.inner.huge_written.load(Ordering::SeqCst)
    }

    /// Waits (real time) until no request of `class` is in flight.
    pub async fn wait_idle(&self, class: Class, deadline: Duration) {
        let what = format!("no {class:?} request in flight");
        wait::until_async(&what, deadline, Duration::from_millis(5), || async {
            match self.in_flight(class) {
                0 => Ok(()),
                n => Err(format!("{n} in flight")),
            }
        })
        .await;
    }
}

async fn accept_loop(
    mut listener: TcpListener,
    addr: SocketAddr,
    inner: Arc<Inner>,
    mut fault_rx: watch::Receiver<Fault>,
    listening_tx: watch::Sender<bool>,
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((sock, _)) = accepted {
                    tokio::spawn(connection(sock, inner.clone()));
                }
            }
            changed = fault_rx.changed() => {
                if changed.is_err() {
                    return;
                }
                if *fault_rx.borrow_and_update() == Fault::Refused {
                    drop(listener);
                    listening_tx.send_replace(false);
                    loop {
                        if fault_rx.changed().await.is_err() {
                            return;
                        }
                        if *fault_rx.borrow_and_update() != Fault::Refused {
                            break;
                        }
                    }
                    listener = bind(addr).expect("rebind the fault server's port");
                    listening_tx.send_replace(true);
                }
            }
        }
    }
}

impl Inner {
    fn ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// Decrements the in-flight count when the request is over, however it ends.
struct InFlight<'a>(&'a Inner, usize, usize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight[self.1].fetch_sub(1, Ordering::SeqCst);
        self.0.ended.lock().unwrap().push((self.2, self.0.ms()));
    }
}

struct Request {
    method: String,
    target: String,
    headers: String,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<String> {
        self.headers.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    }
}

async fn read_request(sock: &mut TcpStream, inner: &Inner) -> Option<Request> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        if buf.is_empty() && chunk[0] == 0x16 {
            // A TLS handshake record: the client speaks https to a plain-TCP server.
            inner.tls_hellos.fetch_add(1, Ordering::SeqCst);
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > 64 * 1024 {
            return None;
        }
    };
    let headers = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut first = headers.lines().next().unwrap_or("").split_whitespace();
    let method = first.next().unwrap_or("").to_owned();
    let target = first.next().unwrap_or("/").to_owned();
    let mut req = Request {
        method,
        target,
        headers,
        body: buf[head_end + 4..].to_vec(),
    };
    let len: usize = req
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
        .min(1024 * 1024);
    while req.body.len() < len {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        req.body.extend_from_slice(&chunk[..n]);
    }
    Some(req)
}

/// Completes when the peer closes the connection (or it breaks).
async fn peer_gone(sock: &mut TcpStream) {
    let mut b = [0u8; 1024];
    loop {
        match sock.read(&mut b).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

async fn connection(mut sock: TcpStream, inner: Arc<Inner>) {
    let Some(req) = read_request(&mut sock, &inner).await else {
        return;
    };
    let path = req.target.split('?').next().unwrap_or("").to_owned();
    let class = Class::of(&path);
    let i = class.idx();
    let arrived = inner.ms();
    // A client that gave up on a request has closed its connection, but this server learns of
    // it asynchronously (its handler must wake to read the end of stream). Before counting a
    // new request, give such news up to 100 ms to arrive, so an abandoned request is not
    // counted as concurrent with its successor. A request the client still waits for stays
    // in flight and is counted: a real overlap lasting longer than that (every fault here holds a request for the client's
    // whole deadline, 250 ms in the tests) is always seen.
    for _ in 0..100 {
        if inner.in_flight[i].load(Ordering::SeqCst) == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let now = inner.in_flight[i].fetch_add(1, Ordering::SeqCst) + 1;
    inner.max_in_flight[i].fetch_max(now, Ordering::SeqCst);
    let index = {
        let mut seen = inner.seen.lock().unwrap();
        seen.push(Seen {
            method: req.method.clone(),
            target: req.target.clone(),
            headers: req.headers.clone(),
            class,
            at_ms: arrived,
        });
        seen.len() - 1
    };
    let _guard = InFlight(&inner, i, index);
    let fault = {
        let main = inner.fault.lock().unwrap().clone();
        if req.method == "GET" {
            main
        } else {
            inner.write_fault.lock().unwrap().clone().unwrap_or(main)
        }
    };
    let reply = match fault {
        Fault::Refused | Fault::BlackHole => {
            peer_gone(&mut sock).await;
            return;
        }
        Fault::Slow(d) => {
            tokio::select! {
                () = tokio::time::sleep(d) => healthy(&inner, class, &req),
                () = peer_gone(&mut sock) => return,
            }
        }
        Fault::Healthy => healthy(&inner, class, &req),
        Fault::Status(code) => Reply::text(
            code,
            format!(
                "denied; the request carried authorization: {}",
                req.header("authorization").unwrap_or_default()
            ),
        ),
        Fault::Malformed => Reply::text(200, "<html><body>502 Bad Gateway</body></html>".into()),
        Fault::WrongTypes => Reply::json(200, wrong_types(class)),
        Fault::Truncated => {
            let mut r = healthy(&inner, class, &req);
            r.truncate = true;
            r
        }
        Fault::Huge => {
            let _ = huge(&mut sock, &inner).await;
            return;
        }
        Fault::NaN => Reply::json(200, nan(class)),
        Fault::PromError => Reply::json(
            422,
            r#"{"status":"error","errorType":"execution","error":"query processing would load too many samples into memory"}"#.into(),
        ),
        Fault::PromOverloaded => Reply::json(
            503,
            r#"{"status":"error","errorType":"timeout","error":"query timed out in expression evaluation"}"#.into(),
        ),
    };
    let _ = reply.send(&mut sock).await;
}

struct Reply {
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
    etag: Option<String>,
    truncate: bool,
}

impl Reply {
    fn json(status: u16, body: String) -> Self {
        Self {
            status,
            content_type: "application/json",
            body: body.into_bytes(),
            etag: None,
            truncate: false,
        }
    }
    fn text(status: u16, body: String) -> Self {
        Self {
            content_type: "text/plain",
            ..Self::json(status, body)
        }
    }

    async fn send(&self, sock: &mut TcpStream) -> std::io::Result<()> {
        let len = self.body.len() + if self.truncate { 1000 } else { 0 };
        let mut head = format!(
            "HTTP/1.1 {} Fault\r\nContent-Type: {}\r\nContent-Length: {len}\r\nConnection: close\r\n",
            self.status, self.content_type
        );
        if let Some(t) = &self.etag {
            write!(head, "ETag: {t}\r\n").unwrap();
        }
        head.push_str("\r\n");
        sock.write_all(head.as_bytes()).await?;
        if self.truncate {
            sock.write_all(&self.body[..self.body.len() / 2]).await?;
        } else {
            sock.write_all(&self.body).await?;
        }
        sock.flush().await?;
        sock.shutdown().await
    }
}

fn etag(rev: u64) -> String {
    format!("\"r{rev}\"")
}

fn prom_vector(legacy: &str, new: &str) -> String {
    format!(
        r#"{{"status":"success","data":{{"resultType":"vector","result":[{{"metric":{{"cohort":"legacy"}},"value":[1700000000,"{legacy}"]}},{{"metric":{{"cohort":"new"}},"value":[1700000000,"{new}"]}}]}}}}"#
    )
}

fn unleash_feature(f: FlagDoc) -> String {
    format!(
        r#"{{"name":"f","environments":[{{"name":"production","enabled":{},"strategies":[{{"id":"s1","name":"flexibleRollout","parameters":{{"rollout":"{}","stickiness":"default","groupId":"f"}}}}]}}]}}"#,
        f.enabled, f.percent
    )
}

fn healthy(inner: &Inner, class: Class, req: &Request) -> Reply {
    let (l, n) = *inner.values.lock().unwrap();
    match class {
        Class::Prom if req.target.starts_with("/api/v1/query_range") => Reply::json(
            200,
            r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#.into(),
        ),
        Class::Prom => Reply::json(200, prom_vector(&l.to_string(), &n.to_string())),
        Class::Json => Reply::json(
            200,
            format!(r#"{{"legacy":{{"err":{l}}},"new":{{"err":{n}}}}}"#),
        ),
        Class::Flag if req.method == "GET" => {
            let f = *inner.flag.lock().unwrap();
            let mut r = Reply::json(
                200,
                format!(r#"{{"percent":{},"enabled":{}}}"#, f.percent, f.enabled),
            );
            r.etag = Some(etag(f.rev));
            r
        }
        Class::Flag => {
            let mut f = inner.flag.lock().unwrap();
            if req.header("if-match").is_some_and(|m| m != etag(f.rev)) {
                return Reply::text(412, "precondition failed".into());
            }
            let Ok(v) = serde_json::from_slice::<serde_json::Value>(&req.body) else {
                return Reply::text(400, "body is not JSON".into());
            };
            if let Some(p) = v["percent"].as_u64() {
                f.percent = u8::try_from(p.min(100)).unwrap();
            }
            if let Some(e) = v["enabled"].as_bool() {
                f.enabled = e;
            }
            f.rev += 1;
            Reply::json(200, "{}".into())
        }
        Class::Unleash if req.target.contains("/search/events") => {
            Reply::json(200, r#"{"events":[],"total":0}"#.into())
        }
        Class::Unleash => Reply::json(200, unleash_feature(*inner.flag.lock().unwrap())),
        Class::Other => Reply::text(404, "not found".into()),
    }
}

fn wrong_types(class: Class) -> String {
    match class {
        Class::Prom => r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"cohort":"legacy"},"value":[1700000000,{"x":1}]},{"metric":{"cohort":"new"},"value":"high"}]}}"#.into(),
        Class::Json => r#"{"legacy":{"err":true},"new":{"err":[1,2]}}"#.into(),
        Class::Flag => r#"{"percent":"lots","enabled":1}"#.into(),
        Class::Unleash => r#"{"name":"f","environments":"production"}"#.into(),
        Class::Other => "[]".into(),
    }
}

fn nan(class: Class) -> String {
    match class {
        Class::Prom => prom_vector("+Inf", "NaN"),
        Class::Json => r#"{"legacy":{"err":"NaN"},"new":{"err":"NaN"}}"#.into(),
        _ => r#"{"percent":"NaN","enabled":true}"#.into(),
    }
}

/// Streams up to 64 MiB without a `Content-Length` until the client hangs up; records how
/// much it managed to write.
async fn huge(sock: &mut TcpStream, inner: &Inner) -> std::io::Result<()> {
    sock.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{\"pad\":\"",
    )
    .await?;
    let block = vec![b'x'; 64 * 1024];
    let mut written = 0;
    for _ in 0..1024 {
        sock.write_all(&block).await?;
        written += block.len();
        inner.huge_written.fetch_max(written, Ordering::SeqCst);
    }
    sock.shutdown().await
}
