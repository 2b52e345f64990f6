//! Configuration of the `tassis-v2` server.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::edge_v1::config::{Tls, DEFAULT_CERT_PATH};

/// The default upload-authorization base URL: a reserved name, since the server stores no
/// uploads.
pub const DEFAULT_UPLOAD_BASE: &str = "https://uploads.invalid/";

/// How a `tassis-v2` server is configured. [`TassisConfig::default`] gives the documented
/// defaults (those the binary uses).
#[derive(Debug, Clone)]
pub struct TassisConfig {
    /// Address to listen on; port 0 picks a free port. Default `127.0.0.1:8443`.
    pub listen: SocketAddr,
    /// Transport security (`wss://` unless [`Tls::Plain`]). Default: a self-signed
    /// certificate written to [`DEFAULT_CERT_PATH`].
    pub tls: Tls,
    /// `Configuration.maxAttachmentSize` and the `maxUploadSize` of upload authorizations, in
    /// bytes. Default 5 000 000.
    pub max_attachment_size: i64,
    /// PreKeysLow limit: a registered device with fewer one-time prekeys than this is asked
    /// for more. Default 3.
    pub prekeys_low: u32,
    /// `PreKeysLow.keysRequested`. Default 4.
    pub prekeys_request: u32,
    /// How often an authenticated connection checks its device's one-time prekeys. Default
    /// 200 ms.
    pub prekeys_interval: Duration,
    /// Absolute `http(s)://` URL under which upload and download URLs are made. Default
    /// [`DEFAULT_UPLOAD_BASE`].
    pub upload_base: String,
    /// A connection that sends no data frame for this long is closed (pings do not count).
    /// Default 60 s.
    pub idle_timeout: Duration,
    /// Time for the TLS handshake and the HTTP upgrade request. Default 5 s.
    pub handshake_timeout: Duration,
    /// Most connections open at once; further ones are closed at once. Lowered to fit the
    /// open-file limit (`ulimit -n`, less 64) where that is known. Default 4096.
    pub max_connections: usize,
    /// Deliberate deviations from the binding, for testing test suites.
    #[cfg(feature = "faults")]
    pub faults: Vec<crate::tassis_v2::faults::Fault>,
}

impl Default for TassisConfig {
    fn default() -> Self {
        TassisConfig {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 8443)),
            tls: Tls::SelfSigned {
                write_to: Some(PathBuf::from(DEFAULT_CERT_PATH)),
            },
            max_attachment_size: 5_000_000,
            prekeys_low: 3,
            prekeys_request: 4,
            prekeys_interval: Duration::from_millis(200),
            upload_base: DEFAULT_UPLOAD_BASE.to_owned(),
            idle_timeout: Duration::from_secs(60),
            handshake_timeout: Duration::from_secs(5),
            max_connections: 4096,
            #[cfg(feature = "faults")]
            faults: Vec::new(),
        }
    }
}

impl TassisConfig {
    /// Checks the values a type cannot; the error says which setting to fix.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.max_attachment_size < 1 {
            return Err("max attachment size must be at least 1 byte".into());
        }
        if self.prekeys_request < 1 {
            return Err("prekeys request (keysRequested) must be at least 1".into());
        }
        if self.prekeys_interval < Duration::from_millis(10) {
            return Err("prekeys interval must be at least 10 ms".into());
        }
        if self.idle_timeout < Duration::from_millis(100) {
            return Err("idle timeout must be at least 100 ms".into());
        }
        if self.handshake_timeout.is_zero() {
            return Err("handshake timeout must be more than zero".into());
        }
        if self.max_connections == 0 {
            return Err("max connections must be at least 1".into());
        }
        validate_upload_base(&self.upload_base)
    }

    /// The upload base with exactly one trailing slash.
    pub(crate) fn upload_base(&self) -> String {
        format!("{}/", self.upload_base.trim_end_matches('/'))
    }
}

/// `http://` or `https://`, a host, optionally a path; no query, fragment or whitespace.
fn validate_upload_base(url: &str) -> Result<(), String> {
    let hint = "use an absolute URL such as https://uploads.example.com/bucket/";
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| {
            format!("upload base {url:?} must start with https:// or http:// ({hint})")
        })?;
    let host = rest.split('/').next().unwrap_or("");
    let bad = |c: char| c.is_whitespace() || c.is_control() || "?#\\".contains(c);
    if host.is_empty() || host.contains('@') || rest.chars().any(bad) {
        return Err(format!(
            "upload base {url:?} must name a host and may have a path, without userinfo, query or fragment ({hint})"
        ));
    }
    Ok(())
}

/// Parses a duration given as milliseconds (`200`) or with a unit (`200ms`, `1.5s`, `2m`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().map_err(|_| {
        format!(
            "{text:?} is not a duration; write milliseconds (200) or use a unit: 200ms, 1.5s, 2m"
        )
    })?;
    let millis = match unit.trim() {
        "" | "ms" => value,
        "s" => value * 1000.0,
        "m" | "min" => value * 60_000.0,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {text:?}; use ms, s or m (a bare number is milliseconds)"
            ))
        }
    };
    if !millis.is_finite() || !(0.0..=86_400_000.0).contains(&millis) {
        return Err(format!("{text:?} is out of range; use at most 24 hours"));
    }
    Ok(Duration::from_secs_f64(millis / 1000.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_documentation() {
        let c = TassisConfig::default();
        assert_eq!(c.listen, "127.0.0.1:8443".parse().unwrap());
        assert_eq!(c.max_attachment_size, 5_000_000);
        assert_eq!((c.prekeys_low, c.prekeys_request), (3, 4));
        assert_eq!(c.prekeys_interval, Duration::from_millis(200));
        assert_eq!(c.upload_base, DEFAULT_UPLOAD_BASE);
        assert_eq!(c.idle_timeout, Duration::from_secs(60));
        assert!(c.validate().is_ok());
    }

    #[test]
    fn upload_bases() {
        for ok in [
            "https://uploads.invalid/",
            "http://127.0.0.1:9000",
            "https://s3.example.com/bucket/prefix",
        ] {
            assert!(validate_upload_base(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "uploads.example.com",
            "https://",
            "https:///x",
            "ftp://a",
            "https://a/b?c",
            "https://u@a/",
        ] {
            assert!(validate_upload_base(bad).is_err(), "{bad}");
        }
        let c = TassisConfig {
            upload_base: "https://a/b".into(),
            ..TassisConfig::default()
        };
        assert_eq!(c.upload_base(), "https://a/b/");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("200"), Ok(Duration::from_millis(200)));
        assert_eq!(parse_duration("200ms"), Ok(Duration::from_millis(200)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        for bad in ["", "x", "5h", "-1", "1e99"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
