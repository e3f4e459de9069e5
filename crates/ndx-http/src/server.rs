//! The accept loop of the HTTP edge: hyper's HTTP/1.1 connections over tokio, with the limits
//! a server facing slow or hostile clients needs and `axum::serve` lacks.
//!
//! - **Header-read timeout.** hyper starts the clock when it starts waiting for a request head
//!   (at accept, and again after each response, so it is also the keep-alive idle timeout): a
//!   connection that has not delivered a complete head by then is closed.
//! - **A bound on open connections,** in all and per client address (an IPv6 client counts
//!   by its /64). Beyond the per-address
//!   bound a newcomer is refused with a fast `503 too-many-connections` and `Retry-After`. At
//!   the global bound the oldest connection that is not serving a request (waiting for a head,
//!   or idle between requests) is closed to make room, so a flood of half-open connections
//!   from many addresses cannot keep `/health` or a real client out; only when every
//!   connection is serving a request is the newcomer refused.
//! - **Cheap half-open connections.** The first request head is read here, into a buffer the
//!   size of what came, before hyper (16 KiB of buffers per connection) takes over.
//! - **Problems, not bare statuses.** hyper answers a head it cannot parse (400), a target
//!   over its limit (414) or a head over the size limit (431) itself, with an empty body.
//!   [`EdgeIo`] recognises those automatic answers on their way out and replaces them by
//!   RFC 9457 problems that say what was wrong, from the head bytes it saw come in.
//!
//! Graceful shutdown stops accepting, lets in-flight requests finish and closes idle
//! connections, as `axum::serve` did.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::http::{Request, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tower::Service;

use ndx_core::Code;

use crate::metrics::Metrics;
use crate::{AppState, Limits};

