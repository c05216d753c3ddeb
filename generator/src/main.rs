//! `pressroom`: a thin entry point; the commands live in `generator::cli`.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    match generator::cli::run(generator::cli::Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{error:#}");
            ExitCode::FAILURE
        }
    }
}
