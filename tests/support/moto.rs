//! A real AWS-API server on loopback for the adapter tests: `moto_server` (the `moto[server]`
//! Python package, installed by `tests/setup`), started through `support/moto_serial.py` so
//! that it answers one request at a time, as DynamoDB applies each conditional write atomically.
//!
//! Every [`Moto`] is its own server process on `127.0.0.1`, on a port the OS picks (`-p 0`; the
//! port is read back from the server's banner), so tests never share state and never collide.
//! The process is killed when the value drops. If `moto_server` is missing the harness panics
//! with the command that installs it: a test that needs AWS never skips silently.
//!
//! [`Moto::provision`] creates what production has: the single DynamoDB table (with TTL on
//! [`functions::contract::table::TTL_ATTRIBUTE`]), a verified SES sender and the media bucket
//! holding the videos and the published catalog.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TimeToLiveSpecification,
};
use functions::contract;
use functions::ports::{CatalogPart, CatalogVideo, VideoCatalog};
use serde::Deserialize;

/// Environment variable naming another `moto_server` executable, run instead of
/// [`SERIAL_LAUNCHER`] (whose requests are serialised; a plain `moto_server` may race on
/// conditional writes under load).
pub const MOTO_SERVER_ENV: &str = "PRESSROOM_MOTO_SERVER";
/// `moto_server` with one request at a time, as DynamoDB applies each conditional write
/// atomically (see the script's docstring); run with `python3`.
const SERIAL_LAUNCHER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/support/moto_serial.py");
/// How long a cold `moto_server` may take to print its banner (it imports every AWS service).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running `moto_server`, killed on drop.
pub struct Moto {
    child: Child,
    endpoint: String,
}

/// The AWS resources [`Moto::provision`] created, named as the Lambdas' environment would.
#[derive(Debug, Clone)]
pub struct Provisioned {
    pub table: String,
    pub bucket: String,
    /// Verified SES sender, `Name <address>`.
    pub sender: String,
    pub reply_to: String,
    pub configuration_set: String,
    /// `(file, bytes)` of every video uploaded under `contract::catalog::MEDIA_PREFIX`, `file`
    /// as the catalog names it.
    pub videos: Vec<(String, Vec<u8>)>,
}

/// One message SES accepted, as moto recorded it.
#[derive(Debug, Clone)]
pub struct SentEmail {
    pub source: String,
    pub destinations: Vec<String>,
    /// Subject for simple messages; for raw messages, the `Subject:` header as sent.
    pub subject: String,
    /// The HTML body of a simple message (moto drops the text part when both are sent), or the
    /// whole raw MIME message.
    pub body: String,
    /// Whether the message was sent as raw MIME.
    pub raw: bool,
}

impl SentEmail {
    /// The emailed code: the first run of exactly six ASCII digits standing alone (not part of
    /// a longer number or word, and not a `#003366` colour in the HTML).
    pub fn code(&self) -> Option<String> {
        let bytes = self.body.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i].is_ascii_digit() {
                let start = i;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
                let before = start.checked_sub(1).map(|j| bytes[j]);
                let after = bytes.get(i).copied();
                let standalone = !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == b'#')
                    && !after.is_some_and(|c| c.is_ascii_alphanumeric());
                if i - start == 6 && standalone {
                    return Some(self.body[start..i].to_owned());
                }
            } else {
                i += 1;
            }
        }
        None
    }
}

impl Moto {
    /// Starts a fresh server on a free loopback port and waits until it answers.
    ///
    /// Panics with an actionable message if `moto_server` is not installed or does not start.
    pub fn start() -> Moto {
        match Self::try_start() {
            Ok(moto) => moto,
            Err(err) => panic!(
                "could not start the AWS-API test server: {err:#}\n\
                 the AWS adapter tests need `moto_server`: install it with \
                 `python3 -m pip install 'moto[server]'` (./tests/setup does), or point \
                 {MOTO_SERVER_ENV} at the executable"
            ),
        }
    }

