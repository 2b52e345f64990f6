//! Listening, TLS, HTTP/1.1 and HTTP/2, connection limits and head deadlines (see
//! [`crate::edge_v1::conns`]), and graceful shutdown.

use std::convert::Infallible;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Frame, SizeHint};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

use crate::edge_v1::config::Config;
use crate::edge_v1::conns::{self, Admission, Busy, Table, TableFaults, Ticket};
use crate::edge_v1::handler::{self, App};
use crate::edge_v1::routes::Routes;
use crate::edge_v1::store::{Limits, Store};
use crate::tls;

/// Connections the kernel completes and queues while the server is not accepting (the
/// kernel caps it at `net.core.somaxconn`). When the queue is full, new clients' SYNs are
/// dropped and they retry only after a second, so it is sized for floods.
const LISTEN_BACKLOG: u32 = 4096;
/// Largest HTTP/1 request head (request line and header fields), in bytes.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Most header fields in an HTTP/1 request.
const MAX_HEADERS: usize = 64;
/// Largest HTTP/2 header list, in bytes.
const MAX_HEADER_LIST: u32 = 64 * 1024;
/// Most concurrent HTTP/2 streams per connection.
const MAX_STREAMS: u32 = 128;
/// How long shutdown waits for requests in flight.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Why the server did not start. The text says what to change.
#[derive(Debug)]
pub enum StartError {
    /// A setting is invalid.
    Config(String),
    /// The listen address cannot be bound.
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The TLS certificate or key cannot be used.
    Tls(String),
    /// The self-signed certificate cannot be written.
    Certificate {
        /// Where it was to be written.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Config(why) => write!(f, "invalid configuration: {why}"),
            StartError::Bind { addr, source } => write!(
                f,
                "cannot listen on {addr}: {source}; choose another address or port (port 0 picks a free one)"
            ),
            StartError::Tls(why) => write!(f, "TLS setup failed: {why}"),
            StartError::Certificate { path, source } => write!(
                f,
                "cannot write the certificate to {}: {source}; choose a writable path",
                path.display()
            ),
        }
    }
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StartError::Bind { source, .. } | StartError::Certificate { source, .. } => {
                Some(source)
            }
            _ => None,
        }
    }
}

/// A running server. Dropping it stops accepting connections; [`Server::shutdown`] also
/// waits for requests in flight.
#[derive(Debug)]
pub struct Server {
    local_addr: SocketAddr,
    create_url: String,
    certificate_pem: Option<String>,
    certificate_path: Option<PathBuf>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Server {
    /// The address the server listens on (with the actual port when port 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The create endpoint `CE`, e.g. `https://127.0.0.1:8443/connection`.
    pub fn create_url(&self) -> String {
        self.create_url.clone()
    }

    /// The self-signed certificate (PEM), for clients to trust; `None` with plain HTTP or
    /// certificate files.
    pub fn certificate_pem(&self) -> Option<String> {
        self.certificate_pem.clone()
    }

    /// Where the self-signed certificate was written, if it was.
    pub fn certificate_path(&self) -> Option<&std::path::Path> {
        self.certificate_path.as_deref()
    }

    /// Stops accepting connections, lets requests in flight finish (up to 5 s), and returns
    /// when the server is gone.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Starts a server on the current tokio runtime and returns once it listens.
pub async fn start(config: Config) -> Result<Server, StartError> {
    start_with(config, false).await
}

/// Starts a server, with the benchmark's echo endpoint if `echo`.
pub(crate) async fn start_with(config: Config, echo: bool) -> Result<Server, StartError> {
    config.validate().map_err(StartError::Config)?;
    let tls = tls::setup(&config.tls)?;
    let listener = listen(config.listen).map_err(|source| StartError::Bind {
        addr: config.listen,
        source,
    })?;
    let local_addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: config.listen,
        source,
    })?;
    let origin = config.origin(local_addr);
    #[cfg(feature = "faults")]
    let faults = crate::edge_v1::faults::Faults::of(&config.faults);
    #[cfg(not(feature = "faults"))]
    let faults = crate::edge_v1::faults::Faults::default();
    let routes = Routes::new(&config.base_path, echo, faults);
    let create_url = format!("{origin}{}", routes.create_path());
    let app = Arc::new(App {
        store: Store::new(
            Limits {
                page_size: config.page_size,
                queue_cap: config.queue_cap,
            },
            faults,
        ),
        routes,
        origin,
        body_limit: config.body_limit,
        faults,
    });
    let (certificate_pem, certificate_path, acceptor) = match tls {
        Some(setup) => (
            setup.certificate_pem,
            setup.written_to,
            Some(setup.acceptor),
        ),
        None => (None, None, None),
    };
    let max_connections = if faults.on(crate::edge_v1::faults::Fault::OneConnectionAtATime) {
        1
    } else {
        config.max_connections
    };
    let table_faults = TableFaults {
        stall: faults
            .on(crate::edge_v1::faults::Fault::IdleCloseStalls)
            .then_some(Duration::from_secs(30)),
        wait_on_any_end: faults.on(crate::edge_v1::faults::Fault::H2StreamClosedAtIdle),
    };
    let table = Table::new(
        conns::effective_limit(max_connections),
        config.head_timeout,
        table_faults,
    );
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(serve(
        listener,
        acceptor,
        config.handshake_timeout,
        app,
        table,
        stopped,
    ));
    Ok(Server {
        local_addr,
        create_url,
        certificate_pem,
        certificate_path,
        stop,
        task: Some(task),
    })
}

