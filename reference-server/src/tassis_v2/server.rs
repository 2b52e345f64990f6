//! Listening, TLS, the HTTP upgrade to WebSocket at `/api` (TB-WS-URL, TB-WS-UPGRADE),
//! connection limits and handshake deadlines, shutdown, and the simulated crash of the crash
//! faults.

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::service::service_fn;
use hyper::upgrade::OnUpgrade;
use hyper::{Method, Request, Response, StatusCode, Version};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{oneshot, watch, Semaphore};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::timeout;
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;

use crate::edge_v1::config::Tls;
use crate::edge_v1::server::StartError;
use crate::tassis_v2::config::TassisConfig;
use crate::tassis_v2::conn;
use crate::tassis_v2::faults::{Fault, Faults};
use crate::tassis_v2::shared::{Life, Settings, Shared};
use crate::tls;

/// The WebSocket endpoint's path (request target, matched exactly).
pub const PATH: &str = "/api";
/// Largest client message accepted (TB-FRAME-SIZE).
pub const MAX_MESSAGE: usize = 32_768;
/// Listen backlog.
const LISTEN_BACKLOG: u32 = 1024;
/// How long shutdown waits for connections to close.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// A running `tassis-v2` server. Dropping it stops accepting connections and closes the
/// open ones; [`TassisServer::shutdown`] also waits for them.
#[derive(Debug)]
pub struct TassisServer {
    local_addr: SocketAddr,
    url: String,
    certificate_pem: Option<String>,
    certificate_path: Option<PathBuf>,
    shared: Arc<Shared>,
    task: Option<JoinHandle<()>>,
}

impl TassisServer {
    /// The WebSocket URL, `ws://127.0.0.1:<port>/api` or `wss://…/api`.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The address the server listens on (with the actual port when port 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The self-signed certificate (PEM), for clients to trust; `None` with plain `ws://` or
    /// certificate files.
    pub fn certificate_pem(&self) -> Option<String> {
        self.certificate_pem.clone()
    }

    /// Where the self-signed certificate was written, if it was.
    pub fn certificate_path(&self) -> Option<&std::path::Path> {
        self.certificate_path.as_deref()
    }

    /// Whether a crash fault has killed the server: it no longer accepts connections and
    /// has dropped every open one. Always `false` without the `faults` feature.
    pub fn crashed(&self) -> bool {
        *self.shared.life.borrow() == Life::Crashed
    }

