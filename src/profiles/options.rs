//! The options a profile's commands receive: plain data, filled from the command line.

use std::path::PathBuf;
use std::time::Duration;

use crate::client::HttpVersion;

/// The per-request timeout when none is given.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The response body cap when none is given.
pub const DEFAULT_MAX_BODY: usize = 4 << 20;

/// What to test and how to talk to it (every command that talks to a server).
#[derive(Debug, Clone, Default)]
pub struct TargetOptions {
    /// Endpoints of the servers under test; empty: the profile's embedded reference server.
    pub servers: Vec<String>,
    /// Plain `http://`/`ws://` allowed; the HTTPS rule is then waived, never passed.
    pub allow_http: bool,
    /// An extra trusted certificate (PEM file).
    pub ca_cert: Option<PathBuf>,
    /// Accept any TLS certificate.
    pub insecure: bool,
    /// More origins the server's URIs may point to (`--allow-origin`), besides the servers'.
    pub allow_origins: Vec<String>,
    /// The server's page size, when it cannot be discovered from outside.
    pub page_size: Option<u64>,
    /// The server's LARGE_MESSAGE (`simplex-v5`), when it cannot be discovered.
    pub large_message: Option<u64>,
    /// The server's MAX_WEBSOCKET_MESSAGE (`simplex-v5`; default 64 KiB).
    pub max_ws: Option<u64>,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Largest response body kept, in bytes (the rest is counted, not kept).
    pub max_body: usize,
    /// Generate this many fresh keys instead of using the fixture pool.
    pub fresh_keys: Option<usize>,
    /// The server's PreKeysLow limit (`tassis-v2`), when it cannot be discovered.
    pub prekeys_low: Option<u32>,
    /// The server's PreKeysLow check interval (`tassis-v2`).
    pub prekeys_interval: Option<Duration>,
    /// How long to hold a connection idle before checking that others are answered
    /// (`edge-v1`, `simplex-v5`); `None`: those checks are skipped.
    pub idle_wait: Option<Duration>,
    /// The HTTP version of ordinary requests (`--http`).
    pub http: HttpVersion,
}

impl TargetOptions {
    /// The options again as command-line flags (for printed `replay` commands).
    pub fn flags(&self) -> String {
        let mut out = String::new();
        for s in &self.servers {
            out.push_str(&format!(" --server {s}"));
        }
        if self.allow_http {
            out.push_str(" --allow-http");
        }
        if let Some(p) = &self.ca_cert {
            out.push_str(&format!(" --ca-cert {}", p.display()));
        }
        if self.insecure {
            out.push_str(" --insecure");
        }
        for o in &self.allow_origins {
            out.push_str(&format!(" --allow-origin {o}"));
        }
        if let Some(n) = self.page_size {
            out.push_str(&format!(" --page-size {n}"));
        }
        if let Some(n) = self.large_message {
            out.push_str(&format!(" --large-message {n}"));
        }
        if let Some(n) = self.max_ws {
            out.push_str(&format!(" --max-ws {n}"));
        }
        if self.timeout != DEFAULT_TIMEOUT {
            out.push_str(&format!(" --timeout {}", self.timeout.as_secs_f64()));
        }
        if self.max_body != DEFAULT_MAX_BODY {
            out.push_str(&format!(" --max-body {}", self.max_body));
        }
        if let Some(n) = self.prekeys_low {
            out.push_str(&format!(" --prekeys-low {n}"));
        }
        if let Some(d) = self.prekeys_interval {
            out.push_str(&format!(" --prekeys-interval {}ms", d.as_millis()));
        }
        if let Some(d) = self.idle_wait {
            out.push_str(&format!(" --idle-wait {}ms", d.as_millis()));
        }
        // `replay` defaults to `auto`: any other version is named.
        if self.http != HttpVersion::Auto {
            out.push_str(&format!(" --http {}", self.http.name()));
        }
        out
    }
}

/// Options of a generated run.
#[derive(Debug, Clone)]
pub struct PropOptions {
    /// The run's seed: sequence i is drawn from it and i, on whichever worker runs it.
    pub seed: u64,
    /// Sequences to generate in all.
    pub cases: u32,
    /// Longest sequence.
    pub max_steps: usize,
    /// Time budget for the whole run: generation, shrinking and the final re-run.
    pub duration: Option<Duration>,
    /// Where findings are written.
    pub findings: PathBuf,
    /// Workers running sequences at once.
    pub jobs: usize,
}

