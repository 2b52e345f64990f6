//! The target of a campaign: the embedded reference server (restarted after a crash) or
//! `--server` (which nothing can restart).

use crate::profiles::tassis_v2::runner::Env;
use crate::profiles::tassis_v2::{open_target, Opened};
use crate::profiles::{ProfileError, TargetOptions};

/// The server being fuzzed.
pub struct Target {
    opts: TargetOptions,
    opened: Option<Opened>,
    /// Restarts of the embedded server so far.
    pub restarts: usize,
}

impl Target {
    /// Start the embedded server, or check `--server`.
    pub async fn open(opts: &TargetOptions) -> Result<Target, ProfileError> {
        let opened = open_target(opts).await?;
        Ok(Target {
            opts: opts.clone(),
            opened: Some(opened),
            restarts: 0,
        })
    }

    /// What the runner needs to talk to it.
    pub fn env(&self) -> Option<&Env> {
        self.opened.as_ref().map(|o| &o.env)
    }

    /// Whether this is the embedded server (which can be restarted).
    pub fn embedded(&self) -> bool {
        self.opts.servers.is_empty()
    }

    /// A description for the banner.
    pub fn describe(&self) -> String {
        match &self.opened {
            Some(o) if o.embedded.is_some() => format!("{} (embedded reference server)", o.url),
            Some(o) => o.url.to_string(),
            None => "(closed)".into(),
        }
    }

    /// Start a fresh embedded server in place of the old one (after a crash, or for a clean
    /// reproduction). `--server` targets cannot be restarted.
    pub async fn restart(&mut self) -> Result<(), ProfileError> {
        if !self.embedded() {
            return Err(ProfileError::Unreachable(
                "the server given with --server stopped serving; restart it and run fuzz again"
                    .into(),
            ));
        }
        if let Some(o) = self.opened.take() {
            o.close().await;
        }
        self.opened = Some(open_target(&self.opts).await?);
        self.restarts += 1;
        Ok(())
    }

    /// Stop the embedded server, if any.
    pub async fn close(mut self) {
        if let Some(o) = self.opened.take() {
            o.close().await;
        }
    }
}
