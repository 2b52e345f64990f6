//! Configuration of the `simplex-v5` server.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::edge_v1::config::{Tls, DEFAULT_CERT_PATH};

/// Smallest `MAX_WEBSOCKET_MESSAGE` the binding allows (VB-WS-LIMIT).
pub const MIN_MAX_WS: usize = 64 * 1024;

/// How a `simplex-v5` server is configured. [`SimplexConfig::default`] gives the documented
/// defaults (those the binary uses).
#[derive(Debug, Clone)]
pub struct SimplexConfig {
    /// Address to listen on; port 0 picks a free port. Default `127.0.0.1:8443`.
    pub listen: SocketAddr,
    /// Transport security (`https`/`wss` unless [`Tls::Plain`]). Default: a self-signed
    /// certificate written to [`DEFAULT_CERT_PATH`].
    pub tls: Tls,
    /// Path of the create endpoint `CE` (also the WebSocket endpoint); connection URIs live
    /// under it. Default `/connection`.
    pub base_path: String,
    /// `scheme://host[:port]` of the absolute URIs the server returns (behind a proxy).
    /// Default: from the scheme and the listen address.
    pub public_url: Option<String>,
    /// `PAGE_SIZE`: the number of messages of a full page. Default 10.
    pub page_size: usize,
    /// `LARGE_MESSAGE`: messages of more bytes are listed without `msg`. Default 4096.
    pub large_message: usize,
    /// `MAX_WEBSOCKET_MESSAGE`: the largest client WebSocket message, in bytes; at least
    /// 64 KiB. Default 65536.
    pub max_ws_message: usize,
    /// Largest request body in bytes; larger bodies get 413. Default 1 MiB.
    pub body_limit: usize,
    /// Most connections open at once; further ones are closed at once. Lowered to fit the
    /// open-file limit (`ulimit -n`, less 64) where that is known. Default 16384.
    pub max_connections: usize,
    /// Time for a whole request head, from accept or from the end of the previous response
    /// (idle keep-alive connections are closed then). Default 10 s.
    pub head_timeout: Duration,
    /// Time for the TLS handshake. Default 5 s.
    pub handshake_timeout: Duration,
    /// A WebSocket session without a client data message for this long is closed (pings do
    /// not count). Default 60 s.
    pub idle_timeout: Duration,
    /// Deliberate deviations from the binding, for testing test suites.
    #[cfg(feature = "faults")]
    pub faults: Vec<crate::simplex_v5::faults::Fault>,
}

impl Default for SimplexConfig {
    fn default() -> Self {
        SimplexConfig {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 8443)),
            tls: Tls::SelfSigned {
                write_to: Some(PathBuf::from(DEFAULT_CERT_PATH)),
            },
            base_path: "/connection".to_owned(),
            public_url: None,
            page_size: 10,
            large_message: 4096,
            max_ws_message: MIN_MAX_WS,
            body_limit: 1024 * 1024,
            max_connections: 16_384,
            head_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(60),
            #[cfg(feature = "faults")]
            faults: Vec::new(),
        }
    }
}

impl SimplexConfig {
    /// Checks the values a type cannot; the error says which setting to fix.
    pub(crate) fn validate(&self) -> Result<(), String> {
        // The same rules as edge-v1's for the settings both profiles have.
        let edge = crate::edge_v1::config::Config {
            base_path: self.base_path.clone(),
            public_url: self.public_url.clone(),
            body_limit: self.body_limit,
            max_connections: self.max_connections,
            head_timeout: self.head_timeout,
            handshake_timeout: self.handshake_timeout,
            ..crate::edge_v1::config::Config::default()
        };
        edge.validate()?;
        if self.page_size == 0 {
            return Err("page size must be at least 1".into());
        }
        if self.max_ws_message < MIN_MAX_WS {
            return Err(format!(
                "max WebSocket message must be at least {MIN_MAX_WS} bytes (VB-WS-LIMIT)"
            ));
        }
        if self.idle_timeout < Duration::from_millis(100) {
            return Err("idle timeout must be at least 100 ms".into());
        }
        Ok(())
    }

    /// `scheme://host:port` (http or https) for the absolute URIs the server returns.
    pub(crate) fn origin(&self, local: SocketAddr) -> String {
        crate::edge_v1::config::Config {
            public_url: self.public_url.clone(),
            tls: self.tls.clone(),
            ..crate::edge_v1::config::Config::default()
        }
        .origin(local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_documentation() {
        let c = SimplexConfig::default();
        assert_eq!(c.listen, "127.0.0.1:8443".parse().unwrap());
        assert_eq!(c.base_path, "/connection");
        assert_eq!((c.page_size, c.large_message), (10, 4096));
        assert_eq!(c.max_ws_message, 65_536);
        assert_eq!(c.body_limit, 1 << 20);
        assert!(c.validate().is_ok());
    }

    #[test]
    fn refuses_bad_values() {
        for bad in [
            SimplexConfig {
                page_size: 0,
                ..SimplexConfig::default()
            },
            SimplexConfig {
                max_ws_message: 1000,
                ..SimplexConfig::default()
            },
            SimplexConfig {
                base_path: "x/".into(),
                ..SimplexConfig::default()
            },
        ] {
            assert!(bad.validate().is_err());
        }
    }
}