/// Options of a campaign.
#[derive(Debug, Clone)]
pub struct FuzzOptions {
    /// Seed of worker 0 (worker i uses seed + i; sessions draw from their worker's stream).
    pub seed: u64,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Stop after this many requests.
    pub max_requests: Option<usize>,
    /// Stop once this many distinct findings are known.
    pub max_findings: Option<usize>,
    /// Where findings are written.
    pub findings: PathBuf,
    /// Workers sending at once; `None`: the profile's default (edge-v1: four per core, all
    /// against one server; tassis-v2 and simplex-v5: one per core, each with an embedded
    /// server of its own, and one against `--server`).
    pub jobs: Option<usize>,
    /// Runs of each finding's case for its reproduction rate.
    pub repro: usize,
    /// Steps per session.
    pub session_len: usize,
    /// Time between canary checks.
    pub canary_every: Duration,
    /// Show a progress line.
    pub progress: bool,
    /// Grow the seed corpora of the cargo-fuzz targets into this directory instead of fuzzing.
    pub write_corpus: Option<PathBuf>,
}

impl Default for FuzzOptions {
    fn default() -> Self {
        FuzzOptions {
            seed: 1,
            duration: Some(Duration::from_secs(60)),
            max_requests: None,
            max_findings: None,
            findings: PathBuf::from("edgecheck-findings"),
            jobs: None,
            repro: 3,
            session_len: 40,
            canary_every: Duration::from_secs(2),
            progress: false,
            write_corpus: None,
        }
    }
}

/// Options of `race`: how many actors of each kind, and for how long.
#[derive(Debug, Clone)]
pub struct RaceOptions {
    /// Concurrent senders.
    pub senders: usize,
    /// Concurrent receivers (retrievers).
    pub receivers: usize,
    /// Requests per actor and round.
    pub ops: usize,
    /// Connections (or addresses) the actors share.
    pub connections: usize,
    /// Rotations, disables and enables (or re-registrations) per connection and round.
    pub rotations: usize,
    /// Largest page a receiver asks for.
    pub page: usize,
    /// Rounds to run.
    pub rounds: usize,
    /// Keep running rounds for this long.
    pub duration: Option<Duration>,
    /// Seed of the first round.
    pub seed: u64,
    /// Write the history of the failing (or last) round here.
    pub history: Option<PathBuf>,
}

/// Options of `selftest`.
#[derive(Debug, Clone)]
pub struct SelftestOptions {
    /// Every check against every fault instead of the linked checks only.
    pub full: bool,
    /// Only faults whose name or rule matches one of these globs.
    pub only: Vec<String>,
    /// Also write the matrix as Markdown here.
    pub markdown: Option<PathBuf>,
    /// Checks run at once.
    pub jobs: Option<usize>,
    /// Skip the run against the fault-free server.
    pub no_baseline: bool,
    /// List the faults and exit.
    pub list: bool,
    /// Per-request timeout.
    pub timeout: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_repeat_every_target_option_that_is_not_the_default() {
        let mut o = TargetOptions {
            servers: vec!["https://h/connection".into()],
            timeout: DEFAULT_TIMEOUT,
            max_body: DEFAULT_MAX_BODY,
            ..TargetOptions::default()
        };
        assert_eq!(o.flags(), " --server https://h/connection");
        o.allow_http = true;
        o.ca_cert = Some("ca.pem".into());
        o.insecure = true;
        o.allow_origins = vec!["https://x:1".into()];
        o.page_size = Some(7);
        o.large_message = Some(4096);
        o.max_ws = Some(65536);
        o.timeout = Duration::from_secs(2);
        o.max_body = 100;
        o.http = HttpVersion::Http1;
        assert_eq!(
            o.flags(),
            " --server https://h/connection --allow-http --ca-cert ca.pem --insecure \
             --allow-origin https://x:1 --page-size 7 --large-message 4096 --max-ws 65536 \
             --timeout 2 --max-body 100 --http 1.1"
        );
    }
}
