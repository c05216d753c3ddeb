//! `pressroom`: a thin entry point; the commands live in `generator::cli`.

use std::process::ExitCode;

use clap::Parser;

/// A build renders tens of thousands of pages on every core, each made of many small strings
/// and JSON values: glibc's malloc and free were a quarter of its profile, which mimalloc's
/// per-thread heaps cut (see the README's benchmarks).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    match generator::cli::run(generator::cli::Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{error:#}");
            ExitCode::FAILURE
        }
    }
}
