//! `edge-server`: the reference server of edgecheck's profiles (`--profile`, default edge-v1;
//! also tassis-v2 and simplex-v5).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory as _, FromArgMatches as _, Parser};
use edge_reference_server::simplex_v5::{self, SimplexConfig};
use edge_reference_server::tassis_v2::{self, TassisConfig};
use edge_reference_server::{start, Config, Tls, DEFAULT_CERT_PATH};

/// Reference server for edgecheck's protocol profiles: edge-v1 (the default, the signed REST
/// protocol), tassis-v2 (WebSocket + protobuf messaging at /api) and simplex-v5 (the last
/// REST revision with its WebSocket API on the create endpoint).
///
/// By default it serves HTTPS (edge-v1, simplex-v5) or WSS (tassis-v2) on 127.0.0.1:8443 with a
/// self-signed certificate for localhost, 127.0.0.1 and ::1, written to edge-server-cert.pem
/// so that clients can trust it. State is kept in memory only, and nothing about requests,
/// identities or payloads is logged. Stop it with Ctrl-C or SIGTERM.
#[derive(Debug, Parser)]
#[command(name = "edge-server", version)]
struct Args {
    /// The protocol profile to serve.
    #[arg(long, default_value = edge_reference_server::PROFILES[0], value_parser = clap::builder::PossibleValuesParser::new(edge_reference_server::PROFILES))]
    profile: String,

    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8443")]
    listen: SocketAddr,

    /// Path of the create endpoint; connection URIs are made under it.
    #[arg(long, default_value = "/connection")]
    base_path: String,

    // The help text is an attribute: rustdoc would flag the bare URL in a doc comment.
    #[arg(
        long,
        value_name = "URL",
        help = "Public URL prefix, such as https://edge.example.com:8443, for the absolute URIs \
                the server returns when clients reach it through a proxy (the proxy must \
                forward paths unchanged). Default: from --listen"
    )]
    public_url: Option<String>,

    /// PAGE_SIZE: the most messages one retrieval returns (default 50; simplex-v5: 10, the
    /// exact length of a full page).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    page_size: Option<u32>,

    /// simplex-v5: LARGE_MESSAGE, in bytes; pages and pushes list larger messages without
    /// `msg`.
    #[arg(long, value_name = "BYTES", default_value_t = 4096)]
    large_message: usize,

    /// simplex-v5: MAX_WEBSOCKET_MESSAGE, the largest client WebSocket message, in bytes (at
    /// least 65536).
    #[arg(long, value_name = "BYTES", default_value_t = 65_536, value_parser = clap::value_parser!(u64).range(65_536..))]
    max_ws: u64,

    /// Largest request body in bytes; larger bodies get 413.
    #[arg(long, default_value_t = 1024 * 1024, value_parser = clap::value_parser!(u64).range(1..))]
    body_limit: u64,

    /// Most messages queued per connection; a send over it gets 429 (default: no cap).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    queue_cap: Option<u64>,

    /// Most connections held open at once (lowered to fit `ulimit -n`). edge-v1: when all are
    /// taken, the one that has waited longest for a request head is closed to admit a new one
    /// (default 16384); tassis-v2: new connections are closed at once (default 4096).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max_connections: Option<u64>,

    /// Seconds a connection may take to deliver a whole request head, from accept or from the
    /// end of the previous response (idle keep-alive connections are closed then).
    #[arg(long, value_name = "SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    head_timeout: u64,

    /// Seconds a client may take to complete the TLS handshake (tassis-v2: and the HTTP
    /// upgrade request).
    #[arg(long, value_name = "SECS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=3600))]
    handshake_timeout: u64,

    /// tassis-v2: Configuration.maxAttachmentSize and the maxUploadSize of upload
    /// authorizations, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 5_000_000, value_parser = clap::value_parser!(i64).range(1..))]
    max_attachment: i64,

    /// tassis-v2: PreKeysLow limit; a registered device holding fewer one-time prekeys is
    /// asked for more.
    #[arg(long, value_name = "N", default_value_t = 3)]
    prekeys_low: u32,

    /// tassis-v2: keysRequested of PreKeysLow.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..))]
    prekeys_request: u32,

    /// tassis-v2: how often an authenticated connection checks its device's one-time
    /// prekeys: milliseconds (200) or with a unit (200ms, 1.5s, 2m).
    #[arg(long, value_name = "DURATION", default_value = "200ms", value_parser = tassis_v2::parse_duration)]
    prekeys_interval: Duration,

    // The help text is an attribute: rustdoc would flag the bare URL in a doc comment.
    #[arg(
        long,
        value_name = "URL",
        default_value = tassis_v2::DEFAULT_UPLOAD_BASE,
        help = "tassis-v2: absolute URL under which upload authorizations point (the server \
                stores no uploads)"
    )]
    upload_base: String,

    /// tassis-v2, simplex-v5: seconds without a client data message after which a WebSocket
    /// connection is closed (pings do not count).
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    idle_timeout: u64,

    /// Serve plain HTTP without TLS. For local use only: the binding requires HTTPS.
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key", "cert_out"])]
    http: bool,

    /// PEM certificate chain to serve (with --tls-key) instead of a self-signed certificate.
    #[arg(
        long,
        value_name = "FILE",
        requires = "tls_key",
        conflicts_with = "cert_out"
    )]
    tls_cert: Option<PathBuf>,

    /// PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,

    /// Where to write the self-signed certificate made at startup.
    #[arg(long, value_name = "FILE", default_value = DEFAULT_CERT_PATH)]
    cert_out: PathBuf,
}

