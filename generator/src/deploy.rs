//! `pressroom deploy`: publish a built site (`public/`) to the private site bucket behind
//! CloudFront, the broadcast videos and the catalog to the private media bucket, and invalidate
//! only the HTML pages that changed.
//!
//! It exists so a release is one command that does the least work: every object carries the
//! sha256 of its content in `x-amz-meta-sha256`, so an unchanged site uploads nothing and a fixed
//! typo uploads one page and invalidates its two paths. Large videos go up in resumable multipart
//! uploads (an interrupted deploy continues where it stopped). Nothing is deleted unless
//! `--delete` is given, and `--dry-run` prints the plan without changing anything.
//!
//! Order matters to readers mid-deploy: media before the catalog that names them, assets before
//! the pages that link them, deletions after uploads, invalidation last.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use aws_sdk_cloudfront::types::{InvalidationBatch, Paths};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier};
use functions::contract;
use functions::ports::VideoCatalog;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use md5::Md5;
use sha2::{Digest, Sha256};
use tokio::task::JoinSet;

/// Metadata key (without the `x-amz-meta-` prefix) holding the hex sha256 of the content.
pub const SHA256_METADATA: &str = "sha256";
/// `Cache-Control` of content-addressed files: the name changes when the content does.
pub const CACHE_IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` of everything readers must see fresh soon after a deploy: HTML, feeds,
/// sitemap, robots, the catalog, pagefind's entry points.
pub const CACHE_REVALIDATE: &str = "public, max-age=60, must-revalidate";
/// `Cache-Control` of other, unfingerprinted static files (images, fonts, favicon).
pub const CACHE_STATIC: &str = "public, max-age=3600";
/// Files above this size are uploaded in parts (S3 allows 5 GiB in one PUT, but a part can be
/// retried and resumed on its own).
pub const DEFAULT_MULTIPART_THRESHOLD: u64 = 64 * 1024 * 1024;
/// Part size of multipart uploads (S3's minimum is 5 MiB, except for the last part).
pub const DEFAULT_PART_SIZE: u64 = 16 * 1024 * 1024;
/// CloudFront accepts at most 3000 paths in flight per distribution; above this one wildcard
/// invalidation costs less and is as fast.
const MAX_INVALIDATION_PATHS: usize = 3000;
/// Concurrent HEAD / PUT requests against the site bucket.
const CONCURRENCY: usize = 16;

/// Why a deploy failed. Every variant names the file, bucket or key involved.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("site folder {0} does not exist: run `pressroom build` first")]
    MissingSite(PathBuf),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Config { path: PathBuf, message: String },
    #[error("{path}: not a valid video catalog: {source}")]
    Catalog {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error(
        "the catalog references `{file}`, which is not a relative path inside the media folder"
    )]
    BadMediaPath { file: String },
    #[error("the catalog references `{file}` but {path} does not exist")]
    MissingMedia { file: String, path: PathBuf },
    #[error(
        "the site has a video catalog ({0}): pass --media-bucket to publish it, or --no-media"
    )]
    NoMediaBucket(String),
    #[error("--part-size must be at least 5 MiB (S3's minimum), got {0} bytes")]
    PartTooSmall(u64),
    #[error("S3 {operation} s3://{bucket}/{key}: {message}")]
    S3 {
        operation: &'static str,
        bucket: String,
        key: String,
        message: String,
    },
    #[error("CloudFront invalidation on distribution {distribution}: {message} (the files are uploaded; changed pages still refresh within their 60 s max-age)")]
    CloudFront {
        distribution: String,
        message: String,
    },
    #[error("deploy task failed: {0}")]
    Task(String),
    #[error("could not start the async runtime: {0}")]
    Runtime(std::io::Error),
}

fn s3_error<E>(operation: &'static str, bucket: &str, key: &str, err: E) -> DeployError
where
    E: std::error::Error,
{
    DeployError::S3 {
        operation,
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        message: error_chain(&err),
    }
}

/// `error: cause: cause…` — the SDK's causes without its debug dump of the raw response.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

/// Command-line options of `pressroom deploy`.
#[derive(Debug, Clone, clap::Args)]
pub struct DeployArgs {
    /// Site root: the folder holding pressroom.toml
    #[arg(long, default_value = ".", env = "PRESSROOM_ROOT")]
    pub root: PathBuf,
    /// Built site to publish, relative to --root
    #[arg(long, default_value = "public")]
    pub out: PathBuf,
    /// Site bucket (the template's `SiteBucketName` output)
    #[arg(long, env = "PRESSROOM_SITE_BUCKET")]
    pub site_bucket: String,
    /// Media bucket for videos and the catalog (the template's `MediaBucketName` output)
    #[arg(long, env = "PRESSROOM_MEDIA_BUCKET")]
    pub media_bucket: Option<String>,
    /// CloudFront distribution to invalidate changed pages on (`DistributionId` output)
    #[arg(long, env = "PRESSROOM_DISTRIBUTION_ID")]
    pub distribution_id: Option<String>,
    /// Send every AWS request to this endpoint instead (a local AWS-API server in tests)
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    /// Remove objects from the site bucket that are no longer part of the site
    #[arg(long)]
    pub delete: bool,
    /// Print the plan (uploads, deletions, invalidations) and change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Publish the site only: no videos, no catalog
    #[arg(long)]
    pub no_media: bool,
    /// Upload files larger than this many MiB in parts
    #[arg(long, default_value_t = 64, hide = true)]
    pub multipart_threshold_mib: u64,
    /// Part size of multipart uploads, in MiB (at least 5)
    #[arg(long, default_value_t = 16, hide = true)]
    pub part_size_mib: u64,
}

/// What to deploy where. [`DeployArgs`] converts into this; tests build it directly.
#[derive(Debug, Clone)]
pub struct Options {
    pub root: PathBuf,
    /// The built site; relative paths are taken from `root`.
    pub out: PathBuf,
    pub site_bucket: String,
    pub media_bucket: Option<String>,
    pub distribution_id: Option<String>,
    pub delete: bool,
    pub dry_run: bool,
    pub no_media: bool,
    /// Bytes above which a video is uploaded in parts.
    pub multipart_threshold: u64,
    /// Bytes per part (S3 requires ≥ 5 MiB except for the last part).
    pub part_size: u64,
    /// Draw a progress bar on stderr (only drawn when stderr is a terminal).
    pub progress: bool,
}

impl Options {
    /// Defaults for everything but the site bucket.
    pub fn new(root: impl Into<PathBuf>, site_bucket: impl Into<String>) -> Self {
        Self {
            root: root.into(),
            out: PathBuf::from("public"),
            site_bucket: site_bucket.into(),
            media_bucket: None,
            distribution_id: None,
            delete: false,
            dry_run: false,
            no_media: false,
            multipart_threshold: DEFAULT_MULTIPART_THRESHOLD,
            part_size: DEFAULT_PART_SIZE,
            progress: false,
        }
    }

    fn site_dir(&self) -> PathBuf {
        self.root.join(&self.out)
    }
}

impl From<&DeployArgs> for Options {
    fn from(a: &DeployArgs) -> Self {
        Self {
            root: a.root.clone(),
            out: a.out.clone(),
            site_bucket: a.site_bucket.clone(),
            media_bucket: a.media_bucket.clone(),
            distribution_id: a.distribution_id.clone(),
            delete: a.delete,
            dry_run: a.dry_run,
            no_media: a.no_media,
            multipart_threshold: a.multipart_threshold_mib * 1024 * 1024,
            part_size: a.part_size_mib * 1024 * 1024,
            progress: true,
        }
    }
}

/// The AWS clients a deploy talks to.
#[derive(Clone, Debug)]
pub struct Clients {
    pub s3: aws_sdk_s3::Client,
    pub cloudfront: aws_sdk_cloudfront::Client,
}

impl Clients {
    /// Clients from the usual AWS chain (environment, profile, SSO, instance role); with an
    /// endpoint override, S3 uses path-style addressing as local AWS-API servers expect.
    pub async fn from_env(endpoint_url: Option<&str>) -> Self {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(url) = endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let shared = loader.load().await;
        let s3_config = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(endpoint_url.is_some())
            .build();
        Self {
            s3: aws_sdk_s3::Client::from_conf(s3_config),
            cloudfront: aws_sdk_cloudfront::Client::new(&shared),
        }
    }
}

/// How long readers' browsers and CloudFront may keep a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheClass {
    Immutable,
    Revalidate,
    Static,
}

impl CacheClass {
    pub fn header(self) -> &'static str {
        match self {
            CacheClass::Immutable => CACHE_IMMUTABLE,
            CacheClass::Revalidate => CACHE_REVALIDATE,
            CacheClass::Static => CACHE_STATIC,
        }
    }
}

/// Cache class of a site key such as `assets/app.3f9c2a1b.css` or `en/index.html`.
///
/// Immutable: fingerprinted assets (`name.<8 hex>.css|js`, the theme's fingerprinting) and
/// pagefind's content-hashed index files. pagefind's entry points (`pagefind.js`,
/// `pagefind-entry.json`, its wasm) keep their names across builds, so they revalidate like HTML.
pub fn cache_class(key: &str) -> CacheClass {
    let name = key.rsplit('/').next().unwrap_or(key);
    let ext = extension(name);
    if matches!(ext, "css" | "js") && is_fingerprinted(name) {
        return CacheClass::Immutable;
    }
    if key.starts_with("pagefind/")
        && matches!(ext, "pf_meta" | "pf_index" | "pf_fragment" | "pf_filter")
    {
        return CacheClass::Immutable;
    }
    match ext {
        "html" | "htm" | "xml" | "json" | "txt" | "webmanifest" | "js" | "css" | "pagefind"
        | "wasm" => CacheClass::Revalidate,
        _ => CacheClass::Static,
    }
}

fn extension(name: &str) -> &str {
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => ext,
        _ => "",
    }
}

/// `app.3f9c2a1b.css` → true: the segment before the extension is exactly 8 hex digits.
fn is_fingerprinted(name: &str) -> bool {
    let mut parts = name.rsplit('.');
    let _ext = parts.next();
    match (parts.next(), parts.next()) {
        (Some(hash), Some(stem)) => {
            !stem.is_empty() && hash.len() == 8 && hash.bytes().all(|b| b.is_ascii_hexdigit())
        }
        _ => false,
    }
}

/// `Content-Type` of a key, by extension, with `charset=utf-8` on text.
pub fn content_type(key: &str) -> String {
    let name = key.rsplit('/').next().unwrap_or(key);
    let fixed = match extension(name) {
        "html" | "htm" => Some("text/html; charset=utf-8"),
        "css" => Some("text/css; charset=utf-8"),
        "js" | "mjs" => Some("text/javascript; charset=utf-8"),
        "json" => Some("application/json"),
        "xml" if name == "atom.xml" => Some("application/atom+xml; charset=utf-8"),
        "xml" => Some("application/xml; charset=utf-8"),
        "txt" => Some("text/plain; charset=utf-8"),
        "svg" => Some("image/svg+xml"),
        "webmanifest" => Some("application/manifest+json"),
        "wasm" => Some("application/wasm"),
        "woff2" => Some("font/woff2"),
        "vtt" => Some("text/vtt; charset=utf-8"),
        "pagefind" | "pf_meta" | "pf_index" | "pf_fragment" | "pf_filter" => {
            Some("application/octet-stream")
        }
        _ => None,
    };
    if let Some(ct) = fixed {
        return ct.to_owned();
    }
    let mime = mime_guess::from_path(name).first_or_octet_stream();
    if mime.type_() == mime_guess::mime::TEXT {
        format!("{}; charset=utf-8", mime.essence_str())
    } else {
        mime.essence_str().to_owned()
    }
}

/// CloudFront paths that serve a site key: a page `en/x/index.html` is cached both as `/en/x/`
/// and `/en/x/index.html`. Non-ASCII and reserved characters are percent-encoded.
pub fn invalidation_paths(key: &str) -> Vec<String> {
    let encoded: Vec<String> = key
        .split('/')
        .map(|s| urlencoding::encode(s).into_owned())
        .collect();
    let full = format!("/{}", encoded.join("/"));
    match full.strip_suffix("index.html") {
        Some(dir) if dir.ends_with('/') => vec![dir.to_owned(), full],
        _ => vec![full],
    }
}

fn is_html(key: &str) -> bool {
    matches!(extension(key), "html" | "htm")
}

/// One local file bound for a bucket.
#[derive(Debug, Clone)]
struct LocalFile {
    key: String,
    path: PathBuf,
    size: u64,
    sha256: String,
    content_type: String,
    cache_control: &'static str,
}

/// What the bucket holds for a key, as far as the comparison needs.
#[derive(Debug, Clone)]
struct Remote {
    size: u64,
}

/// One planned change, printed by `--dry-run` and counted in the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Upload to `bucket/key` (`new` when the key does not exist yet).
    Upload {
        bucket: String,
        key: String,
        bytes: u64,
        new: bool,
        multipart: bool,
    },
    Delete {
        bucket: String,
        key: String,
    },
    Invalidate {
        paths: Vec<String>,
    },
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Upload {
                bucket,
                key,
                bytes,
                new,
                multipart,
            } => write!(
                f,
                "upload      s3://{bucket}/{key} ({}{}{})",
                human_bytes(*bytes),
                if *new { ", new" } else { ", changed" },
                if *multipart { ", multipart" } else { "" }
            ),
            Action::Delete { bucket, key } => write!(f, "delete      s3://{bucket}/{key}"),
            Action::Invalidate { paths } => {
                write!(f, "invalidate  {}", paths.join(" "))
            }
        }
    }
}

/// What a deploy did (or, with `--dry-run`, would do).
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub dry_run: bool,
    /// Every change, in the order it was (or would be) applied.
    pub actions: Vec<Action>,
    /// Site objects uploaded.
    pub site_uploaded: Vec<String>,
    /// Site objects already up to date.
    pub site_unchanged: usize,
    /// Site objects deleted (`--delete`).
    pub site_deleted: Vec<String>,
    /// Objects in the bucket that are no longer part of the site, kept without `--delete`.
    pub site_stale_kept: Vec<String>,
    /// Media keys uploaded (videos, then the catalog).
    pub media_uploaded: Vec<String>,
    /// Media objects already up to date.
    pub media_unchanged: usize,
    /// Whether the catalog was (re)published to the media bucket.
    pub catalog_published: bool,
    /// Paths invalidated on CloudFront.
    pub invalidated: Vec<String>,
    /// CloudFront invalidation ids.
    pub invalidation_ids: Vec<String>,
    /// Bytes uploaded across both buckets.
    pub bytes_uploaded: u64,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.dry_run {
            "dry run, nothing changed — would upload"
        } else {
            "deployed: uploaded"
        };
        write!(
            f,
            "{verb} {} site file(s) and {} media file(s) ({}); {} unchanged; {} deleted",
            self.site_uploaded.len(),
            self.media_uploaded.len(),
            human_bytes(self.bytes_uploaded),
            self.site_unchanged + self.media_unchanged,
            self.site_deleted.len(),
        )?;
        if !self.site_stale_kept.is_empty() {
            write!(
                f,
                "; {} stale object(s) kept (pass --delete to remove)",
                self.site_stale_kept.len()
            )?;
        }
        write!(f, "; {} path(s) invalidated", self.invalidated.len())
    }
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// [`run`] on a runtime of its own, for the synchronous CLI.
pub fn run_blocking(args: &DeployArgs) -> Result<Summary, DeployError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(DeployError::Runtime)?
        .block_on(run(args))
}

/// Run `pressroom deploy` with credentials from the usual AWS chain; with `--dry-run` the plan
/// is printed, one change per line.
pub async fn run(args: &DeployArgs) -> Result<Summary, DeployError> {
    let clients = Clients::from_env(args.endpoint_url.as_deref()).await;
    let options = Options::from(args);
    let summary = deploy(&options, &clients).await?;
    if options.dry_run {
        for action in &summary.actions {
            println!("{action}");
        }
    }
    Ok(summary)
}

/// Publish the site, then the media and the catalog, then invalidate changed pages.
pub async fn deploy(opts: &Options, clients: &Clients) -> Result<Summary, DeployError> {
    if opts.part_size < 5 * 1024 * 1024 {
        return Err(DeployError::PartTooSmall(opts.part_size));
    }
    let site_dir = opts.site_dir();
    if !site_dir.is_dir() {
        return Err(DeployError::MissingSite(site_dir));
    }
    let mut summary = Summary {
        dry_run: opts.dry_run,
        ..Summary::default()
    };

    let local = scan_site(&site_dir)?;
    let media = if opts.no_media {
        None
    } else {
        plan_media(opts, &site_dir)?
    };

    // ---- site: compare with the bucket ----
    let remote = list_objects(&clients.s3, &opts.site_bucket).await?;
    let (to_upload, unchanged) = changed_files(clients, &opts.site_bucket, &local, &remote).await?;
    summary.site_unchanged = unchanged;
    let local_keys: HashMap<&str, ()> = local.iter().map(|f| (f.key.as_str(), ())).collect();
    let stale: Vec<String> = remote
        .keys()
        .filter(|k| !local_keys.contains_key(k.as_str()))
        .cloned()
        .collect();

    // ---- media first: the catalog must never name a video that is not there yet ----
    if let Some(media) = &media {
        deploy_media(opts, clients, media, &mut summary).await?;
    }

    // ---- site uploads: assets, then other files, then HTML ----
    let mut ordered = to_upload;
    ordered.sort_by_key(|(f, _)| (is_html(&f.key), f.key.clone()));
    for (file, new) in &ordered {
        summary.actions.push(Action::Upload {
            bucket: opts.site_bucket.clone(),
            key: file.key.clone(),
            bytes: file.size,
            new: *new,
            multipart: false,
        });
        summary.bytes_uploaded += file.size;
        summary.site_uploaded.push(file.key.clone());
    }
    if !opts.dry_run {
        let bar = progress_bar(
            opts.progress,
            ordered.iter().map(|(f, _)| f.size).sum(),
            "site",
        );
        let (others, html): (Vec<_>, Vec<_>) =
            ordered.into_iter().partition(|(f, _)| !is_html(&f.key));
        for batch in [others, html] {
            put_all(
                &clients.s3,
                &opts.site_bucket,
                batch.into_iter().map(|(f, _)| f).collect(),
                &bar,
            )
            .await?;
        }
        bar.finish_and_clear();
    }

    // ---- deletions, only when asked ----
    let mut invalidate: Vec<String> = summary
        .site_uploaded
        .iter()
        .filter(|k| is_html(k) && remote.contains_key(k.as_str()))
        .flat_map(|k| invalidation_paths(k))
        .collect();
    if opts.delete {
        for key in &stale {
            summary.actions.push(Action::Delete {
                bucket: opts.site_bucket.clone(),
                key: key.clone(),
            });
            if is_html(key) {
                invalidate.extend(invalidation_paths(key));
            }
        }
        if !opts.dry_run {
            delete_objects(&clients.s3, &opts.site_bucket, &stale).await?;
        }
        summary.site_deleted = stale;
    } else {
        summary.site_stale_kept = stale;
    }

    // ---- invalidation of changed pages ----
    if let Some(distribution) = &opts.distribution_id {
        if !invalidate.is_empty() {
            if invalidate.len() > MAX_INVALIDATION_PATHS {
                invalidate = vec!["/*".to_owned()];
            }
            summary.actions.push(Action::Invalidate {
                paths: invalidate.clone(),
            });
            if !opts.dry_run {
                let id =
                    create_invalidation(&clients.cloudfront, distribution, &invalidate).await?;
                summary.invalidation_ids.push(id);
            }
            summary.invalidated = invalidate;
        }
    }
    Ok(summary)
}

// ------------------------------------------------------------------------------------------
// Local files
// ------------------------------------------------------------------------------------------

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DeployError + '_ {
    move |source| DeployError::Io {
        path: path.to_owned(),
        source,
    }
}

/// sha256 of a file, streamed (videos can be gigabytes).
fn sha256_file(path: &Path) -> Result<String, DeployError> {
    let mut file = std::fs::File::open(path).map_err(io_err(path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1024 * 1024];
    loop {
        let n = file.read(&mut buf).map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Every file of the built site with its key, hash and headers.
fn scan_site(site_dir: &Path) -> Result<Vec<LocalFile>, DeployError> {
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(site_dir).sort_by_file_name() {
        let entry = entry.map_err(|e| DeployError::Io {
            path: e
                .path()
                .map(Path::to_owned)
                .unwrap_or_else(|| site_dir.to_owned()),
            source: e.into(),
        })?;
        if !entry.file_type().is_file() {
            continue;
        }
        let path = entry.path().to_owned();
        let rel = path
            .strip_prefix(site_dir)
            .expect("walkdir stays under its root");
        let key = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        let size = entry.metadata().map_err(|e| DeployError::Io {
            path: path.clone(),
            source: e.into(),
        })?;
        files.push(LocalFile {
            sha256: sha256_file(&path)?,
            content_type: content_type(&key),
            cache_control: cache_class(&key).header(),
            size: size.len(),
            key,
            path,
        });
    }
    Ok(files)
}

#[derive(serde::Deserialize, Default)]
struct MediaConfigFile {
    #[serde(default)]
    media: MediaSection,
}

#[derive(serde::Deserialize)]
struct MediaSection {
    #[serde(default = "default_media_dir")]
    dir: PathBuf,
}

impl Default for MediaSection {
    fn default() -> Self {
        Self {
            dir: default_media_dir(),
        }
    }
}

fn default_media_dir() -> PathBuf {
    PathBuf::from("content/media")
}

/// The local media folder: `[media] dir` of `pressroom.toml`, relative to the root.
fn media_dir(root: &Path) -> Result<PathBuf, DeployError> {
    let path = root.join("pressroom.toml");
    let dir = match std::fs::read_to_string(&path) {
        Ok(text) => {
            // Only `[media]` matters here; the generator's config module validates the rest.
            let cfg: MediaConfigFile =
                toml::from_str(&text).map_err(|e: toml::de::Error| DeployError::Config {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
            cfg.media.dir
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => default_media_dir(),
        Err(source) => return Err(DeployError::Io { path, source }),
    };
    Ok(root.join(dir))
}

/// The media to publish: the catalog and every file it references.
struct MediaPlan {
    bucket: String,
    catalog: LocalFile,
    files: Vec<LocalFile>,
}

/// Every file the catalog references (each part of each video, `{video-id}/{part}.mp4`),
/// relative to the media folder, sorted and once each.
pub fn catalog_files(catalog: &VideoCatalog) -> Vec<String> {
    let mut out: Vec<String> = catalog
        .videos
        .values()
        .flat_map(|v| v.parts.values().map(|p| p.file.clone()))
        .collect();
    out.sort();
    out.dedup();
    out
}

fn plan_media(opts: &Options, site_dir: &Path) -> Result<Option<MediaPlan>, DeployError> {
    let catalog_path = site_dir.join(contract::catalog::SITE_PATH);
    if !catalog_path.is_file() {
        return Ok(None);
    }
    let bucket = opts
        .media_bucket
        .clone()
        .ok_or_else(|| DeployError::NoMediaBucket(contract::catalog::SITE_PATH.to_owned()))?;
    let text = std::fs::read(&catalog_path).map_err(io_err(&catalog_path))?;
    let value: VideoCatalog =
        serde_json::from_slice(&text).map_err(|source| DeployError::Catalog {
            path: catalog_path.clone(),
            source,
        })?;
    let dir = media_dir(&opts.root)?;
    let mut files = Vec::new();
    for file in catalog_files(&value) {
        let rel = Path::new(&file);
        if file.is_empty()
            || file.contains('\\')
            || !rel.components().all(|c| matches!(c, Component::Normal(_)))
        {
            return Err(DeployError::BadMediaPath { file });
        }
        let path = dir.join(rel);
        let meta = match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => m,
            _ => return Err(DeployError::MissingMedia { file, path }),
        };
        files.push(LocalFile {
            key: format!("{}{}", contract::catalog::MEDIA_PREFIX, file),
            content_type: content_type(&file),
            cache_control: CACHE_STATIC,
            size: meta.len(),
            sha256: String::new(), // hashed lazily: only when the sizes match
            path,
        });
    }
    let catalog = LocalFile {
        key: contract::catalog::MEDIA_KEY.to_owned(),
        sha256: hex::encode(Sha256::digest(&text)),
        content_type: "application/json".to_owned(),
        cache_control: "no-cache",
        size: text.len() as u64,
        path: catalog_path,
    };
    Ok(Some(MediaPlan {
        bucket,
        catalog,
        files,
    }))
}

// ------------------------------------------------------------------------------------------
// S3
// ------------------------------------------------------------------------------------------

async fn list_objects(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
) -> Result<BTreeMap<String, Remote>, DeployError> {
    let mut out = BTreeMap::new();
    let mut pages = s3.list_objects_v2().bucket(bucket).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| s3_error("ListObjectsV2", bucket, "", e))?;
        for object in page.contents() {
            if let Some(key) = object.key() {
                out.insert(
                    key.to_owned(),
                    Remote {
                        size: object.size().unwrap_or(-1).max(0) as u64,
                    },
                );
            }
        }
    }
    Ok(out)
}

/// What a HEAD tells us: the stored hash and headers, `None` when the key does not exist.
struct Head {
    sha256: Option<String>,
    content_type: Option<String>,
    cache_control: Option<String>,
    size: u64,
}

async fn head(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Result<Option<Head>, DeployError> {
    match s3.head_object().bucket(bucket).key(key).send().await {
        Ok(h) => Ok(Some(Head {
            sha256: h.metadata().and_then(|m| m.get(SHA256_METADATA)).cloned(),
            content_type: h.content_type().map(str::to_owned),
            cache_control: h.cache_control().map(str::to_owned),
            size: h.content_length().unwrap_or(-1).max(0) as u64,
        })),
        Err(e) => {
            if e.as_service_error().is_some_and(|s| s.is_not_found()) {
                Ok(None)
            } else {
                Err(s3_error("HeadObject", bucket, key, e))
            }
        }
    }
}

fn up_to_date(head: &Head, file: &LocalFile) -> bool {
    head.size == file.size
        && head.sha256.as_deref() == Some(file.sha256.as_str())
        && head.content_type.as_deref() == Some(file.content_type.as_str())
        && head.cache_control.as_deref() == Some(file.cache_control)
}

/// Split local files into (to upload with `new` flag, number unchanged). Sizes decide without a
/// request; equal sizes are confirmed by the sha256 (and headers) stored on the object.
async fn changed_files(
    clients: &Clients,
    bucket: &str,
    local: &[LocalFile],
    remote: &BTreeMap<String, Remote>,
) -> Result<(Vec<(LocalFile, bool)>, usize), DeployError> {
    let mut to_upload = Vec::new();
    let mut unchanged = 0;
    let mut tasks: JoinSet<Result<(LocalFile, bool), DeployError>> = JoinSet::new();
    let mut pending = Vec::new();
    for file in local {
        match remote.get(&file.key) {
            None => to_upload.push((file.clone(), true)),
            Some(r) if r.size != file.size => to_upload.push((file.clone(), false)),
            Some(_) => pending.push(file.clone()),
        }
    }
    let mut pending = pending.into_iter();
    loop {
        while tasks.len() < CONCURRENCY {
            let Some(file) = pending.next() else { break };
            let s3 = clients.s3.clone();
            let bucket = bucket.to_owned();
            tasks.spawn(async move {
                let fresh = head(&s3, &bucket, &file.key)
                    .await?
                    .is_some_and(|h| up_to_date(&h, &file));
                Ok((file, fresh))
            });
        }
        let Some(done) = tasks.join_next().await else {
            break;
        };
        let (file, fresh) = done.map_err(|e| DeployError::Task(e.to_string()))??;
        if fresh {
            unchanged += 1;
        } else {
            to_upload.push((file, false));
        }
    }
    Ok((to_upload, unchanged))
}

async fn put_file(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    file: &LocalFile,
) -> Result<(), DeployError> {
    let body = ByteStream::from_path(&file.path)
        .await
        .map_err(|e| s3_error("PutObject", bucket, &file.key, e))?;
    s3.put_object()
        .bucket(bucket)
        .key(&file.key)
        .body(body)
        .content_type(&file.content_type)
        .cache_control(file.cache_control)
        .metadata(SHA256_METADATA, &file.sha256)
        .send()
        .await
        .map_err(|e| s3_error("PutObject", bucket, &file.key, e))?;
    Ok(())
}

async fn put_all(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    files: Vec<LocalFile>,
    bar: &ProgressBar,
) -> Result<(), DeployError> {
    let mut tasks: JoinSet<Result<u64, DeployError>> = JoinSet::new();
    let mut files = files.into_iter();
    loop {
        while tasks.len() < CONCURRENCY {
            let Some(file) = files.next() else { break };
            let s3 = s3.clone();
            let bucket = bucket.to_owned();
            tasks.spawn(async move {
                put_file(&s3, &bucket, &file).await?;
                Ok(file.size)
            });
        }
        let Some(done) = tasks.join_next().await else {
            break;
        };
        let bytes = done.map_err(|e| DeployError::Task(e.to_string()))??;
        bar.inc(bytes);
    }
    Ok(())
}

async fn delete_objects(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    keys: &[String],
) -> Result<(), DeployError> {
    // DeleteObjects takes at most 1000 keys per request.
    for chunk in keys.chunks(1000) {
        let objects = chunk
            .iter()
            .map(|k| ObjectIdentifier::builder().key(k).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| s3_error("DeleteObjects", bucket, &chunk[0], e))?;
        let delete = Delete::builder()
            .set_objects(Some(objects))
            .quiet(true)
            .build()
            .map_err(|e| s3_error("DeleteObjects", bucket, &chunk[0], e))?;
        let out = s3
            .delete_objects()
            .bucket(bucket)
            .delete(delete)
            .send()
            .await
            .map_err(|e| s3_error("DeleteObjects", bucket, &chunk[0], e))?;
        if let Some(err) = out.errors().first() {
            return Err(DeployError::S3 {
                operation: "DeleteObjects",
                bucket: bucket.to_owned(),
                key: err.key().unwrap_or_default().to_owned(),
                message: err.message().unwrap_or("refused").to_owned(),
            });
        }
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------
// Media: videos (multipart, resumable) and the catalog
// ------------------------------------------------------------------------------------------

async fn deploy_media(
    opts: &Options,
    clients: &Clients,
    media: &MediaPlan,
    summary: &mut Summary,
) -> Result<(), DeployError> {
    let s3 = &clients.s3;
    let bucket = &media.bucket;
    let mut uploads = Vec::new();
    for file in &media.files {
        let existing = head(s3, bucket, &file.key).await?;
        // Hashing a multi-gigabyte video is the slow part: only when the size matches.
        let mut file = file.clone();
        let new = existing.is_none();
        if let Some(h) = &existing {
            if h.size == file.size {
                file.sha256 = hash_blocking(file.path.clone()).await?;
                if h.sha256.as_deref() == Some(file.sha256.as_str()) {
                    summary.media_unchanged += 1;
                    continue;
                }
            }
        }
        uploads.push((file, new));
    }

    let total: u64 = uploads.iter().map(|(f, _)| f.size).sum();
    let bar = progress_bar(opts.progress && !opts.dry_run, total, "media");
    for (mut file, new) in uploads {
        let multipart = file.size > opts.multipart_threshold;
        summary.actions.push(Action::Upload {
            bucket: bucket.clone(),
            key: file.key.clone(),
            bytes: file.size,
            new,
            multipart,
        });
        summary.bytes_uploaded += file.size;
        summary.media_uploaded.push(file.key.clone());
        if opts.dry_run {
            continue;
        }
        if file.sha256.is_empty() {
            file.sha256 = hash_blocking(file.path.clone()).await?;
        }
        if multipart {
            multipart_upload(s3, bucket, &file, opts.part_size, &bar).await?;
        } else {
            put_file(s3, bucket, &file).await?;
            bar.inc(file.size);
        }
    }
    bar.finish_and_clear();

    // The catalog last: the download function only offers what it names.
    let catalog = &media.catalog;
    let current = head(s3, bucket, &catalog.key).await?;
    if !current.as_ref().is_some_and(|h| up_to_date(h, catalog)) {
        summary.actions.push(Action::Upload {
            bucket: bucket.clone(),
            key: catalog.key.clone(),
            bytes: catalog.size,
            new: current.is_none(),
            multipart: false,
        });
        summary.bytes_uploaded += catalog.size;
        summary.media_uploaded.push(catalog.key.clone());
        summary.catalog_published = true;
        if !opts.dry_run {
            put_file(s3, bucket, catalog).await?;
        }
    } else {
        summary.media_unchanged += 1;
    }
    Ok(())
}

async fn hash_blocking(path: PathBuf) -> Result<String, DeployError> {
    tokio::task::spawn_blocking(move || sha256_file(&path))
        .await
        .map_err(|e| DeployError::Task(e.to_string()))?
}

/// Upload `file` in parts, continuing an interrupted upload of the same key: parts already in
/// S3 whose MD5 (their ETag) matches the local bytes are kept, the others are (re)sent.
async fn multipart_upload(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    file: &LocalFile,
    part_size: u64,
    bar: &ProgressBar,
) -> Result<(), DeployError> {
    let key = file.key.as_str();

    // An unfinished upload of this key started by an earlier deploy of the same content?
    let listing = s3
        .list_multipart_uploads()
        .bucket(bucket)
        .prefix(key)
        .send()
        .await
        .map_err(|e| s3_error("ListMultipartUploads", bucket, key, e))?;
    let mut candidates: Vec<_> = listing
        .uploads()
        .iter()
        .filter(|u| u.key() == Some(key))
        .filter_map(|u| Some((u.upload_id()?.to_owned(), u.initiated().cloned())))
        .collect();
    candidates.sort_by_key(|(_, initiated)| initiated.map(|t| (t.secs(), t.subsec_nanos())));

    let mut existing_parts: HashMap<i32, (i64, String)> = HashMap::new();
    let upload_id = match candidates.pop() {
        Some((id, _)) => {
            let mut marker = None;
            loop {
                let listed = s3
                    .list_parts()
                    .bucket(bucket)
                    .key(key)
                    .upload_id(&id)
                    .set_part_number_marker(marker.clone())
                    .send()
                    .await;
                // Some S3-compatible servers answer ListParts in a shape the SDK cannot read
                // (moto 5.2: `ListPartsResponse`). The upload itself is still good: keep it and
                // send every part again (re-sending a part number replaces it).
                let parts = match listed {
                    Ok(parts) => parts,
                    Err(e) => {
                        tracing::warn!(
                            key,
                            error = %error_chain(&e),
                            "could not list the parts already uploaded; sending them all again"
                        );
                        existing_parts.clear();
                        break;
                    }
                };
                for p in parts.parts() {
                    if let (Some(n), Some(etag)) = (p.part_number(), p.e_tag()) {
                        existing_parts.insert(
                            n,
                            (p.size().unwrap_or(-1), etag.trim_matches('"').to_owned()),
                        );
                    }
                }
                if parts.is_truncated() == Some(true) {
                    marker = parts.next_part_number_marker().map(str::to_owned);
                } else {
                    break;
                }
            }
            id
        }
        None => s3
            .create_multipart_upload()
            .bucket(bucket)
            .key(key)
            .content_type(&file.content_type)
            .cache_control(file.cache_control)
            .metadata(SHA256_METADATA, &file.sha256)
            .send()
            .await
            .map_err(|e| s3_error("CreateMultipartUpload", bucket, key, e))?
            .upload_id()
            .map(str::to_owned)
            .ok_or_else(|| s3_error("CreateMultipartUpload", bucket, key, MissingField))?,
    };
    // Older abandoned uploads of the same key only cost storage.
    for (stale, _) in candidates {
        s3.abort_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(stale)
            .send()
            .await
            .map_err(|e| s3_error("AbortMultipartUpload", bucket, key, e))?;
    }

    let mut source = std::fs::File::open(&file.path).map_err(io_err(&file.path))?;
    let mut completed = Vec::new();
    let mut part_number = 1i32;
    let mut remaining = file.size;
    while remaining > 0 {
        let len = remaining.min(part_size) as usize;
        let mut buf = vec![0u8; len];
        source.read_exact(&mut buf).map_err(io_err(&file.path))?;
        let etag = match reusable_part(&existing_parts, part_number, &buf) {
            Some(etag) => etag,
            None => s3
                .upload_part()
                .bucket(bucket)
                .key(key)
                .upload_id(&upload_id)
                .part_number(part_number)
                .body(ByteStream::from(buf))
                .send()
                .await
                .map_err(|e| s3_error("UploadPart", bucket, key, e))?
                .e_tag()
                .map(|t| t.trim_matches('"').to_owned())
                .ok_or_else(|| s3_error("UploadPart", bucket, key, MissingField))?,
        };
        completed.push(
            CompletedPart::builder()
                .part_number(part_number)
                .e_tag(format!("\"{etag}\""))
                .build(),
        );
        bar.inc(len as u64);
        remaining -= len as u64;
        part_number += 1;
    }
    s3.complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(&upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(completed))
                .build(),
        )
        .send()
        .await
        .map_err(|e| s3_error("CompleteMultipartUpload", bucket, key, e))?;

    // A resumed upload carries the metadata of the deploy that started it; make sure the
    // object says what it holds now (a metadata-only copy, no bytes re-sent).
    let stored = head(s3, bucket, key).await?;
    if !stored.as_ref().is_some_and(|h| up_to_date(h, file)) {
        s3.copy_object()
            .bucket(bucket)
            .key(key)
            .copy_source(format!("{bucket}/{}", urlencoding::encode(key)))
            .metadata_directive(aws_sdk_s3::types::MetadataDirective::Replace)
            .content_type(&file.content_type)
            .cache_control(file.cache_control)
            .metadata(SHA256_METADATA, &file.sha256)
            .send()
            .await
            .map_err(|e| s3_error("CopyObject", bucket, key, e))?;
    }
    Ok(())
}

/// The ETag of part `number` already in S3 when it holds exactly `bytes` (same size, and its
/// ETag — the MD5 of a part — equals theirs), so a resumed upload need not send it again.
fn reusable_part(
    existing: &HashMap<i32, (i64, String)>,
    number: i32,
    bytes: &[u8],
) -> Option<String> {
    let (size, etag) = existing.get(&number)?;
    (*size == bytes.len() as i64 && *etag == hex::encode(Md5::digest(bytes))).then(|| etag.clone())
}

#[derive(Debug)]
struct MissingField;

impl fmt::Display for MissingField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the response lacks a required field")
    }
}

impl std::error::Error for MissingField {}

// ------------------------------------------------------------------------------------------
// CloudFront
// ------------------------------------------------------------------------------------------

async fn create_invalidation(
    cf: &aws_sdk_cloudfront::Client,
    distribution: &str,
    paths: &[String],
) -> Result<String, DeployError> {
    let fail = |message: String| DeployError::CloudFront {
        distribution: distribution.to_owned(),
        message,
    };
    let caller_reference = format!(
        "pressroom-{}-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default(),
        hex::encode(&Sha256::digest(paths.join("\n").as_bytes())[..4])
    );
    let batch = InvalidationBatch::builder()
        .caller_reference(caller_reference)
        .paths(
            Paths::builder()
                .quantity(paths.len() as i32)
                .set_items(Some(paths.to_vec()))
                .build()
                .map_err(|e| fail(e.to_string()))?,
        )
        .build()
        .map_err(|e| fail(e.to_string()))?;
    let out = cf
        .create_invalidation()
        .distribution_id(distribution)
        .invalidation_batch(batch)
        .send()
        .await
        .map_err(|e| fail(error_chain(&e)))?;
    Ok(out
        .invalidation()
        .map(|i| i.id().to_owned())
        .unwrap_or_default())
}

fn progress_bar(enabled: bool, total: u64, what: &'static str) -> ProgressBar {
    if !enabled || total == 0 {
        return ProgressBar::hidden();
    }
    // Drawn only when stderr is a terminal; CI logs get the summary line instead.
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>6} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_prefix(what);
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprinted_assets_are_immutable_and_pages_revalidate() {
        assert_eq!(
            cache_class("assets/app.3f9c2a1b.css"),
            CacheClass::Immutable
        );
        assert_eq!(
            cache_class("assets/search.0123abcd.js"),
            CacheClass::Immutable
        );
        assert_eq!(cache_class("assets/app.css"), CacheClass::Revalidate);
        assert_eq!(
            cache_class("assets/app.3f9c2a1.css"),
            CacheClass::Revalidate
        );
        assert_eq!(
            cache_class("assets/app.3f9c2a1g.css"),
            CacheClass::Revalidate
        );
        assert_eq!(
            cache_class("pagefind/index/en_4b2c1d.pf_index"),
            CacheClass::Immutable
        );
        assert_eq!(cache_class("pagefind/pagefind.js"), CacheClass::Revalidate);
        assert_eq!(
            cache_class("pagefind/pagefind-entry.json"),
            CacheClass::Revalidate
        );
        assert_eq!(cache_class("en/index.html"), CacheClass::Revalidate);
        assert_eq!(cache_class("en/atom.xml"), CacheClass::Revalidate);
        assert_eq!(cache_class("sitemap.xml"), CacheClass::Revalidate);
        assert_eq!(cache_class("robots.txt"), CacheClass::Revalidate);
        assert_eq!(
            cache_class("_pressroom/videos.json"),
            CacheClass::Revalidate
        );
        assert_eq!(cache_class("favicon.ico"), CacheClass::Static);
        assert_eq!(cache_class("assets/logo.png"), CacheClass::Static);
    }

    #[test]
    fn content_types_carry_a_charset_on_text() {
        assert_eq!(content_type("en/index.html"), "text/html; charset=utf-8");
        assert_eq!(
            content_type("assets/app.1234abcd.css"),
            "text/css; charset=utf-8"
        );
        assert_eq!(
            content_type("assets/a.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            content_type("fr/atom.xml"),
            "application/atom+xml; charset=utf-8"
        );
        assert_eq!(
            content_type("sitemap.xml"),
            "application/xml; charset=utf-8"
        );
        assert_eq!(content_type("logo.svg"), "image/svg+xml");
        assert_eq!(content_type("a/b.png"), "image/png");
        assert_eq!(content_type("v/full.mp4"), "video/mp4");
        assert_eq!(
            content_type("pagefind/wasm.en.pagefind"),
            "application/octet-stream"
        );
        assert_eq!(content_type("README"), "application/octet-stream");
    }

    #[test]
    fn pages_invalidate_both_their_paths() {
        assert_eq!(
            invalidation_paths("en/transcripts/2018/04/26/x/index.html"),
            vec![
                "/en/transcripts/2018/04/26/x/",
                "/en/transcripts/2018/04/26/x/index.html"
            ]
        );
        assert_eq!(invalidation_paths("index.html"), vec!["/", "/index.html"]);
        assert_eq!(invalidation_paths("404.html"), vec!["/404.html"]);
        assert_eq!(
            invalidation_paths("fr/sujets/économie/index.html"),
            vec![
                "/fr/sujets/%C3%A9conomie/",
                "/fr/sujets/%C3%A9conomie/index.html"
            ]
        );
    }

    #[test]
    fn catalog_files_are_every_part_once() {
        let catalog: VideoCatalog = serde_json::from_value(serde_json::json!({
            "videos": {
                "a": {"title": "A", "parts": {
                    "full": {"file": "a/full.mp4", "filename": "a-full.mp4"},
                    "q1": {"file": "a/q1.mp4", "filename": "a-q1.mp4", "start": 1.0, "end": 9.5}
                }},
                "b": {"parts": {"full": {"file": "a/full.mp4", "filename": "b.mp4"}}}
            }
        }))
        .unwrap();
        assert_eq!(catalog_files(&catalog), vec!["a/full.mp4", "a/q1.mp4"]);
    }

    #[test]
    fn a_resumed_upload_keeps_only_parts_holding_the_same_bytes() {
        let part = b"five mebibytes, in spirit";
        let md5 = hex::encode(Md5::digest(part));
        let existing = HashMap::from([
            (1, (part.len() as i64, md5.clone())),
            (2, (part.len() as i64, "0".repeat(32))),
            (3, (part.len() as i64 + 1, md5.clone())),
        ]);
        assert_eq!(reusable_part(&existing, 1, part), Some(md5));
        assert_eq!(reusable_part(&existing, 2, part), None, "other bytes");
        assert_eq!(reusable_part(&existing, 3, part), None, "other size");
        assert_eq!(reusable_part(&existing, 4, part), None, "never sent");
    }

    #[test]
    fn summary_line_says_what_happened() {
        let s = Summary {
            site_uploaded: vec!["en/index.html".into()],
            site_unchanged: 9,
            site_stale_kept: vec!["old.html".into()],
            invalidated: vec!["/en/".into(), "/en/index.html".into()],
            bytes_uploaded: 2048,
            ..Summary::default()
        };
        assert_eq!(
            s.to_string(),
            "deployed: uploaded 1 site file(s) and 0 media file(s) (2.0 KiB); 9 unchanged; \
             0 deleted; 1 stale object(s) kept (pass --delete to remove); 2 path(s) invalidated"
        );
    }
}
