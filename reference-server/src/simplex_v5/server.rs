//! Listening, TLS, HTTP/1.1 and HTTP/2 for the REST API, the WebSocket upgrade on `CE`
//! (V-WS-URI), connection limits, and shutdown.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::upgrade::OnUpgrade;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{oneshot, watch, Notify, Semaphore};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::timeout;
use tokio_rustls::TlsAcceptor;

use crate::edge_v1::server::StartError;
use crate::simplex_v5::config::SimplexConfig;
use crate::simplex_v5::faults::{Fault, Faults};
use crate::simplex_v5::rest::{self, App, Body};
use crate::simplex_v5::routes::Paths;
use crate::simplex_v5::store::Store;
use crate::simplex_v5::verify::Verifier;
use crate::simplex_v5::ws::{self, Sessions};
use crate::tls;

/// Listen backlog.
const LISTEN_BACKLOG: u32 = 4096;
/// Largest HTTP/1 request head (request line and header fields), in bytes.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Most header fields in an HTTP/1 request.
const MAX_HEADERS: usize = 64;
/// Largest HTTP/2 header list, in bytes.
const MAX_HEADER_LIST: u32 = 64 * 1024;
/// Most concurrent HTTP/2 streams per connection.
const MAX_STREAMS: u32 = 128;
/// How long shutdown waits for requests in flight and sessions to close.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);
/// How long the `idle-close-stalls` fault drops new connections.
const STALL: Duration = Duration::from_secs(30);

/// A running `simplex-v5` server. Dropping it stops accepting connections and closes the
/// WebSocket sessions; [`SimplexServer::shutdown`] also waits for them.
#[derive(Debug)]
pub struct SimplexServer {
    local_addr: SocketAddr,
    create_url: String,
    ws_url: String,
    certificate_pem: Option<String>,
    certificate_path: Option<PathBuf>,
    life: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl SimplexServer {
    /// The create endpoint `CE`, e.g. `https://127.0.0.1:8443/connection`.
    pub fn create_url(&self) -> String {
        self.create_url.clone()
    }

    /// The WebSocket API: `CE` with the `wss` (or `ws`) scheme, e.g.
    /// `wss://127.0.0.1:8443/connection`.
    pub fn ws_url(&self) -> String {
        self.ws_url.clone()
    }

    /// The address the server listens on (with the actual port when port 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
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

    /// Stops accepting, lets requests in flight finish, closes the WebSocket sessions (close
    /// code 1001), and returns when the server is gone (after at most about 3 s).
    pub async fn shutdown(mut self) {
        let _ = self.life.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for SimplexServer {
    fn drop(&mut self) {
        let _ = self.life.send(true);
    }
}

/// Starts a `simplex-v5` server on the current tokio runtime and returns once it listens.
pub async fn start(config: SimplexConfig) -> Result<SimplexServer, StartError> {
    config.validate().map_err(StartError::Config)?;
    #[cfg(feature = "faults")]
    let faults = Faults::of(&config.faults);
    #[cfg(not(feature = "faults"))]
    let faults = Faults::default();
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
    let paths = Paths::new(&config.base_path);
    let create_url = format!("{origin}{}", paths.create_path());
    let ws_url = match create_url.strip_prefix("https://") {
        Some(rest) => format!("wss://{rest}"),
        None => format!("ws://{}", create_url.trim_start_matches("http://")),
    };
    let app = Arc::new(App {
        store: Store::new(faults),
        paths,
        origin,
        page_size: config.page_size,
        large_message: config.large_message,
        body_limit: config.body_limit,
        verifier: Verifier::new(),
        faults,
    });
    let (life, _) = watch::channel(false);
    let sessions = Arc::new(Sessions::new(
        app.clone(),
        config.max_ws_message,
        config.idle_timeout,
        life.subscribe(),
    ));
    let (certificate_pem, certificate_path, acceptor) = match tls {
        Some(setup) => (
            setup.certificate_pem,
            setup.written_to,
            Some(setup.acceptor),
        ),
        None => (None, None, None),
    };
    let limits = Limits {
        head_timeout: config.head_timeout,
        handshake_timeout: config.handshake_timeout,
        max_connections: crate::edge_v1::conns::effective_limit(config.max_connections),
    };
    let task = tokio::spawn(serve(
        listener,
        acceptor,
        sessions,
        limits,
        life.subscribe(),
    ));
    Ok(SimplexServer {
        local_addr,
        create_url,
        ws_url,
        certificate_pem,
        certificate_path,
        life,
        task: Some(task),
    })
}

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

#[derive(Clone, Copy)]
struct Limits {
    head_timeout: Duration,
    handshake_timeout: Duration,
    max_connections: usize,
}

fn http_builder(head_timeout: Duration) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(head_timeout)
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
    sessions: Arc<Sessions>,
    limits: Limits,
    mut life: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let stalled = Arc::new(Stalled::default());
    let stalls = sessions.app().faults.on(Fault::IdleCloseStalls);
    let builder = Arc::new(http_builder(limits.head_timeout));
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    loop {
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
            changed = life.changed() => {
                if changed.is_err() || *life.borrow_and_update() {
                    break;
                }
                continue;
            }
        };
        // All connections taken: this one is closed at once rather than left hanging.
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            continue;
        };
        if stalls && stalled.now() {
            continue;
        }
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let sessions = sessions.clone();
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let stalled = stalled.clone();
        connections.spawn(async move {
            let opened = Instant::now();
            let served = connection(stream, acceptor, sessions, builder, watcher, limits).await;
            if stalls && served == 0 && opened.elapsed() >= limits.head_timeout {
                stalled.start();
            }
            drop(permit);
        });
    }
    drop(listener);
    let _ = timeout(SHUTDOWN_GRACE, async {
        graceful.shutdown().await;
        while connections.join_next().await.is_some() {}
    })
    .await;
    connections.shutdown().await;
}

