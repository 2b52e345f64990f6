//! The target options every subcommand that talks to a server shares.

use std::path::PathBuf;
use std::time::Duration;

use super::error::CliError;
use crate::client::HttpVersion;
use crate::profiles::{TargetOptions, DEFAULT_MAX_BODY, DEFAULT_TIMEOUT};

/// `--profile`, `--server` and the transport options.
#[derive(Debug, Clone, clap::Args)]
pub struct TargetArgs {
    /// The protocol profile to check (`edgecheck profiles` lists them; default: the first).
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Endpoint of the server under test (for edge-v1 its create endpoint, CE); give it twice
    /// for two-server scenarios. Without it, the profile's embedded reference server is
    /// started on 127.0.0.1 and tested.
    #[arg(long = "server", value_name = "URL")]
    pub servers: Vec<String>,
    /// Allow a plain http:// (or ws://) target; the HTTPS rule is then reported as waived,
    /// never as passed.
    #[arg(long)]
    pub allow_http: bool,
    /// Trust this PEM certificate (or CA) in addition to the system roots.
    #[arg(long, value_name = "PEM")]
    pub ca_cert: Option<PathBuf>,
    /// Accept any TLS certificate (testing only).
    #[arg(long)]
    pub insecure: bool,
    /// Let the server's URIs point to this origin too (e.g. https://host:8443, repeatable);
    /// without it the suite contacts only the origins of --server, and B-URI-ORIGIN is
    /// waived, not passed, for URIs on an allowed origin.
    #[arg(long = "allow-origin", value_name = "URL")]
    pub allow_origins: Vec<String>,
    /// The server's PAGE_SIZE, when it cannot be discovered from outside.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub page_size: Option<u64>,
    /// simplex-v5: the server's LARGE_MESSAGE in bytes (messages larger than it come without
    /// `msg` in pages and pushes); without it that rule is skipped (the embedded server's is
    /// known).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub large_message: Option<u64>,
    /// simplex-v5: the server's MAX_WEBSOCKET_MESSAGE in bytes (default 65536, the binding's
    /// minimum).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(65536..))]
    pub max_ws: Option<u64>,
    /// Per-request timeout in seconds.
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_TIMEOUT.as_secs_f64())]
    pub timeout: f64,
    /// Largest response body kept, in bytes; more is counted (up to 16 MiB) but not kept,
    /// and such a body is not judged (verdict error).
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_BODY)]
    pub max_body: usize,
    /// tassis-v2: the server's PreKeysLow limit (with --prekeys-interval); without both, the
    /// PreKeysLow checks are skipped (the embedded server's are known).
    #[arg(long, value_name = "LIMIT", requires = "prekeys_interval", value_parser = clap::value_parser!(u32).range(1..))]
    pub prekeys_low: Option<u32>,
    /// tassis-v2: the server's PreKeysLow check interval, e.g. 200ms or 5m.
    #[arg(long, value_name = "DURATION", requires = "prekeys_low", value_parser = humantime::parse_duration)]
    pub prekeys_interval: Option<Duration>,
    /// edge-v1 and simplex-v5: hold a connection idle this long, e.g. 15s (longer than the
    /// server's timeout for a request head), then check that new requests are still
    /// answered, and that an HTTP/2 stream held half sent that long is answered once
    /// complete; without it those two checks (edge-v1: `limits/answered-after-idle`,
    /// `limits/h2-stream-answered-after-idle`; simplex-v5: `send/…`) are skipped.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub idle_wait: Option<Duration>,
    /// HTTP version of the ordinary requests: `auto` (over TLS the server chooses by ALPN,
    /// HTTP/2 if it offers it), `1.1` or `2`. Default: `1.1` for prop and fuzz (about 9 %
    /// more requests a second than HTTP/2, docs/BENCHMARKS.md), `auto` for the others.
    /// Requests that need exact bytes always go over HTTP/1.1; tassis-v2 (WebSocket) takes
    /// only `auto` and `1.1`.
    #[arg(long, value_enum, value_name = "VERSION")]
    pub http: Option<HttpVersion>,
}

impl TargetArgs {
    /// The profile named by `--profile`, or the default one.
    pub fn profile(&self) -> Result<&'static dyn crate::profiles::Profile, CliError> {
        super::profile_named(self.profile.as_deref())
    }

    /// The options as the profiles receive them; `fresh_keys` is `run`'s `--fresh-keys`,
    /// `http` the command's HTTP version when `--http` is not given.
    pub fn options(
        &self,
        fresh_keys: Option<usize>,
        http: HttpVersion,
    ) -> Result<TargetOptions, CliError> {
        if !(self.timeout > 0.0 && self.timeout <= 3600.0) {
            return Err(CliError::usage(
                "--timeout must be between 0 and 3600 seconds",
            ));
        }
        Ok(TargetOptions {
            servers: self.servers.clone(),
            allow_http: self.allow_http,
            ca_cert: self.ca_cert.clone(),
            insecure: self.insecure,
            allow_origins: self.allow_origins.clone(),
            page_size: self.page_size,
            large_message: self.large_message,
            max_ws: self.max_ws,
            timeout: Duration::from_secs_f64(self.timeout),
            max_body: self.max_body,
            fresh_keys,
            prekeys_low: self.prekeys_low,
            prekeys_interval: self.prekeys_interval,
            idle_wait: self.idle_wait,
            http: self.http.unwrap_or(http),
        })
    }
}