const EDGE: &str = "edge-v1";
const TASSIS: &str = tassis_v2::NAME;
const SIMPLEX: &str = simplex_v5::NAME;

/// Flags that not every profile reads, with the profiles that read them.
const PROFILE_FLAGS: [(&str, &[&str]); 14] = [
    ("base_path", &[EDGE, SIMPLEX]),
    ("public_url", &[EDGE, SIMPLEX]),
    ("page_size", &[EDGE, SIMPLEX]),
    ("body_limit", &[EDGE, SIMPLEX]),
    ("queue_cap", &[EDGE]),
    ("head_timeout", &[EDGE, SIMPLEX]),
    ("max_attachment", &[TASSIS]),
    ("prekeys_low", &[TASSIS]),
    ("prekeys_request", &[TASSIS]),
    ("prekeys_interval", &[TASSIS]),
    ("upload_base", &[TASSIS]),
    ("idle_timeout", &[TASSIS, SIMPLEX]),
    ("large_message", &[SIMPLEX]),
    ("max_ws", &[SIMPLEX]),
];

/// Refuses flags given on the command line that the chosen profile does not read.
fn check_profile_flags(matches: &ArgMatches, profile: &str) -> Result<(), String> {
    for (id, readers) in PROFILE_FLAGS {
        if readers.contains(&profile) {
            continue;
        }
        if matches.value_source(id) == Some(ValueSource::CommandLine) {
            let owners = readers.join(" or ");
            return Err(format!(
                "--{} applies to profile {owners} only; drop it or pass --profile {}",
                id.replace('_', "-"),
                readers[0]
            ));
        }
    }
    Ok(())
}