/// Serves one connection; returns how many requests it answered.
async fn connection(
    stream: TcpStream,
    acceptor: Option<TlsAcceptor>,
    sessions: Arc<Sessions>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    watcher: hyper_util::server::graceful::Watcher,
    limits: Limits,
) -> usize {
    match acceptor {
        None => serve_http(stream, sessions, &builder, watcher, limits).await,
        Some(acceptor) => {
            let Ok(Ok(tls)) = timeout(limits.handshake_timeout, acceptor.accept(stream)).await
            else {
                return 0;
            };
            serve_http(tls, sessions, &builder, watcher, limits).await
        }
    }
}

/// Serves HTTP requests; a WebSocket upgrade ends the HTTP phase and the session runs here.
/// Returns how many requests were answered.
async fn serve_http<I>(
    io: I,
    sessions: Arc<Sessions>,
    builder: &auto::Builder<TokioExecutor>,
    watcher: hyper_util::server::graceful::Watcher,
    limits: Limits,
) -> usize
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (tx, mut rx) = oneshot::channel::<OnUpgrade>();
    let tx = Arc::new(Mutex::new(Some(tx)));
    let served = Arc::new(AtomicUsize::new(0));
    let h2_ended = Arc::new(Notify::new());
    let h2_fault = sessions.app().faults.on(Fault::H2StreamClosedAtIdle);
    let for_service = (sessions.clone(), served.clone(), h2_ended.clone());
    let service = service_fn(move |request: Request<Incoming>| {
        let tx = tx.clone();
        let (sessions, served, h2_ended) = for_service.clone();
        async move {
            let h2 = request.version() == hyper::Version::HTTP_2;
            let response = route(request, &tx, sessions).await;
            served.fetch_add(1, Ordering::Relaxed);
            if h2_fault && h2 {
                h2_ended.notify_one();
            }
            Ok::<_, Infallible>(response)
        }
    });
    let http = builder
        .serve_connection_with_upgrades(TokioIo::new(io), service)
        .into_owned();
    tokio::select! {
        _ = watcher.watch(http) => {}
        _ = closed_at_idle(h2_fault, &h2_ended, limits.head_timeout) => {
            return served.load(Ordering::Relaxed);
        }
    }
    let served = served.load(Ordering::Relaxed);
    let Ok(on_upgrade) = rx.try_recv() else {
        return served;
    };
    sessions.run(on_upgrade).await;
    served
}

/// The `h2-stream-closed-at-idle` fault: ends once `head_timeout` has passed since the last
/// HTTP/2 stream ended, whatever other streams are in flight; never without the fault.
async fn closed_at_idle(on: bool, ended: &Notify, head_timeout: Duration) {
    if !on {
        return std::future::pending().await;
    }
    ended.notified().await;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(head_timeout) => return,
            _ = ended.notified() => {}
        }
    }
}

/// The `idle-close-stalls` fault's state: until when new connections are dropped.
#[derive(Default)]
struct Stalled(Mutex<Option<Instant>>);

impl Stalled {
    fn start(&self) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now() + STALL);
    }

    #[cfg_attr(mutants, mutants::skip)] // fault injection only
    fn now(&self) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|until| Instant::now() < until)
    }
}

/// A WebSocket upgrade of `CE` goes to [`ws`], everything else to [`rest`].
async fn route(
    request: Request<Incoming>,
    tx: &Mutex<Option<oneshot::Sender<OnUpgrade>>>,
    sessions: Arc<Sessions>,
) -> Response<Body> {
    if ws::is_upgrade(sessions.app(), &request) {
        let app = sessions.app().clone();
        if let Some(response) = ws::refuse(&app, &request) {
            return response;
        }
        let Some(tx) = tx.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return rest::error(hyper::StatusCode::BAD_REQUEST, "one upgrade per connection");
        };
        return ws::accept(request, tx);
    }
    rest::handle(sessions.app().clone(), request).await
}
