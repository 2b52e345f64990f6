//! Server configuration.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// Where the self-signed certificate is written by default (relative to the working directory).
pub const DEFAULT_CERT_PATH: &str = "edge-server-cert.pem";

/// How the server is configured. [`Config::default`] gives the documented defaults.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port. Default `127.0.0.1:8443`.
    pub listen: SocketAddr,
    /// Path of the create endpoint `CE`; connection URIs live under it. Default `/connection`.
    pub base_path: String,
    /// `scheme://host[:port]` used to build the absolute URIs the server returns (set it when
    /// the server runs behind a proxy). Default: from the scheme and the listen address.
    pub public_url: Option<String>,
    /// `PAGE_SIZE`: the most messages one retrieval returns. Default 50.
    pub page_size: usize,
    /// Largest request body in bytes; larger bodies get 413. Default 1 MiB.
    pub body_limit: usize,
    /// Most messages queued per connection; a send over it gets 429. Default: no cap.
    pub queue_cap: Option<usize>,
    /// Transport security. Default: a self-signed certificate written to [`DEFAULT_CERT_PATH`].
    pub tls: Tls,
    /// Most connections held open at once. When all are taken, the connection that has waited
    /// longest for a request head is closed to admit a new one; connections serving a request
    /// are never closed. Lowered to fit the open-file limit (`ulimit -n`, less 64) where that is
    /// known. Default 16384.
    pub max_connections: usize,
    /// How long a connection may take to deliver a complete request head: from accept (TLS
    /// handshake included) for the first request, and from the end of the previous response
    /// for the next ones (this also closes idle keep-alive connections). It covers the whole
    /// head, however slowly its bytes arrive. Default 10 s.
    pub head_timeout: Duration,
    /// How long a client may take to complete the TLS handshake. Default 5 s.
    pub handshake_timeout: Duration,
    /// Deliberate deviations from the binding, for testing test suites.
    #[cfg(feature = "faults")]
    pub faults: Vec<crate::edge_v1::faults::Fault>,
}

/// Transport security.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tls {
    /// Plain HTTP. Only for local use: the binding requires HTTPS (S-GEN-HTTPS).
    Plain,
    /// HTTPS with a PEM certificate chain and a PEM private key.
    Files {
        /// PEM file with the certificate chain, leaf first.
        cert: PathBuf,
        /// PEM file with the private key (PKCS#8, PKCS#1 or SEC1).
        key: PathBuf,
    },
    /// HTTPS with a certificate made at startup for `localhost`, `127.0.0.1` and `::1`.
    SelfSigned {
        /// Where to write the certificate (PEM). With `None` it stays in memory; read it with
        /// [`crate::Server::certificate_pem`].
        write_to: Option<PathBuf>,
    },
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 8443)),
            base_path: "/connection".to_owned(),
            public_url: None,
            page_size: 50,
            body_limit: 1024 * 1024,
            queue_cap: None,
            tls: Tls::SelfSigned {
                write_to: Some(PathBuf::from(DEFAULT_CERT_PATH)),
            },
            max_connections: 16_384,
            head_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(5),
            #[cfg(feature = "faults")]
            faults: Vec::new(),
        }
    }
}

impl Config {
    /// Checks the values a type cannot; the error says which setting to fix.
    pub(crate) fn validate(&self) -> Result<(), String> {
        validate_base_path(&self.base_path)?;
        if let Some(url) = &self.public_url {
            validate_public_url(url)?;
        }
        if self.page_size == 0 {
            return Err("page size must be at least 1".into());
        }
        if self.body_limit == 0 {
            return Err("body limit must be at least 1 byte".into());
        }
        if self.queue_cap == Some(0) {
            return Err("queue cap must be at least 1 (leave it unset for no cap)".into());
        }
        if self.max_connections == 0 {
            return Err("max connections must be at least 1".into());
        }
        if self.head_timeout < Duration::from_millis(500) {
            return Err("head timeout must be at least 500 ms".into());
        }
        if self.handshake_timeout.is_zero() {
            return Err("handshake timeout must be more than zero".into());
        }
        Ok(())
    }

