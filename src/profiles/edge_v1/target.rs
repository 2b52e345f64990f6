//! What is tested: the servers given with `--server`, or the embedded reference server.

use std::time::Duration;

use url::Url;

use crate::profiles::TargetOptions;

/// PAGE_SIZE of the embedded server (small, so paging checks need few messages).
pub const EMBEDDED_PAGE_SIZE: usize = 10;

/// Why a target could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// A usage or configuration error (exit code 2).
    #[error("{0}")]
    Config(String),
    /// The target cannot be reached (exit code 3).
    #[error("{0}")]
    Unreachable(String),
}

/// A resolved target, with the embedded server kept alive while it is in use.
pub struct Target {
    /// Create endpoints.
    pub servers: Vec<Url>,
    /// PAGE_SIZE if known.
    pub page_size: Option<usize>,
    /// Extra trusted certificate (PEM).
    pub ca_pem: Option<Vec<u8>>,
    /// The embedded server, when no `--server` was given.
    pub embedded: Option<edge_reference_server::Server>,
    /// Per-request timeout.
    pub timeout: Duration,
}

impl Target {
    /// Resolve the options: parse URLs, read the CA file, or start the embedded server.
    pub async fn open(args: &TargetOptions) -> Result<Target, TargetError> {
        let timeout = args.timeout;
        let mut ca_pem = match &args.ca_cert {
            Some(p) => Some(std::fs::read(p).map_err(|e| {
                TargetError::Config(format!("cannot read --ca-cert {}: {e}", p.display()))
            })?),
            None => None,
        };
        let page_size = args.page_size.map(|n| n as usize);
        if args.servers.is_empty() {
            let config = edge_reference_server::Config {
                listen: "127.0.0.1:0".parse().expect("literal address"),
                page_size: EMBEDDED_PAGE_SIZE,
                tls: edge_reference_server::Tls::SelfSigned { write_to: None },
                ..edge_reference_server::Config::default()
            };
            let server = edge_reference_server::start(config).await.map_err(|e| {
                TargetError::Unreachable(format!("cannot start the embedded reference server: {e}"))
            })?;
            let ce = Url::parse(&server.create_url())
                .map_err(|e| TargetError::Unreachable(format!("embedded server URL: {e}")))?;
            ca_pem = server.certificate_pem().map(String::into_bytes);
            return Ok(Target {
                servers: vec![ce],
                page_size: Some(page_size.unwrap_or(EMBEDDED_PAGE_SIZE)),
                ca_pem,
                embedded: Some(server),
                timeout,
            });
        }
        let mut servers = Vec::new();
        for s in &args.servers {
            let u = Url::parse(s).map_err(|e| {
                TargetError::Config(format!(
                    "--server {s}: {e}; give the create endpoint as a full URL, e.g. https://host/connection"
                ))
            })?;
            if u.scheme() != "https" && u.scheme() != "http" {
                return Err(TargetError::Config(format!(
                    "--server {s}: the scheme must be https (or http with --allow-http)"
                )));
            }
            if u.host_str().is_none() {
                return Err(TargetError::Config(format!(
                    "--server {s}: the URL has no host"
                )));
            }
            servers.push(u);
        }
        Ok(Target {
            servers,
            page_size,
            ca_pem,
            embedded: None,
            timeout,
        })
    }

    /// A one-line description for reports.
    pub fn describe(&self) -> String {
        let list: Vec<String> = self.servers.iter().map(Url::to_string).collect();
        match &self.embedded {
            Some(_) => format!("{} (embedded reference server)", list.join(", ")),
            None => list.join(", "),
        }
    }

    /// Check that every server accepts TCP connections (exit code 3 otherwise).
    pub async fn check_reachable(&self) -> Result<(), TargetError> {
        for u in &self.servers {
            let host = u
                .host_str()
                .unwrap_or_default()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string();
            let port = u.port_or_known_default().unwrap_or(443);
            let connect = tokio::net::TcpStream::connect((host.as_str(), port));
            match tokio::time::timeout(self.timeout, connect).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    return Err(TargetError::Unreachable(format!(
                        "cannot connect to {u}: {e}; is the server running and the URL right?"
                    )))
                }
                Err(_) => {
                    return Err(TargetError::Unreachable(format!(
                        "connecting to {u} timed out after {:?}",
                        self.timeout
                    )))
                }
            }
        }
        Ok(())
    }

    /// Stop the embedded server, if any.
    pub async fn close(self) {
        if let Some(s) = self.embedded {
            s.shutdown().await;
        }
    }
}