/// Serves `app` on `listener` with the connection limits of `state`, until `shutdown`
/// resolves; then stops accepting and waits for open connections to finish.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let limits = state.limits.clone();
    let metrics = state.metrics.clone();
    let app = crate::app(state);
    let admission = Arc::new(Admission::new(&limits));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_header_size(limits.max_header_bytes)
        .keep_alive(true);
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors or a connection reset before accept: wait a little
                    // rather than spin; the bounds above keep this rare.
                    metrics.connection_event("accept_error");
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let slot = match admission.admit(client_address(peer.ip()), &metrics) {
            Ok(slot) => slot,
            Err(refusal) => {
                metrics.connection_event(refusal.reason());
                refuse(stream, refusal, &limits);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(
            stream,
            peer,
            slot,
            app.clone(),
            http.clone(),
            limits.clone(),
            metrics.clone(),
            stop_rx.clone(),
        ));
    }
    drop(listener);
    let _ = stop_tx.send(true);
    admission.drained().await;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    slot: Slot,
    app: Router,
    http: hyper::server::conn::http1::Builder,
    limits: Arc<Limits>,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
) {
    let conn_state = slot.conn.clone();
    let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        let busy = BusyGuard::new(conn_state.clone());
        let mut app = app.clone();
        // The client's address, for what is counted per client (the audit of refused keys).
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(peer));
        let body_read = Arc::new(AtomicBool::new(http_body::Body::is_end_stream(req.body())));
        let req = req.map(|inner| {
            axum::body::Body::new(ReadToEnd {
                inner,
                done: body_read.clone(),
            })
        });
        async move {
            let mut resp = match app.call(req).await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            if !body_read.load(Ordering::Acquire) {
                // Answered before the body was read (a refusal): hyper will close the
                // connection rather than read an unknown amount, so say so, or the client
                // reuses a connection that is closing under it.
                resp.headers_mut().insert(
                    axum::http::header::CONNECTION,
                    axum::http::HeaderValue::from_static("close"),
                );
            }
            Ok::<Response, Infallible>(resp.map(|body| {
                axum::body::Body::new(TrackedBody {
                    inner: body,
                    _busy: busy,
                })
            }))
        }
    });
    // The first head is read here, into a buffer the size of what came, before hyper (which
    // sets 16 KiB of buffers aside per connection) takes over: a half-open connection costs
    // little while it waits for its timeout or its eviction.
    let first_head = tokio::select! {
        read = tokio::time::timeout(
            limits.header_read_timeout,
            read_first_head(&stream, limits.max_header_bytes),
        ) => match read {
            Ok(Ok(Some(bytes))) => bytes,
            Ok(Ok(None) | Err(_)) => return,
            Err(_) => {
                metrics.connection_event("header_timeout");
                return;
            }
        },
        () = slot.conn.evict.notified() => return,
        _ = stop.changed() => return,
    };
    let io = EdgeIo::new(stream, first_head, &limits, metrics.clone());
    let conn = http.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    let mut stopping = *stop.borrow();
    if stopping {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    if e.is_timeout() {
                        metrics.connection_event("header_timeout");
                    }
                    tracing::debug!(%peer, error = %e, "connection ended");
                }
                break;
            }
            () = slot.conn.evict.notified() => {
                // Dropping the connection closes the socket.
                break;
            }
            changed = stop.changed(), if !stopping => {
                stopping = true;
                if changed.is_ok() {
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
    drop(slot);
}

/// Reads until the end of the first request head (a blank line), or until the head is larger
/// than `max` (then hyper refuses it), without a buffer larger than what came. `None` when the
/// client closed first.
async fn read_first_head(stream: &TcpStream, max: usize) -> io::Result<Option<Vec<u8>>> {
    let mut head = Vec::new();
    loop {
        stream.readable().await?;
        let mut chunk = [0u8; 1024];
        match stream.try_read(&mut chunk) {
            Ok(0) => return Ok(None),
            Ok(n) => {
                let from = head.len().saturating_sub(3);
                head.extend_from_slice(&chunk[..n]);
                let ended = head[from..].windows(4).any(|w| w == b"\r\n\r\n");
                if ended || head.len() > max {
                    return Ok(Some(head));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
}

/// The address a client's connections are counted under: an IPv4 address (also when mapped
/// into IPv6), or the /64 network of an IPv6 address, since one IPv6 host usually holds a
/// whole /64 and could otherwise open its share from each of them.
fn client_address(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let network = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(network.into())
            }
        },
    }
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// The client address holds its share already.
    PerAddress,
    /// Every slot is serving a request.
    Capacity,
}

impl Refusal {
    fn reason(self) -> &'static str {
        match self {
            Refusal::PerAddress => "refused_per_address",
            Refusal::Capacity => "refused_capacity",
        }
    }
}

/// Answers a refused connection with a short problem, without waiting for anything: the
/// request is not read, and a socket whose buffer is full just gets closed.
fn refuse(stream: TcpStream, refusal: Refusal, limits: &Limits) {
    let detail = match refusal {
        Refusal::PerAddress => format!(
            "this client address holds {} connections already, the most the server accepts \
             from one address; reuse them or retry later",
            limits.max_connections_per_ip
        ),
        Refusal::Capacity => format!(
            "the server is serving requests on all of its {} connections; retry later",
            limits.max_connections
        ),
    };
    let bytes = problem_response(
        StatusCode::SERVICE_UNAVAILABLE,
        Code::TooManyConnections,
        &detail,
        &[("retry-after", "1")],
    );
    // What the client sent already is read first: closing a socket with unread bytes sends a
    // reset, which may discard the answer before the client reads it.
    let mut sink = [0u8; 2048];
    let _ = stream.try_read(&mut sink);
    let _ = stream.try_write(&bytes);
}

/// A complete HTTP/1.1 problem answer that closes the connection, as bytes.
fn problem_response(
    status: StatusCode,
    code: Code,
    detail: &str,
    extra: &[(&str, &str)],
) -> Vec<u8> {
    let body = serde_json::json!({
        "type": code.type_uri(),
        "title": code.title(),
        "status": status.as_u16(),
        "detail": detail,
        "code": code.name(),
    })
    .to_string();
    let mut out = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/problem+json\r\ncontent-length: {}\r\n\
         connection: close\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    );
    for (name, value) in extra {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(&body);
    out.into_bytes()
}

/// What every connection shares with the admission table.
struct ConnShared {
    /// Requests (with their response bodies) in progress.
    busy: AtomicUsize,
    evict: Notify,
}

/// Counts a request in progress until its response body is done (or dropped).
struct BusyGuard(Arc<ConnShared>);

impl BusyGuard {
    fn new(conn: Arc<ConnShared>) -> Self {
        conn.busy.fetch_add(1, Ordering::SeqCst);
        BusyGuard(conn)
    }
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A response body that keeps its connection counted as busy until hyper has sent it.
struct TrackedBody {
    inner: axum::body::Body,
    _busy: BusyGuard,
}

impl http_body::Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// A request body that records when it has been read to its end.
struct ReadToEnd {
    inner: Incoming,
    done: Arc<AtomicBool>,
}

impl http_body::Body for ReadToEnd {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, hyper::Error>>> {
        let frame = ready!(Pin::new(&mut self.inner).poll_frame(cx));
        if frame.is_none() || self.inner.is_end_stream() {
            self.done.store(true, Ordering::Release);
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The table of open connections: decides who is admitted and who makes room.
struct Admission {
    max_total: usize,
    max_per_ip: usize,
    table: Mutex<Table>,
    empty: Notify,
}

#[derive(Default)]
struct Table {
    next_id: u64,
    /// By admission order, so the first idle one found is the oldest.
    conns: BTreeMap<u64, (IpAddr, Arc<ConnShared>)>,
    per_ip: HashMap<IpAddr, usize>,
}

impl Table {
    fn remove(&mut self, id: u64) -> bool {
        let Some((ip, _)) = self.conns.remove(&id) else {
            return false;
        };
        if let Some(n) = self.per_ip.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                self.per_ip.remove(&ip);
            }
        }
        true
    }
}

/// A connection's place in the table, given back when it ends.
struct Slot {
    id: u64,
    conn: Arc<ConnShared>,
    admission: Arc<Admission>,
    metrics: Arc<Metrics>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut table = self
            .admission
            .table
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        table.remove(self.id);
        self.metrics.connections_open.set(table.conns.len() as i64);
        if table.conns.is_empty() {
            self.admission.empty.notify_waiters();
        }
    }
}

impl Admission {
    fn new(limits: &Limits) -> Self {
        Admission {
            max_total: limits.max_connections.max(1),
            max_per_ip: limits.max_connections_per_ip.max(1),
            table: Mutex::new(Table::default()),
            empty: Notify::new(),
        }
    }

    fn admit(self: &Arc<Self>, ip: IpAddr, metrics: &Arc<Metrics>) -> Result<Slot, Refusal> {
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        if table.per_ip.get(&ip).copied().unwrap_or(0) >= self.max_per_ip {
            return Err(Refusal::PerAddress);
        }
        if table.conns.len() >= self.max_total {
            let oldest_idle = table
                .conns
                .iter()
                .find(|(_, (_, c))| c.busy.load(Ordering::SeqCst) == 0)
                .map(|(id, (_, c))| (*id, c.clone()));
            let Some((id, victim)) = oldest_idle else {
                return Err(Refusal::Capacity);
            };
            // Out of the table at once, so the bound holds while its task closes it.
            table.remove(id);
            victim.evict.notify_one();
            metrics.connection_event("evicted_idle");
        }
        let id = table.next_id;
        table.next_id += 1;
        let conn = Arc::new(ConnShared {
            busy: AtomicUsize::new(0),
            evict: Notify::new(),
        });
        table.conns.insert(id, (ip, conn.clone()));
        *table.per_ip.entry(ip).or_default() += 1;
        metrics.connections_open.set(table.conns.len() as i64);
        Ok(Slot {
            id,
            conn,
            admission: self.clone(),
            metrics: metrics.clone(),
        })
    }

    /// Resolves once no connection is open.
    async fn drained(&self) {
        loop {
            let notified = self.empty.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self
                .table
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .conns
                .is_empty()
            {
                return;
            }
            notified.await;
        }
    }
}

/// The socket of one connection, as hyper sees it: keeps the bytes of the request head being
/// read (up to the head size limit), and replaces hyper's automatic empty answers to a head it
/// refuses (400, 414, 431) by problem documents that say what was wrong.
struct EdgeIo {
    inner: TcpStream,
    /// Bytes read before hyper took over, handed to it first.
    prefix: Vec<u8>,
    prefix_at: usize,
    /// The request head being read (kept until the answer leaves, to diagnose a refusal).
    head: Vec<u8>,
    /// Whether `head` still grows: until its blank line, or its size limit.
    capturing: bool,
    head_cap: usize,
    max_uri_bytes: usize,
    max_header_bytes: usize,
    metrics: Arc<Metrics>,
    /// A replacement answer being written, and how far.
    replacement: Option<(Vec<u8>, usize)>,
}

impl EdgeIo {
    fn new(inner: TcpStream, prefix: Vec<u8>, limits: &Limits, metrics: Arc<Metrics>) -> Self {
        EdgeIo {
            inner,
            prefix,
            prefix_at: 0,
            head: Vec::new(),
            capturing: true,
            head_cap: limits.max_header_bytes.saturating_add(1),
            max_uri_bytes: limits.max_uri_bytes,
            max_header_bytes: limits.max_header_bytes,
            metrics,
            replacement: None,
        }
    }

    /// An answer is leaving: the next head starts afresh.
    fn answer_leaving(&mut self) {
        if !self.head.is_empty() {
            self.head = Vec::new();
        }
        self.capturing = true;
    }

    /// Writes the pending replacement; ready when all of it is out.
    fn poll_replacement(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, done)) = &mut self.replacement {
            if *done == bytes.len() {
                self.replacement = None;
                break;
            }
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*done..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *done += n;
        }
        Poll::Ready(Ok(()))
    }

    /// If `buf` is hyper's automatic answer to a refused head, the problem to send instead.
    fn replacement_for(&mut self, buf: &[u8]) -> Option<Vec<u8>> {
        let status = automatic_answer_status(buf)?;
        let (status, code, detail) = diagnose_head(
            status,
            &self.head,
            self.max_uri_bytes,
            self.max_header_bytes,
        );
        self.metrics.connection_event(match status {
            StatusCode::URI_TOO_LONG => "uri_too_long",
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "headers_too_large",
            _ => "malformed_head",
        });
        Some(problem_response(status, code, &detail, &[]))
    }
}

