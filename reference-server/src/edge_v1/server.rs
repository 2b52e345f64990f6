//! Listening, TLS, HTTP/1.1 and HTTP/2, connection limits, and graceful shutdown.

use std::convert::Infallible;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

use crate::edge_v1::config::Config;
use crate::edge_v1::handler::{self, App};
use crate::edge_v1::routes::Routes;
use crate::edge_v1::store::{Limits, Store};
use crate::tls;

/// Most connections served at once; further ones wait in the listen backlog.
const MAX_CONNECTIONS: usize = 1024;
/// How long an HTTP/1 connection may wait for (the rest of) the next request head; this also
/// closes idle keep-alive connections.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
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
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| StartError::Bind {
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
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(serve(listener, acceptor, app, stopped));
    Ok(Server {
        local_addr,
        create_url,
        certificate_pem,
        certificate_path,
        stop,
        task: Some(task),
    })
}

/// HTTP/1.1 and HTTP/2 (by ALPN over TLS, by preface over plain TCP) with bounded heads,
/// header counts, header time, and streams.
fn http_builder() -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
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
    app: Arc<App>,
    mut stopped: watch::Receiver<bool>,
) {
    let builder = Arc::new(http_builder());
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            _ = stopped.changed() => break,
        };
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
        let _ = stream.set_nodelay(true);
        let watcher = graceful.watcher();
        let builder = builder.clone();
        let acceptor = acceptor.clone();
        let app = app.clone();
        connections.spawn(async move {
            let _permit = permit;
            serve_connection(stream, acceptor, builder, app, watcher).await;
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await;
    connections.shutdown().await;
}

async fn serve_connection(
    stream: TcpStream,
    acceptor: Option<TlsAcceptor>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    app: Arc<App>,
    watcher: hyper_util::server::graceful::Watcher,
) {
    let service = service_fn(move |request| {
        let app = app.clone();
        async move { Ok::<_, Infallible>(handler::handle(app, request).await) }
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
                tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
            else {
                return;
            };
            let connection = builder.serve_connection(TokioIo::new(tls), service);
            let _ = watcher.watch(connection.into_owned()).await;
        }
    }
}
