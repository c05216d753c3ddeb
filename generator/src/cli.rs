//! The `pressroom` command line. Each subcommand is one enum variant and one match arm that
//! delegates to a library function, so adding `serve`, `deploy`, … is a two-line change.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::site::BuildOptions;

/// Pressroom: briefing transcripts in markdown → a fast, multilingual static site.
#[derive(Debug, Parser)]
#[command(name = "pressroom", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build the site into ROOT/public (or --out), replacing it only if the build succeeds.
    Build(BuildArgs),
    /// Report content errors, missing translations and untranslated transcripts, without publishing.
    Check(SiteArgs),
    /// Generate a synthetic corpus and time cold builds, rebuilds and search indexing.
    Bench(crate::bench::BenchArgs),
    /// Build, serve on 127.0.0.1 with working accounts, rebuild and reload on changes.
    Serve(crate::serve::ServeArgs),
    /// Publish the built site to S3/CloudFront, and the videos and their catalog to the media bucket.
    Deploy(crate::deploy::DeployArgs),
    /// The download log (who downloaded what, when) for the press office.
    #[command(subcommand)]
    Downloads(crate::downloads::DownloadsCommand),
}

/// Where the site is.
#[derive(Debug, Clone, Args)]
pub struct SiteArgs {
    /// Site root: the folder holding pressroom.toml.
    #[arg(long, default_value = ".", env = "PRESSROOM_ROOT")]
    pub root: PathBuf,
    /// Include transcripts marked `draft = true`.
    #[arg(long)]
    pub drafts: bool,
}

/// `pressroom build`.
#[derive(Debug, Clone, Args)]
pub struct BuildArgs {
    #[command(flatten)]
    pub site: SiteArgs,
    /// Output folder (default: ROOT/public).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

impl SiteArgs {
    /// Build options for this site.
    pub fn options(&self) -> BuildOptions {
        BuildOptions {
            root: self.root.clone(),
            out: None,
            drafts: self.drafts,
            progress: true,
        }
    }
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Build(args) => {
            let mut options = args.site.options();
            options.out = args.out;
            let report = crate::site::build(&options)?;
            print_report(format_args!("{report}\n"))?;
        }
        Command::Bench(args) => crate::bench::main(&args)?,
        Command::Serve(args) => crate::serve::main(&args)?,
        Command::Deploy(args) => {
            print_report(format_args!("{}\n", crate::deploy::run_blocking(&args)?))?
        }
        Command::Downloads(command) => {
            let rows = crate::downloads::run(&command)?;
            eprintln!("{rows} downloads exported");
        }
        Command::Check(args) => {
            let report = crate::check::check(&args.options())?;
            print_report(format_args!("{report}"))?;
        }
    }
    Ok(())
}

/// Writes a command's report to stdout. A reader that stops early (`pressroom check | head`)
/// has all it wants: that is not an error, where `print!` would panic.
fn print_report(report: std::fmt::Arguments) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_fmt(report).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        result => result,
    }
}