impl AsyncRead for EdgeIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        if self.prefix_at < self.prefix.len() {
            let this = &mut *self;
            let n = buf.remaining().min(this.prefix.len() - this.prefix_at);
            buf.put_slice(&this.prefix[this.prefix_at..this.prefix_at + n]);
            this.prefix_at += n;
            if this.prefix_at == this.prefix.len() {
                this.prefix = Vec::new();
                this.prefix_at = 0;
            }
        } else {
            ready!(Pin::new(&mut self.inner).poll_read(cx, buf))?;
        }
        if self.capturing {
            // Only the head: a body is not kept.
            let this = &mut *self;
            let from = this.head.len().saturating_sub(3);
            let new = &buf.filled()[before..];
            let take = new.len().min(this.head_cap.saturating_sub(this.head.len()));
            this.head.extend_from_slice(&new[..take]);
            if let Some(end) = this.head[from..].windows(4).position(|w| w == b"\r\n\r\n") {
                this.head.truncate(from + end + 4);
                this.capturing = false;
            } else if this.head.len() >= this.head_cap {
                this.capturing = false;
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for EdgeIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.replacement.is_none() {
            if let Some(bytes) = this.replacement_for(buf) {
                this.replacement = Some((bytes, 0));
            } else {
                this.answer_leaving();
                return Pin::new(&mut this.inner).poll_write(cx, buf);
            }
        }
        ready!(this.poll_replacement(cx))?;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let first = bufs.iter().find(|b| !b.is_empty());
        let automatic = self.replacement.is_some()
            || first.is_some_and(|b| automatic_answer_status(b).is_some());
        match first {
            Some(first) if automatic => self.poll_write(cx, first),
            _ => {
                let this = &mut *self;
                this.answer_leaving();
                Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_replacement(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_replacement(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The status of hyper's automatic answer to a head it refused, if `buf` is one: a bare head
/// of 400, 414 or 431 with `content-length: 0` and no content type. The application never
/// answers so (every error of ndx is a problem document with a body).
fn automatic_answer_status(buf: &[u8]) -> Option<StatusCode> {
    let status = if buf.starts_with(b"HTTP/1.1 400 ") {
        StatusCode::BAD_REQUEST
    } else if buf.starts_with(b"HTTP/1.1 414 ") {
        StatusCode::URI_TOO_LONG
    } else if buf.starts_with(b"HTTP/1.1 431 ") {
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    } else {
        return None;
    };
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = buf[..end].to_ascii_lowercase();
    let has = |needle: &[u8]| head.windows(needle.len()).any(|w| w == needle);
    (has(b"\r\ncontent-length: 0") && !has(b"\r\ncontent-type:")).then_some(status)
}

/// What was wrong with a refused head, from the bytes that came in.
fn diagnose_head(
    status: StatusCode,
    head: &[u8],
    max_uri_bytes: usize,
    max_header_bytes: usize,
) -> (StatusCode, Code, String) {
    let line_end = head.windows(2).position(|w| w == b"\r\n");
    let request_line = &head[..line_end.unwrap_or(head.len())];
    let target_len = request_line
        .split(|b| *b == b' ')
        .nth(1)
        .map_or(0, <[u8]>::len);
    if status == StatusCode::URI_TOO_LONG || target_len > max_uri_bytes {
        return (
            StatusCode::URI_TOO_LONG,
            Code::UriTooLong,
            format!("the request target is longer than {max_uri_bytes} bytes"),
        );
    }
    if status == StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE {
        return (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Code::HeadersTooLarge,
            format!(
                "the request head is larger than {max_header_bytes} bytes or has more than 100 \
                 header fields"
            ),
        );
    }
    if let Some((at, byte)) = request_line
        .iter()
        .enumerate()
        .find(|(_, b)| !(b.is_ascii_graphic() || **b == b' '))
    {
        return (
            StatusCode::BAD_REQUEST,
            Code::RequestMalformed,
            format!(
                "the request line holds the byte 0x{byte:02X} at offset {at}; a request line \
                 is visible ASCII"
            ),
        );
    }
    let headers = line_end.map_or(&[][..], |e| &head[e + 2..]);
    for line in headers.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            return (
                StatusCode::BAD_REQUEST,
                Code::RequestMalformed,
                format!(
                    "a header line has no colon: {:?}",
                    String::from_utf8_lossy(&line[..line.len().min(64)])
                ),
            );
        };
        let name = String::from_utf8_lossy(&line[..colon]).to_ascii_lowercase();
        if let Some(byte) = line[..colon].iter().find(|b| !is_token(**b)) {
            return (
                StatusCode::BAD_REQUEST,
                Code::HeaderInvalid,
                format!(
                    "header name {name:?} holds the byte 0x{byte:02X}, which HTTP does not allow in a field name"
                ),
            );
        }
        if let Some(byte) = line[colon + 1..]
            .iter()
            .find(|b| **b != b'\t' && (**b < 0x20 || **b == 0x7F))
        {
            let what = if *byte == 0x7F {
                " (DEL)".to_owned()
            } else {
                String::new()
            };
            return (
                StatusCode::BAD_REQUEST,
                Code::HeaderInvalid,
                format!(
                    "header {name:?} holds the control byte 0x{byte:02X}{what}, which HTTP does \
                     not allow in a field value"
                ),
            );
        }
    }
    (
        StatusCode::BAD_REQUEST,
        Code::RequestMalformed,
        "the request head does not parse as HTTP/1.1".into(),
    )
}

/// An RFC 9110 token character (header names, methods).
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hyper_automatic_answers_are_recognised_and_application_answers_are_not() {
        let auto = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        assert_eq!(automatic_answer_status(auto), Some(StatusCode::BAD_REQUEST));
        let app = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/problem+json\r\ncontent-length: 90\r\n\r\n";
        assert_eq!(automatic_answer_status(app), None);
        assert_eq!(automatic_answer_status(b"HTTP/1.1 200 OK\r\n\r\n"), None);
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64_network() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::7".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_address(a), client_address(b));
        assert_ne!(client_address(a), client_address(c));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(
            client_address(mapped),
            "10.0.0.1".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn a_del_byte_in_a_header_is_named() {
        let head = b"POST /x HTTP/1.1\r\nhost: a\r\ncontent-type: text/csv\x7f\r\n\r\n";
        let (status, code, detail) = diagnose_head(StatusCode::BAD_REQUEST, head, 8192, 32768);
        assert_eq!(
            (status, code),
            (StatusCode::BAD_REQUEST, Code::HeaderInvalid)
        );
        assert!(
            detail.contains("\"content-type\"") && detail.contains("0x7F"),
            "{detail}"
        );
    }

    #[test]
    fn a_long_target_is_414_even_when_hyper_says_431() {
        let mut head = b"GET /".to_vec();
        head.extend(std::iter::repeat_n(b'a', 9000));
        let (status, code, _) = diagnose_head(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            &head,
            8192,
            32768,
        );
        assert_eq!((status, code), (StatusCode::URI_TOO_LONG, Code::UriTooLong));
    }
}