    fn try_start() -> anyhow::Result<Moto> {
        let (program, mut args) = match std::env::var(MOTO_SERVER_ENV) {
            Ok(program) => (program, Vec::new()),
            Err(_) => ("python3".to_owned(), vec![SERIAL_LAUNCHER.to_owned()]),
        };
        args.extend(["-H", "127.0.0.1", "-p", "0"].map(str::to_owned));
        let mut child = Command::new(&program)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("running `{program}`"))?;
        let stderr = child.stderr.take().context("moto_server stderr")?;
        // Werkzeug prints ` * Running on http://127.0.0.1:PORT` on stderr, then one line per
        // request: keep draining the pipe for the life of the server so it never blocks on it.
        let (tx, rx) = mpsc::channel::<Result<u16, String>>();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            let mut seen = Vec::new();
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(tx_ref) = &tx {
                    if let Some(port) = banner_port(&line) {
                        let _ = tx_ref.send(Ok(port));
                        tx = None;
                    } else if seen.len() < 40 {
                        seen.push(line);
                    }
                }
            }
            if let Some(tx) = tx {
                let _ = tx.send(Err(seen.join("\n")));
            }
        });
        let mut moto = Moto {
            child,
            endpoint: String::new(),
        };
        let port = match rx.recv_timeout(START_TIMEOUT) {
            Ok(Ok(port)) => port,
            Ok(Err(output)) => bail!("moto_server exited before listening; it printed:\n{output}"),
            Err(_) => bail!("moto_server printed no address within {START_TIMEOUT:?}"),
        };
        moto.endpoint = format!("http://127.0.0.1:{port}");
        moto.wait_until_answering()?;
        Ok(moto)
    }

    fn wait_until_answering(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let addr = self.endpoint.trim_start_matches("http://").to_owned();
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("moto_server exited with {status}");
            }
            if std::net::TcpStream::connect(&addr).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("moto_server at {addr} does not accept connections");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// SDK configuration pointing every service at this server: static test credentials,
    /// region `us-east-1`. (S3 additionally needs path-style addressing: [`Moto::s3_config`].)
    pub async fn sdk_config(&self) -> SdkConfig {
        let credentials =
            aws_sdk_dynamodb::config::Credentials::new("testing", "testing", None, None, "moto");
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .credentials_provider(credentials)
            .load()
            .await
    }

    /// S3 client configuration for this server: path-style, as a bucket name cannot resolve
    /// as a subdomain of `127.0.0.1`.
    pub fn s3_config(sdk: &SdkConfig) -> aws_sdk_s3::Config {
        aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(true)
            .build()
    }

    /// Creates the table (TTL on), the verified sender, the configuration set and the media
    /// bucket with two videos and the catalog listing them.
    pub async fn provision(&self, sdk: &SdkConfig) -> anyhow::Result<Provisioned> {
        let table = "pressroom-test".to_owned();
        let dynamo = aws_sdk_dynamodb::Client::new(sdk);
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
        };
        let attribute = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
        };
        dynamo
            .create_table()
            .table_name(&table)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key(contract::table::PARTITION_KEY, KeyType::Hash)?)
            .key_schema(key(contract::table::SORT_KEY, KeyType::Range)?)
            .attribute_definitions(attribute(contract::table::PARTITION_KEY)?)
            .attribute_definitions(attribute(contract::table::SORT_KEY)?)
            .send()
            .await
            .context("creating the table")?;
        dynamo
            .update_time_to_live()
            .table_name(&table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name(contract::table::TTL_ATTRIBUTE)
                    .build()?,
            )
            .send()
            .await
            .context("enabling TTL")?;

        let ses = aws_sdk_sesv2::Client::new(sdk);
        let address = "press@example.org";
        ses.create_email_identity()
            .email_identity(address)
            .send()
            .await
            .context("verifying the sender identity")?;
        let configuration_set = "pressroom-test".to_owned();
        ses.create_configuration_set()
            .configuration_set_name(&configuration_set)
            .send()
            .await
            .context("creating the SES configuration set")?;

        let bucket = "pressroom-media-test".to_owned();
        let s3 = aws_sdk_s3::Client::from_conf(Self::s3_config(sdk));
        s3.create_bucket()
            .bucket(&bucket)
            .send()
            .await
            .context("creating the media bucket")?;
        let videos = vec![
            (
                "briefing-2024-05-02/full.mp4".to_owned(),
                fixture_bytes(1, 200_000),
            ),
            (
                "point-presse-ete/extrait-1.mp4".to_owned(),
                fixture_bytes(2, 4_096),
            ),
        ];
        for (file, bytes) in &videos {
            s3.put_object()
                .bucket(&bucket)
                .key(format!("{}{file}", contract::catalog::MEDIA_PREFIX))
                .content_type("video/mp4")
                .body(bytes.clone().into())
                .send()
                .await
                .with_context(|| format!("uploading {file}"))?;
        }
        s3.put_object()
            .bucket(&bucket)
            .key(contract::catalog::MEDIA_KEY)
            .content_type("application/json")
            .body(serde_json::to_vec(&fixture_catalog())?.into())
            .send()
            .await
            .context("uploading the catalog")?;

        Ok(Provisioned {
            table,
            bucket,
            sender: format!("Pressroom <{address}>"),
            reply_to: "desk@example.org".to_owned(),
            configuration_set,
            videos,
        })
    }

    /// Every message SES accepted so far, oldest first (`GET /moto-api/data.json`).
    pub async fn sent_emails(&self) -> anyhow::Result<Vec<SentEmail>> {
        MotoClient::new(&self.endpoint).sent_emails().await
    }

    /// Messages sent to `address`, oldest first.
    pub async fn emails_to(&self, address: &str) -> anyhow::Result<Vec<SentEmail>> {
        MotoClient::new(&self.endpoint).emails_to(address).await
    }
}

