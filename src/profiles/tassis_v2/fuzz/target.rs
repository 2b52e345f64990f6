//! The opened target as a campaign restarts it ([`crate::profiles::campaign::Target`]).

use crate::profiles::campaign::Opens;
use crate::profiles::tassis_v2::runner::Env;
use crate::profiles::tassis_v2::{open_target, Opened};
use crate::profiles::{ProfileError, TargetOptions};

impl Opens for Opened {
    type Env = Env;

    async fn open(opts: &TargetOptions) -> Result<Opened, ProfileError> {
        open_target(opts).await
    }

    fn env(&self) -> &Env {
        &self.env
    }

    fn describe(&self) -> String {
        Opened::describe(self)
    }

    async fn close(self) {
        Opened::close(self).await
    }
}

/// The server a worker fuzzes.
pub type Target = crate::profiles::campaign::Target<Opened>;