impl Args {
    fn tls(&self) -> Tls {
        if self.http {
            Tls::Plain
        } else if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            Tls::Files {
                cert: cert.clone(),
                key: key.clone(),
            }
        } else {
            Tls::SelfSigned {
                write_to: Some(self.cert_out.clone()),
            }
        }
    }

    fn into_tassis_config(self) -> TassisConfig {
        let tls = self.tls();
        // With the `faults` feature `TassisConfig` has one more field, left at its default.
        #[allow(clippy::needless_update)]
        TassisConfig {
            listen: self.listen,
            tls,
            max_attachment_size: self.max_attachment,
            prekeys_low: self.prekeys_low,
            prekeys_request: self.prekeys_request,
            prekeys_interval: self.prekeys_interval,
            upload_base: self.upload_base,
            idle_timeout: Duration::from_secs(self.idle_timeout),
            handshake_timeout: Duration::from_secs(self.handshake_timeout),
            max_connections: self
                .max_connections
                .map_or(TassisConfig::default().max_connections, |n| {
                    usize::try_from(n).unwrap_or(usize::MAX)
                }),
            ..TassisConfig::default()
        }
    }

    fn into_simplex_config(self) -> SimplexConfig {
        let tls = self.tls();
        // With the `faults` feature `SimplexConfig` has one more field, left at its default.
        #[allow(clippy::needless_update)]
        SimplexConfig {
            listen: self.listen,
            tls,
            base_path: self.base_path,
            public_url: self.public_url,
            page_size: self
                .page_size
                .map_or(SimplexConfig::default().page_size, |n| n as usize),
            large_message: self.large_message,
            max_ws_message: usize::try_from(self.max_ws).unwrap_or(usize::MAX),
            body_limit: usize::try_from(self.body_limit).unwrap_or(usize::MAX),
            max_connections: self
                .max_connections
                .map_or(SimplexConfig::default().max_connections, |n| {
                    usize::try_from(n).unwrap_or(usize::MAX)
                }),
            head_timeout: Duration::from_secs(self.head_timeout),
            handshake_timeout: Duration::from_secs(self.handshake_timeout),
            idle_timeout: Duration::from_secs(self.idle_timeout),
            ..SimplexConfig::default()
        }
    }

    fn into_config(self) -> Config {
        let tls = self.tls();
        // With the `faults` feature `Config` has one more field, left at its default.
        #[allow(clippy::needless_update)]
        Config {
            listen: self.listen,
            base_path: self.base_path,
            public_url: self.public_url,
            page_size: self.page_size.map_or(50, |n| n as usize),
            body_limit: usize::try_from(self.body_limit).unwrap_or(usize::MAX),
            queue_cap: self
                .queue_cap
                .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
            tls,
            max_connections: self
                .max_connections
                .map_or(Config::default().max_connections, |n| {
                    usize::try_from(n).unwrap_or(usize::MAX)
                }),
            head_timeout: Duration::from_secs(self.head_timeout),
            handshake_timeout: Duration::from_secs(self.handshake_timeout),
            ..Config::default()
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let matches = Args::command().get_matches();
    let args = match Args::from_arg_matches(&matches) {
        Ok(args) => args,
        Err(e) => e.exit(),
    };
    if let Err(why) = check_profile_flags(&matches, &args.profile) {
        Args::command()
            .error(clap::error::ErrorKind::ArgumentConflict, why)
            .exit();
    }
    if args.profile == tassis_v2::NAME {
        return serve_tassis(args.into_tassis_config()).await;
    }
    if args.profile == simplex_v5::NAME {
        return serve_simplex(args.into_simplex_config()).await;
    }
    let config = args.into_config();
    let server = match start(config).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("edge-server: {e}");
            return ExitCode::from(2);
        }
    };
    println!("edge-server listening on {}", server.create_url());
    if let Some(path) = server.certificate_path() {
        println!("self-signed certificate written to {}", path.display());
    }
    wait_for_signal().await;
    server.shutdown().await;
    ExitCode::SUCCESS
}

async fn serve_tassis(config: TassisConfig) -> ExitCode {
    let server = match tassis_v2::start(config).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("edge-server: {e}");
            return ExitCode::from(2);
        }
    };
    println!("edge-server listening on {}", server.url());
    if let Some(path) = server.certificate_path() {
        println!("self-signed certificate written to {}", path.display());
    }
    wait_for_signal().await;
    server.shutdown().await;
    ExitCode::SUCCESS
}

async fn serve_simplex(config: SimplexConfig) -> ExitCode {
    let server = match simplex_v5::start(config).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("edge-server: {e}");
            return ExitCode::from(2);
        }
    };
    println!("edge-server listening on {}", server.create_url());
    if let Some(path) = server.certificate_path() {
        println!("self-signed certificate written to {}", path.display());
    }
    wait_for_signal().await;
    server.shutdown().await;
    ExitCode::SUCCESS
}

/// Returns on SIGINT (Ctrl-C) or SIGTERM.
async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
