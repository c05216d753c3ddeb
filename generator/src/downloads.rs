//! `pressroom downloads export --csv`: the download log (who downloaded which video part, when)
//! for the press office, from the local server's store or from the production DynamoDB table.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use functions::ports::Store;

/// `pressroom downloads …`.
#[derive(Debug, Subcommand)]
pub enum DownloadsCommand {
    /// Write the download log as CSV (`at,email,video,part`, oldest first) on standard output.
    Export(ExportArgs),
}

/// `pressroom downloads export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write CSV (the only format for now; required so a later format is never a surprise).
    #[arg(long, required = true)]
    pub csv: bool,
    /// Only downloads on or after this day (YYYY-MM-DD, UTC).
    #[arg(long)]
    pub since: Option<chrono::NaiveDate>,
    /// The local server's state folder (ignored with --table).
    #[arg(long, default_value = ".pressroom")]
    pub state: PathBuf,
    /// Read the production DynamoDB table instead (credentials from the usual AWS chain).
    #[arg(long)]
    pub table: Option<String>,
    /// AWS endpoint override, for an AWS-compatible test server.
    #[arg(long, requires = "table")]
    pub endpoint_url: Option<String>,
}

/// Runs `pressroom downloads …`; returns how many rows were written.
pub fn run(command: &DownloadsCommand) -> anyhow::Result<usize> {
    let DownloadsCommand::Export(args) = command;
    let since = args
        .since
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let store: Box<dyn Store> = match &args.table {
            Some(table) => {
                let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
                if let Some(url) = &args.endpoint_url {
                    loader = loader.endpoint_url(url);
                }
                let sdk = loader.load().await;
                Box::new(functions::store::dynamo::DynamoStore::new(
                    aws_sdk_dynamodb::Client::new(&sdk),
                    table,
                ))
            }
            None => {
                let db = args.state.join(functions::local::DATABASE_FILE);
                if !db.is_file() {
                    bail!(
                        "no download log at {}: run `pressroom serve` first, or pass --state with \
                         the folder it used, or --table for production",
                        db.display()
                    );
                }
                Box::new(functions::local::open_store(&args.state)?)
            }
        };
        let mut out = std::io::stdout().lock();
        Ok(functions::export::downloads_csv(store.as_ref(), since, &mut out).await?)
    })
}
