//! The kill matrix of `tassis-v2`: the checks against reference servers that each break one
//! rule. The servers are started by the caller (`edgecheck selftest --profile tassis-v2`
//! with the `selftest` feature, or the test suite); this module runs the checks and judges.

use std::sync::Arc;

use super::profile::{open_target, TassisSession, TassisSuite};
use crate::profiles::common::run_linked;
use crate::profiles::{Outcome, ProfileError, SelftestOptions, Suite, TargetOptions};

pub use crate::profiles::common::Verdicts;

/// Run the checks selected by `linked_to` (all when `None`) against the server at `url`
/// (plain `ws://` allowed), `jobs` at a time.
pub async fn run_against(
    suite: &TassisSuite,
    url: &str,
    linked_to: Option<&str>,
    jobs: usize,
) -> Result<Verdicts, ProfileError> {
    let opts = TargetOptions {
        servers: vec![url.to_string()],
        allow_http: true,
        timeout: crate::profiles::DEFAULT_TIMEOUT,
        max_body: crate::profiles::DEFAULT_MAX_BODY,
        prekeys_low: Some(super::EMBEDDED_PREKEYS.0),
        prekeys_interval: Some(super::EMBEDDED_PREKEYS.1),
        ..TargetOptions::default()
    };
    let opened = open_target(&opts).await?;
    let session = Arc::new(TassisSession::new(
        opened.env.clone(),
        Arc::new(suite.cases().to_vec()),
    ));
    let verdicts = run_linked(session, suite.checks(), linked_to, jobs).await;
    opened.close().await;
    Ok(verdicts)
}

/// `edgecheck selftest --profile tassis-v2`.
pub fn run(opts: &SelftestOptions) -> Result<Outcome, ProfileError> {
    #[cfg(feature = "selftest")]
    {
        command::run(opts)
    }
    #[cfg(not(feature = "selftest"))]
    {
        let _ = opts;
        Err(crate::profiles::common::selftest_unavailable(super::NAME))
    }
}

#[cfg(feature = "selftest")]
mod command {
    use edge_reference_server::tassis_v2::{faults::Fault, start, TassisConfig};
    use edge_reference_server::Tls;

    use super::*;
    use crate::engine::{cores, runtime};
    use crate::profiles::common::kill_matrix;

    pub fn run(opts: &SelftestOptions) -> Result<Outcome, ProfileError> {
        let faults = Fault::ALL
            .iter()
            .map(|&f| (f, f.name(), f.rule()))
            .collect();
        let suite = TassisSuite::load(None)?;
        let jobs = opts.jobs.unwrap_or(8).max(1);
        runtime(cores()).block_on(kill_matrix(opts, faults, |fault, linked| {
            with_server(&suite, fault, linked, jobs)
        }))
    }

    async fn with_server(
        suite: &TassisSuite,
        fault: Option<Fault>,
        linked: Option<&str>,
        jobs: usize,
    ) -> Result<Verdicts, ProfileError> {
        let server = start(TassisConfig {
            listen: "127.0.0.1:0".parse().expect("literal address"),
            tls: Tls::Plain,
            prekeys_low: super::super::EMBEDDED_PREKEYS.0,
            prekeys_interval: super::super::EMBEDDED_PREKEYS.1,
            faults: fault.into_iter().collect(),
            ..TassisConfig::default()
        })
        .await
        .map_err(|e| ProfileError::Internal(format!("cannot start the reference server: {e}")))?;
        let url = server.url();
        let v = run_against(suite, &url, linked, jobs).await;
        server.shutdown().await;
        v
    }
}
