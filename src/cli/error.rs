//! The one error type of the command line: a message for the user and the exit code it means.

use std::fmt;

use crate::profiles::ProfileError;

/// Exit code: every required check passed.
pub const EXIT_OK: i32 = 0;
/// Exit code: the server broke a rule (or a generator found something).
pub const EXIT_FAIL: i32 = 1;
/// Exit code: usage or configuration error (also: no check ran).
pub const EXIT_USAGE: i32 = 2;
/// Exit code: the target cannot be reached or trusted.
pub const EXIT_UNREACHABLE: i32 = 3;
/// Exit code: internal error of edgecheck.
pub const EXIT_INTERNAL: i32 = 4;

/// A command that could not do its work: what to tell the user, and the exit code.
#[derive(Debug)]
pub struct CliError {
    /// The exit code.
    pub code: i32,
    /// Lines for standard error (each printed as `edgecheck: LINE`).
    pub lines: Vec<String>,
}

impl CliError {
    /// A usage or configuration error (exit 2).
    pub fn usage(message: impl fmt::Display) -> CliError {
        CliError::with(EXIT_USAGE, message)
    }

    /// The target cannot be reached or trusted (exit 3).
    pub fn unreachable(message: impl fmt::Display) -> CliError {
        CliError::with(EXIT_UNREACHABLE, message)
    }

    /// A defect of edgecheck (exit 4).
    pub fn internal(message: impl fmt::Display) -> CliError {
        CliError::with(EXIT_INTERNAL, message)
    }

    /// An error with this exit code.
    pub fn with(code: i32, message: impl fmt::Display) -> CliError {
        CliError {
            code,
            lines: vec![message.to_string()],
        }
    }

    /// Print the message to standard error (control characters escaped: a message may quote
    /// the server) and return the exit code.
    pub fn report(&self) -> i32 {
        for l in &self.lines {
            let l = crate::report::escape::controls(l, crate::report::escape::Breaks::Escape);
            eprintln!("edgecheck: {l}");
        }
        self.code
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.lines.join("\n"))
    }
}

impl std::error::Error for CliError {}

impl From<ProfileError> for CliError {
    fn from(e: ProfileError) -> CliError {
        let code = match e {
            ProfileError::Usage(_) => EXIT_USAGE,
            ProfileError::Unreachable(_) => EXIT_UNREACHABLE,
            ProfileError::Internal(_) => EXIT_INTERNAL,
        };
        CliError::with(code, e.to_string())
    }
}
