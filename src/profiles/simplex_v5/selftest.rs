//! The kill matrix of `simplex-v5`: the checks against reference servers that each break one
//! rule. The servers are started by the caller (`edgecheck selftest --profile simplex-v5`
//! with the `selftest` feature, or the test suite); this module runs the checks and judges.

use std::sync::Arc;
use std::time::Duration;

use super::profile::{open_target, SimplexSession, SimplexSuite};
use crate::profiles::common::run_linked;
use crate::profiles::{Outcome, ProfileError, SelftestOptions, Suite, TargetOptions};

pub use crate::profiles::common::Verdicts;

/// Run the checks selected by `linked_to` (all when `None`) against the server whose create
/// endpoint is `url` (plain `http://` allowed), `jobs` at a time. `page_size` and
/// `large_message` are the server's configuration; `idle_wait` is `--idle-wait` (longer
/// than the server's head timeout), without which the idle checks are skipped.
pub async fn run_against(
    suite: &SimplexSuite,
    url: &str,
    page_size: usize,
    large_message: usize,
    idle_wait: Option<Duration>,
    linked_to: Option<&str>,
    jobs: usize,
) -> Result<Verdicts, ProfileError> {
    let opts = TargetOptions {
        servers: vec![url.to_string()],
        allow_http: true,
        timeout: crate::profiles::DEFAULT_TIMEOUT,
        max_body: crate::profiles::DEFAULT_MAX_BODY,
        page_size: Some(page_size as u64),
        large_message: Some(large_message as u64),
        idle_wait,
        ..TargetOptions::default()
    };
    let opened = open_target(&opts).await?;
    let session = Arc::new(SimplexSession::new(
        opened.env.clone(),
        Arc::new(suite.cases().to_vec()),
    ));
    let verdicts = run_linked(session, suite.checks(), linked_to, jobs).await;
    opened.close().await;
    Ok(verdicts)
}

/// `edgecheck selftest --profile simplex-v5`.
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
    use edge_reference_server::simplex_v5::{faults::Fault, start, SimplexConfig};
    use edge_reference_server::Tls;

    use super::*;
    use crate::engine::{cores, runtime};
    use crate::profiles::common::kill_matrix;
    use crate::profiles::edge_v1::selftest::{is_idle_fault, IDLE_HEAD_TIMEOUT, IDLE_WAIT};
    use crate::profiles::simplex_v5::{EMBEDDED_LARGE_MESSAGE, EMBEDDED_PAGE_SIZE};

    pub fn run(opts: &SelftestOptions) -> Result<Outcome, ProfileError> {
        let faults = Fault::ALL
            .iter()
            .map(|&f| (f, f.name(), f.rule()))
            .collect();
        let suite = SimplexSuite::load(None)?;
        let jobs = opts.jobs.unwrap_or(8).max(1);
        runtime(cores()).block_on(kill_matrix(opts, faults, |fault, linked| {
            with_server(&suite, fault, linked, jobs)
        }))
    }

    async fn with_server(
        suite: &SimplexSuite,
        fault: Option<Fault>,
        linked: Option<&str>,
        jobs: usize,
    ) -> Result<Verdicts, ProfileError> {
        // Idle connections matter only to these faults: the other faults keep the usual
        // deadline. The fault-free server gets the short one too, so that the idle checks run
        // on it.
        let idle = fault.is_none_or(|f| is_idle_fault(f.name()));
        let server = start(SimplexConfig {
            listen: "127.0.0.1:0".parse().expect("literal address"),
            tls: Tls::Plain,
            page_size: EMBEDDED_PAGE_SIZE,
            large_message: EMBEDDED_LARGE_MESSAGE,
            faults: fault.into_iter().collect(),
            head_timeout: if idle {
                IDLE_HEAD_TIMEOUT
            } else {
                SimplexConfig::default().head_timeout
            },
            ..SimplexConfig::default()
        })
        .await
        .map_err(|e| ProfileError::Internal(format!("cannot start the reference server: {e}")))?;
        let url = server.create_url();
        let v = run_against(
            suite,
            &url,
            EMBEDDED_PAGE_SIZE,
            EMBEDDED_LARGE_MESSAGE,
            idle.then_some(IDLE_WAIT),
            linked,
            jobs,
        )
        .await;
        server.shutdown().await;
        v
    }
}
