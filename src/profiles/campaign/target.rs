//! The target of one campaign worker: the embedded reference server (restarted after a
//! crash, and before each re-run of a crash) or `--server` (which nothing can restart).

use std::future::Future;

use super::Report;
use crate::profiles::{ProfileError, TargetOptions};

/// A profile's opened target, as a campaign opens, restarts and closes it.
pub trait Opens: Sized + Send {
    /// What the profile's runner needs to talk to it.
    type Env: Clone;

    /// Start the embedded server (no `--server`), or check `--server`.
    fn open(opts: &TargetOptions) -> impl Future<Output = Result<Self, ProfileError>> + Send;

    /// What the runner needs.
    fn env(&self) -> &Self::Env;

    /// Its URL, and whether it is the embedded server, for the banner.
    fn describe(&self) -> String;

    /// Stop the embedded server, if any.
    fn close(self) -> impl Future<Output = ()> + Send;
}

/// The server a worker fuzzes.
pub struct Target<O> {
    opts: TargetOptions,
    opened: Option<O>,
    /// Restarts of the embedded server so far.
    pub restarts: usize,
}

impl<O: Opens> Target<O> {
    /// Start the embedded server, or check `--server`.
    pub async fn open(opts: &TargetOptions) -> Result<Target<O>, ProfileError> {
        Ok(Target {
            opts: opts.clone(),
            opened: Some(O::open(opts).await?),
            restarts: 0,
        })
    }

    /// What the runner needs to talk to it (`None` once a restart failed).
    pub fn env(&self) -> Option<O::Env> {
        self.opened.as_ref().map(|o| o.env().clone())
    }

    /// Whether this is the embedded server, which can be restarted.
    pub fn embedded(&self) -> bool {
        self.opts.servers.is_empty()
    }

    /// A description for the banner.
    pub fn describe(&self) -> String {
        self.opened
            .as_ref()
            .map_or_else(|| "(closed)".into(), O::describe)
    }

    /// A fresh embedded server in place of the old one, after a crash or for a clean
    /// re-run. `false` when the campaign cannot go on: a `--server` (which nothing can
    /// restart: `report` then says the target is gone), or a server that would not start
    /// (noted in `report` as the suite's problem).
    pub async fn restart<C, F>(&mut self, report: &mut Report<C, F>) -> bool {
        if !self.embedded() {
            report.target_gone = true;
            return false;
        }
        if let Some(o) = self.opened.take() {
            o.close().await;
        }
        match O::open(&self.opts).await {
            Ok(o) => {
                self.opened = Some(o);
                self.restarts += 1;
                true
            }
            Err(e) => {
                report.note_error(format!("cannot restart the embedded server: {e}"));
                false
            }
        }
    }

    /// Stop the embedded server, if any.
    pub async fn close(mut self) {
        if let Some(o) = self.opened.take() {
            o.close().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Opens that count, and fail from the `fail_from`-th open on.
    struct Counted(usize);

    static OPENS: AtomicUsize = AtomicUsize::new(0);
    static CLOSES: AtomicUsize = AtomicUsize::new(0);
    const FAIL_FROM: usize = 3;

    impl Opens for Counted {
        type Env = usize;

        async fn open(_: &TargetOptions) -> Result<Counted, ProfileError> {
            let n = OPENS.fetch_add(1, Ordering::SeqCst);
            if n >= FAIL_FROM {
                Err(ProfileError::Unreachable("port taken".into()))
            } else {
                Ok(Counted(n))
            }
        }

        fn env(&self) -> &usize {
            &self.0
        }

        fn describe(&self) -> String {
            format!("server {}", self.0)
        }

        async fn close(self) {
            CLOSES.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[tokio::test]
    async fn the_embedded_server_restarts_until_it_cannot_and_a_given_one_never() {
        let mut report: Report<usize, ()> = Report::default();
        let mut t: Target<Counted> = Target::open(&TargetOptions::default()).await.unwrap();
        assert_eq!((t.env(), t.describe()), (Some(0), "server 0".into()));
        assert!(t.restart(&mut report).await);
        assert!(t.restart(&mut report).await);
        assert_eq!((t.env(), t.restarts), (Some(2), 2));
        // The fourth open fails: the campaign cannot go on, and the suite says why.
        assert!(!t.restart(&mut report).await);
        assert_eq!((t.env(), t.describe()), (None, "(closed)".into()));
        assert!(!report.target_gone);
        assert!(report.errors[0].contains("cannot restart the embedded server: "));
        assert!(report.errors[0].contains("port taken"));
        t.close().await;
        assert_eq!(CLOSES.load(Ordering::SeqCst), 3);

        // A --server target is not restarted: it is gone.
        let given = TargetOptions {
            servers: vec!["https://127.0.0.1:9/connection".into()],
            ..TargetOptions::default()
        };
        let mut t: Target<Counted> = Target {
            opts: given,
            opened: None,
            restarts: 0,
        };
        let opens = OPENS.load(Ordering::SeqCst);
        assert!(!t.restart(&mut report).await);
        assert!(report.target_gone);
        assert_eq!(OPENS.load(Ordering::SeqCst), opens);
    }
}