/// Reads moto's recorded state over HTTP, given only its endpoint (for holders that cannot
/// borrow the [`Moto`] that owns the process).
#[derive(Debug, Clone)]
pub struct MotoClient {
    endpoint: String,
}

impl MotoClient {
    pub fn new(endpoint: &str) -> Self {
        MotoClient {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
        }
    }

    /// Every message SES accepted so far, oldest first (`GET /moto-api/data.json`).
    pub async fn sent_emails(&self) -> anyhow::Result<Vec<SentEmail>> {
        let url = format!("{}/moto-api/data.json", self.endpoint);
        let data: MotoData = reqwest::get(&url)
            .await
            .with_context(|| format!("GET {url}"))?
            .error_for_status()?
            .json()
            .await
            .context("decoding moto's data.json")?;
        let mut sent = Vec::new();
        for message in data.ses.message {
            let mut destinations = Vec::new();
            for key in ["ToAddresses", "CcAddresses", "BccAddresses"] {
                if let Some(list) = message.destinations.get(key).and_then(|v| v.as_array()) {
                    destinations.extend(list.iter().filter_map(|v| v.as_str().map(String::from)));
                }
            }
            sent.push(SentEmail {
                source: message.source,
                destinations,
                subject: message.subject,
                body: message.body,
                raw: false,
            });
        }
        for message in data.ses.raw_message {
            let subject = message
                .raw_data
                .lines()
                .find_map(|line| line.strip_prefix("Subject: "))
                .unwrap_or_default()
                .to_owned();
            sent.push(SentEmail {
                source: message.source,
                destinations: message.destinations,
                subject,
                body: message.raw_data,
                raw: true,
            });
        }
        Ok(sent)
    }