    /// Stops accepting, closes the connections (close code 1001), and returns when the
    /// server is gone (after at most about 3 s).
    pub async fn shutdown(mut self) {
        stop(&self.shared);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for TassisServer {
    fn drop(&mut self) {
        stop(&self.shared);
    }
}

fn stop(shared: &Shared) {
    shared.life.send_if_modified(|life| {
        let running = *life == Life::Running;
        if running {
            *life = Life::Stopping;
        }
        running
    });
}

/// Starts a `tassis-v2` server on the current tokio runtime and returns once it listens.
pub async fn start(config: TassisConfig) -> Result<TassisServer, StartError> {
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
    let scheme = if config.tls == Tls::Plain {
        "ws"
    } else {
        "wss"
    };
    let host = match local_addr.ip() {
        std::net::IpAddr::V4(v4) if v4.is_unspecified() => Ipv4Addr::LOCALHOST.to_string(),
        std::net::IpAddr::V6(v6) if v6.is_unspecified() => "[::1]".to_owned(),
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
    };
    let url = format!("{scheme}://{host}:{}{PATH}", local_addr.port());
    let (life, _) = watch::channel(Life::Running);
    let settings = Settings {
        max_attachment_size: config.max_attachment_size,
        prekeys_low: config.prekeys_low,
        prekeys_request: config.prekeys_request,
        prekeys_interval: config.prekeys_interval,
        upload_base: config.upload_base(),
        idle_timeout: config.idle_timeout,
    };
    let shared = Arc::new(Shared::new(settings, faults, life));
    let (certificate_pem, certificate_path, acceptor) = match tls {
        Some(setup) => (
            setup.certificate_pem,
            setup.written_to,
            Some(setup.acceptor),
        ),
        None => (None, None, None),
    };
    let max_message = if faults.on(Fault::Frame32kRefused) {
        MAX_MESSAGE - 1
    } else {
        MAX_MESSAGE
    };
    let limits = Limits {
        handshake_timeout: config.handshake_timeout,
        ws: WebSocketConfig::default()
            .max_message_size(Some(max_message))
            .max_frame_size(Some(max_message))
            .read_buffer_size(16 * 1024)
            .write_buffer_size(16 * 1024)
            .max_write_buffer_size(1 << 20),
    };
    let max_connections = crate::edge_v1::conns::effective_limit(config.max_connections);
    let task = tokio::spawn(serve(
        listener,
        acceptor,
        shared.clone(),
        limits,
        max_connections,
    ));
    Ok(TassisServer {
        local_addr,
        url,
        certificate_pem,
        certificate_path,
        shared,
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
    handshake_timeout: Duration,
    ws: WebSocketConfig,
}

async fn serve(
    listener: TcpListener,
    acceptor: Option<TlsAcceptor>,
    shared: Arc<Shared>,
    limits: Limits,
    max_connections: usize,
) {
    let mut life = shared.life.subscribe();
    let permits = Arc::new(Semaphore::new(max_connections));
    let builder = Arc::new(http_builder());
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of file descriptors or similar: back off briefly, keep serving.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            changed = life.changed() => {
                if changed.is_err() || *life.borrow_and_update() != Life::Running {
                    break;
                }
                continue;
            }
        };
        // All connections taken: this one is closed at once rather than left hanging.
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let shared = shared.clone();
        let builder = builder.clone();
        connections.spawn(async move {
            connection(stream, peer, acceptor, shared, builder, limits).await;
            drop(permit);
        });
    }
    drop(listener);
    if *life.borrow() == Life::Crashed {
        // A crash: every connection is dropped without a word.
        connections.shutdown().await;
        return;
    }
    let _ = timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    connections.shutdown().await;
}

fn http_builder() -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .max_buf_size(16 * 1024)
        .max_headers(64);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(16)
        .max_header_list_size(16 * 1024);
    builder
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    acceptor: Option<TlsAcceptor>,
    shared: Arc<Shared>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    limits: Limits,
) {
    let mut life = shared.life.subscribe();
    let serving = async {
        match acceptor {
            None => upgrade_and_serve(stream, peer, shared.clone(), &builder, limits).await,
            Some(acceptor) => {
                let Ok(Ok(tls)) = timeout(limits.handshake_timeout, acceptor.accept(stream)).await
                else {
                    return;
                };
                upgrade_and_serve(tls, peer, shared.clone(), &builder, limits).await;
            }
        }
    };
    // A crash drops the connection wherever it is; a shutdown does so only before the
    // upgrade (a WebSocket session closes itself with 1001).
    let dead = async {
        loop {
            if *life.borrow_and_update() == Life::Crashed {
                return;
            }
            if life.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
    };
    tokio::select! {
        () = serving => {}
        () = dead => {}
    }
}

async fn upgrade_and_serve<I>(
    io: I,
    peer: SocketAddr,
    shared: Arc<Shared>,
    builder: &auto::Builder<TokioExecutor>,
    limits: Limits,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (tx, mut rx) = oneshot::channel::<OnUpgrade>();
    let tx = Arc::new(Mutex::new(Some(tx)));
    let faults = shared.faults;
    let service = service_fn(move |request| {
        let tx = tx.clone();
        async move { Ok::<_, Infallible>(respond(request, &tx, faults)) }
    });
    let http = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    // The whole HTTP phase (request heads, keep-alive) is bounded; an upgrade ends it.
    let mut stopping = shared.life.subscribe();
    tokio::select! {
        _ = timeout(limits.handshake_timeout, http) => {}
        _ = stopping.wait_for(|life| *life != Life::Running) => return,
    }
    let Ok(on_upgrade) = rx.try_recv() else {
        return;
    };
    let Ok(Ok(upgraded)) = timeout(limits.handshake_timeout, on_upgrade).await else {
        return;
    };
    let ws =
        WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(limits.ws))
            .await;
    conn::run(ws, shared, peer).await;
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Whether a header field's comma-separated list holds `token` (case-insensitive).
fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|value| {
        value
            .to_str()
            .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    })
}

/// Answers an HTTP request: 404 off `/api`, 405 for other methods, 426 without an upgrade,
/// 101 for a valid WebSocket upgrade (whose connection is handed over through `tx`).
fn respond(
    mut request: Request<Incoming>,
    tx: &Mutex<Option<oneshot::Sender<OnUpgrade>>>,
    faults: Faults,
) -> Response<Full<Bytes>> {
    let target = request.uri().path_and_query().map(|p| p.as_str());
    if target != Some(PATH) {
        return text(
            StatusCode::NOT_FOUND,
            "not found: the WebSocket endpoint is /api\n",
        );
    }
    if request.method() != Method::GET {
        let mut response = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "use GET with a WebSocket upgrade\n",
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET"));
        return response;
    }
    let headers = request.headers();
    let upgrade = request.version() == Version::HTTP_11
        && has_token(headers, header::UPGRADE, "websocket")
        && has_token(headers, header::CONNECTION, "upgrade");
    let version_13 = headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_some_and(|v| v.as_bytes() == b"13");
    if !upgrade || !version_13 {
        if !upgrade && faults.on(Fault::Upgrade500) {
            return text(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n");
        }
        let mut response = text(
            StatusCode::UPGRADE_REQUIRED,
            "upgrade required: open a WebSocket (version 13) over HTTP/1.1\n",
        );
        let h = response.headers_mut();
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        h.insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
        return response;
    }
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .filter(|k| STANDARD.decode(k.as_bytes()).is_ok_and(|d| d.len() == 16))
        .map(|k| derive_accept_key(k.as_bytes()));
    let Some(accept) = key else {
        return text(
            StatusCode::BAD_REQUEST,
            "Sec-WebSocket-Key must be 16 bytes in base64\n",
        );
    };
    let Some(tx) = tx.lock().unwrap_or_else(|e| e.into_inner()).take() else {
        return text(StatusCode::BAD_REQUEST, "one upgrade per connection\n");
    };
    let _ = tx.send(hyper::upgrade::on(&mut request));
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = response.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(accept) = HeaderValue::from_str(&accept) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    response
}
