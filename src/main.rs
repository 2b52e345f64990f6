//! The `edgecheck` command.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc: both sides of every request (the suite and its embedded server) allocate and free
/// per request, often across threads; glibc's allocator cost about a tenth of `fuzz`'s CPU.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cwd = std::env::current_dir().unwrap_or_else(|_| ".".into());
    // Options from edgecheck.toml come first; the command line's own flags win.
    let argv = match edgecheck::cli::args_with_config(argv, &cwd) {
        Ok(argv) => argv,
        Err(e) => return ExitCode::from(edgecheck::cli::CliError::from(e).report() as u8),
    };
    let cli = edgecheck::cli::Cli::parse_from(argv);
    let code = edgecheck::cli::main(cli);
    ExitCode::from(code as u8)
}