/// Binds `addr` with a listen backlog of [`LISTEN_BACKLOG`] (`TcpListener::bind` asks for 128).
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// HTTP/1.1 and HTTP/2 (by ALPN over TLS, by preface over plain TCP) with bounded heads,
/// header counts and streams. The time for a head is bounded by the connection table, not by
/// hyper, so that it covers the whole head, the HTTP/2 preface and TLS included.
fn http_builder() -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(None)
        .max_buf_size(MAX_HEAD_BYTES)
        .max_headers(MAX_HEADERS);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(MAX_HEADER_LIST)
        .max_concurrent_streams(MAX_STREAMS)
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(Duration::from_secs(10));
    builder
}

async fn serve(
    listener: TcpListener,
    acceptor: Option<TlsAcceptor>,
    handshake_timeout: Duration,
    app: Arc<App>,
    table: Arc<Table>,
    mut stopped: watch::Receiver<bool>,
) {
    let builder = Arc::new(http_builder());
    let graceful = GracefulShutdown::new();
    let sweeper = tokio::spawn(table.clone().sweep());
    let mut connections = JoinSet::new();
    'accept: loop {
        while connections.try_join_next().is_some() {}
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of file descriptors or similar: back off briefly, keep serving.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stopped.changed() => break,
        };
        if let Some(until) = table.stalled_until() {
            tokio::select! {
                _ = tokio::time::sleep_until(until) => {}
                _ = stopped.changed() => break,
            }
        }
        // A full table evicts the connection that has waited longest for a head; when every
        // connection is busy (or waiting only briefly), this one waits for room, and further
        // ones wait in the listen backlog.
        let ticket = loop {
            let retry_at = match table.admit() {
                Admission::Admitted(ticket) => break ticket,
                Admission::Full(retry_at) => retry_at,
            };
            let retry = async move {
                match retry_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = table.room().notified() => {}
                _ = retry => {}
                _ = stopped.changed() => break 'accept,
            }
        };
        let _ = stream.set_nodelay(true);
        let watcher = graceful.watcher();
        let builder = builder.clone();
        let acceptor = acceptor.clone();
        let app = app.clone();
        connections.spawn(async move {
            let ticket = Arc::new(ticket);
            let reset = Arc::new(AtomicBool::new(false));
            let stream = Socket {
                stream,
                reset: reset.clone(),
            };
            let serving = serve_connection(
                stream,
                acceptor,
                handshake_timeout,
                builder,
                app,
                ticket.clone(),
                watcher,
            );
            tokio::pin!(serving);
            // Closed by the table (head deadline or eviction) only while no request is being
            // served: dropping the connection closes the socket. `serving` owns the socket and
            // is dropped after the `select!`, so a reset chosen below is in place by then.
            tokio::select! {
                biased;
                // A connection that never delivered a head is reset, so that the server keeps
                // no TIME_WAIT entry for it: a flood of such connections would otherwise fill
                // the table of TIME_WAIT entries, and a new connection whose port matched one
                // would wait for a SYN retransmit. Idle keep-alive connections get a normal
                // close.
                _ = ticket.closed() => reset.store(!ticket.served(), Ordering::Relaxed),
                _ = &mut serving => {}
            }
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await;
    connections.shutdown().await;
    sweeper.abort();
}

async fn serve_connection(
    stream: Socket,
    acceptor: Option<TlsAcceptor>,
    handshake_timeout: Duration,
    builder: Arc<auto::Builder<TokioExecutor>>,
    app: Arc<App>,
    ticket: Arc<Ticket>,
    watcher: hyper_util::server::graceful::Watcher,
) {
    let service = service_fn(move |request| {
        // The head is complete: the connection is busy until the response has been written.
        let busy = ticket.busy();
        let app = app.clone();
        async move {
            let response = handler::handle(app, request).await;
            Ok::<_, Infallible>(response.map(|body| Tracked { body, _busy: busy }))
        }
    });
    // Errors end one connection only (a client that hung up, a bad handshake); nothing is
    // logged (S-PRIV-QUIET).
    match acceptor {
        None => {
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            let _ = watcher.watch(connection.into_owned()).await;
        }
        Some(acceptor) => {
            let Ok(Ok(tls)) =
                tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await
            else {
                return;
            };
            let connection = builder.serve_connection(TokioIo::new(tls), service);
            let _ = watcher.watch(connection.into_owned()).await;
        }
    }
}

/// A response body that keeps its connection busy (not subject to the head deadline, not
/// evictable) until hyper has written it and drops it.
struct Tracked {
    body: handler::Body,
    _busy: Busy,
}

impl hyper::body::Body for Tracked {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A TCP stream that is reset (`SO_LINGER` 0) instead of closed when dropped with `reset` set.
struct Socket {
    stream: TcpStream,
    reset: Arc<AtomicBool>,
}

impl Drop for Socket {
    fn drop(&mut self) {
        if self.reset.load(Ordering::Relaxed) {
            let _ = self.stream.set_zero_linger();
        }
    }
}

impl AsyncRead for Socket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}
