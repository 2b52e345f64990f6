//! The `edgecheck` command.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = edgecheck::cli::Cli::parse();
    let code = edgecheck::cli::main(cli);
    ExitCode::from(code as u8)
}