    /// `scheme://host:port` for the absolute URIs the server returns.
    pub(crate) fn origin(&self, local: SocketAddr) -> String {
        if let Some(url) = &self.public_url {
            return url.trim_end_matches('/').to_owned();
        }
        let scheme = if self.tls == Tls::Plain {
            "http"
        } else {
            "https"
        };
        let ip = local.ip();
        let host = match ip {
            // A wildcard address is not reachable as such: name the loopback of its family.
            std::net::IpAddr::V4(v4) if v4.is_unspecified() => Ipv4Addr::LOCALHOST.to_string(),
            std::net::IpAddr::V6(v6) if v6.is_unspecified() => "[::1]".to_owned(),
            std::net::IpAddr::V4(v4) => v4.to_string(),
            std::net::IpAddr::V6(v6) => format!("[{v6}]"),
        };
        format!("{scheme}://{host}:{}", local.port())
    }
}

/// `/` or `/segment[/segment...]`: no trailing slash, no empty segments, no query or fragment.
fn validate_base_path(path: &str) -> Result<(), String> {
    let hint = "use a path such as /connection";
    if path == "/" {
        return Ok(());
    }
    if !path.starts_with('/') || path.ends_with('/') || path.contains("//") {
        return Err(format!(
            "base path {path:?} must start with / and not end with / ({hint})"
        ));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || "/-._~%!$&'()*+,;=:@".contains(c);
    if !path.chars().all(allowed) {
        return Err(format!(
            "base path {path:?} may only contain URL path characters ({hint})"
        ));
    }
    Ok(())
}

/// `http://` or `https://`, a host, an optional port, nothing else.
fn validate_public_url(url: &str) -> Result<(), String> {
    let hint = "use the form https://example.com or https://example.com:8443";
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| format!("public URL {url:?} must start with https:// ({hint})"))?;
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    let bad = |c: char| c.is_whitespace() || c.is_control() || "/?#@\\".contains(c);
    if authority.is_empty() || authority.chars().any(bad) {
        return Err(format!(
            "public URL {url:?} must be a scheme and host only, without a path: signatures cover the path, so a proxy must forward it unchanged ({hint})"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_documentation() {
        let c = Config::default();
        assert_eq!(c.listen, "127.0.0.1:8443".parse().unwrap());
        assert_eq!(c.base_path, "/connection");
        assert_eq!(c.page_size, 50);
        assert_eq!(c.body_limit, 1 << 20);
        assert_eq!(c.queue_cap, None);
        assert_eq!(c.max_connections, 16_384);
        assert_eq!(c.head_timeout, Duration::from_secs(10));
        assert_eq!(c.handshake_timeout, Duration::from_secs(5));
        assert_eq!(
            c.tls,
            Tls::SelfSigned {
                write_to: Some(PathBuf::from(DEFAULT_CERT_PATH))
            }
        );
        assert!(c.validate().is_ok());
    }

    #[test]
    fn base_paths() {
        for ok in ["/", "/connection", "/a/b", "/edge-v1"] {
            assert!(validate_base_path(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "connection",
            "/connection/",
            "//x",
            "/a b",
            "/a?b",
            "/a#b",
        ] {
            assert!(validate_base_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn public_urls() {
        for ok in [
            "https://example.com",
            "http://127.0.0.1:8080",
            "https://[::1]:8443/",
        ] {
            assert!(validate_public_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "example.com",
            "https://",
            "https://a.com/edge",
            "ftp://a.com",
            "https://a.com?x",
        ] {
            assert!(validate_public_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn origin_from_listen_address_or_public_url() {
        let mut c = Config {
            tls: Tls::Plain,
            ..Config::default()
        };
        assert_eq!(
            c.origin("127.0.0.1:9000".parse().unwrap()),
            "http://127.0.0.1:9000"
        );
        assert_eq!(
            c.origin("0.0.0.0:9000".parse().unwrap()),
            "http://127.0.0.1:9000"
        );
        assert_eq!(c.origin("[::]:9000".parse().unwrap()), "http://[::1]:9000");
        c.tls = Tls::SelfSigned { write_to: None };
        assert_eq!(c.origin("[::1]:1".parse().unwrap()), "https://[::1]:1");
        c.public_url = Some("https://edge.example/".into());
        assert_eq!(
            c.origin("127.0.0.1:1".parse().unwrap()),
            "https://edge.example"
        );
    }
}