    /// Messages sent to `address`, oldest first.
    pub async fn emails_to(&self, address: &str) -> anyhow::Result<Vec<SentEmail>> {
        Ok(self
            .sent_emails()
            .await?
            .into_iter()
            .filter(|m| m.destinations.iter().any(|d| d.contains(address)))
            .collect())
    }
}

/// The text a mail client shows for an HTML body: tags removed, entities for `&<>"'` decoded,
/// whitespace collapsed.
pub fn html_text(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                text.push(' ');
            }
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    let text = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&amp;", "&");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The port in Werkzeug's ` * Running on http://127.0.0.1:PORT` banner.
fn banner_port(line: &str) -> Option<u16> {
    let rest = line.split("Running on http://127.0.0.1:").nth(1)?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Deterministic, non-repeating-looking bytes so a truncated or wrong download cannot match.
pub fn fixture_bytes(seed: u8, len: usize) -> Vec<u8> {
    let mut state = 0x9E37_79B9_u32 ^ u32::from(seed);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state >> 24) as u8
        })
        .collect()
}

/// The catalog `pressroom deploy` would upload for the fixture videos: one full video with an
/// ASCII name, one excerpt whose download name needs RFC 5987 encoding.
pub fn fixture_catalog() -> VideoCatalog {
    let part = |file: &str, filename: &str| CatalogPart {
        file: file.to_owned(),
        filename: filename.to_owned(),
        start: None,
        end: None,
    };
    let video = |title: &str, parts: Vec<(&str, CatalogPart)>| CatalogVideo {
        title: title.to_owned(),
        parts: parts
            .into_iter()
            .map(|(name, part)| (name.to_owned(), part))
            .collect(),
    };
    VideoCatalog {
        videos: [
            (
                "briefing-2024-05-02".to_owned(),
                video(
                    "Briefing, 2 May 2024",
                    vec![(
                        "full",
                        part(
                            "briefing-2024-05-02/full.mp4",
                            "briefing-2024-05-02-full.mp4",
                        ),
                    )],
                ),
            ),
            (
                "point-presse-ete".to_owned(),
                video(
                    "Point presse d'été",
                    vec![(
                        "extrait-1",
                        part(
                            "point-presse-ete/extrait-1.mp4",
                            "point-presse-été-extrait-1.mp4",
                        ),
                    )],
                ),
            ),
        ]
        .into_iter()
        .collect(),
    }
}

#[derive(Deserialize, Default)]
struct MotoData {
    #[serde(default)]
    ses: MotoSes,
}

#[derive(Deserialize, Default)]
struct MotoSes {
    #[serde(default, rename = "Message")]
    message: Vec<MotoMessage>,
    #[serde(default, rename = "RawMessage")]
    raw_message: Vec<MotoRawMessage>,
}

#[derive(Deserialize)]
struct MotoMessage {
    source: String,
    subject: String,
    body: String,
    #[serde(default)]
    destinations: serde_json::Map<String, serde_json::Value>,
}

#[derive(Deserialize)]
struct MotoRawMessage {
    source: String,
    raw_data: String,
    #[serde(default)]
    destinations: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_text_drops_tags_and_their_attributes() {
        assert_eq!(
            html_text("<p style=\"color:#003366\">Votre code&nbsp;:</p>\n<p>042917</p>"),
            "Votre code&nbsp;: 042917"
        );
    }

    #[test]
    fn reads_the_port_from_the_banner() {
        assert_eq!(
            banner_port(" * Running on http://127.0.0.1:38177"),
            Some(38177)
        );
        assert_eq!(banner_port("Press CTRL+C to quit"), None);
    }

    #[test]
    fn finds_a_six_digit_code_and_ignores_longer_numbers() {
        let mail = SentEmail {
            source: String::new(),
            destinations: vec![],
            subject: String::new(),
            body: "<p style=\"color:#003366\">ref 20240502 — votre code : 042917</p>".into(),
            raw: false,
        };
        assert_eq!(mail.code().as_deref(), Some("042917"));
    }
}
