//! The narrow interfaces the handlers need from the outside world, with no SDK type in sight.
//!
//! Each port has two real implementations: local (SQLite, an outbox folder, an HMAC-signed local
//! URL, a JSON file) for `pressroom serve` and the tests, and AWS (DynamoDB, SES, S3/CloudFront)
//! for Lambda. The flow tests in `tests/support/flows.rs` run against both, so every
//! implementation must honour the contracts documented here — in particular the atomic ones
//! (`upsert_unverified_account`, `consume_code`, `record_wrong_code`, `bump_counter`,
//! `reset_password`).

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{Email, Lang, Purpose};

/// Any failure of a backing service. Handlers turn it into a 500/503 without details.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend failed (I/O, network, throttling by the provider, corrupt row…).
    #[error("store backend failed: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A stored record could not be read back (wrong type, missing attribute).
    #[error("stored record is malformed: {0}")]
    Corrupt(String),
}

impl StoreError {
    pub fn backend(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        StoreError::Backend(Box::new(e))
    }
}

/// An account as stored. `password_hash` is an argon2id PHC string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub email: Email,
    pub password_hash: String,
    pub verified: bool,
    /// Language for emails (the one chosen at signup or at the last reset request).
    pub lang: Option<Lang>,
    pub created_at: DateTime<Utc>,
    pub verified_at: Option<DateTime<Utc>>,
    /// `Some(time of consent)` while subscribed to the newsletter.
    pub newsletter_consent_at: Option<DateTime<Utc>>,
}

/// What [`Store::upsert_unverified_account`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpsertOutcome {
    /// No account existed: one was created, unverified.
    Created,
    /// An unverified account existed: its password, language and creation time were replaced.
    Reclaimed,
    /// A verified account exists: nothing was changed.
    AlreadyVerified,
}

/// A pending one-time code. Only the keyed hash of the code is ever stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRecord {
    pub email: Email,
    pub purpose: Purpose,
    /// HMAC-SHA256(secret key, purpose ‖ email ‖ code), 32 bytes.
    pub hash: [u8; 32],
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Wrong guesses so far against this code.
    pub attempts: u32,
}

/// A fixed-window counter used for throttling and back-off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    /// Hits in the current window, this one included.
    pub count: u32,
    /// When the current window started.
    pub window_start: DateTime<Utc>,
    /// When the last hit happened.
    pub last_at: DateTime<Utc>,
}

/// A signed-in session. Only the SHA-256 of the cookie token is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub token_hash: [u8; 32],
    pub email: Email,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// One download, for the press office's records (`pressroom downloads export --csv`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DownloadRecord {
    pub at: DateTime<Utc>,
    pub email: Email,
    pub video: String,
    pub part: String,
}

/// How many other sessions [`Store::reset_password`] ends in the same transaction as the password
/// write on DynamoDB: one account update plus two deletes per session (the session and its
/// reference under the account) within `TransactWriteItems`' 100 items.
pub const MAX_ATOMIC_SESSION_ENDS: usize = 49;

/// Persistence for accounts, codes, throttling counters, sessions and the download log.
///
/// Expiry is the caller's business (handlers compare `expires_at` with the clock on every read);
/// stores may additionally purge expired items (DynamoDB TTL).
#[async_trait]
pub trait Store: Send + Sync {
    async fn account(&self, email: &Email) -> Result<Option<Account>, StoreError>;

    /// Atomically: create `account` if the email is free, or replace an *unverified* account's
    /// password hash, language and `created_at`; never touch a verified account. Concurrent calls
    /// for one email leave exactly one account.
    async fn upsert_unverified_account(
        &self,
        account: &Account,
    ) -> Result<UpsertOutcome, StoreError>;

    /// Marks the account verified (idempotent). Returns false when no such account exists.
    async fn mark_verified(&self, email: &Email, at: DateTime<Utc>) -> Result<bool, StoreError>;

    /// `Some(at)` subscribes with consent recorded at `at`; `None` unsubscribes.
    async fn set_newsletter(
        &self,
        email: &Email,
        consent_at: Option<DateTime<Utc>>,
    ) -> Result<bool, StoreError>;

    /// Stores a new code for `(email, purpose)`, replacing (and so killing) any previous one.
    async fn put_code(&self, code: &CodeRecord) -> Result<(), StoreError>;

    async fn code(&self, email: &Email, purpose: Purpose)
        -> Result<Option<CodeRecord>, StoreError>;

    /// Atomically deletes the code for `(email, purpose)` if and only if its hash is `hash`,
    /// it has had fewer than `max_attempts` wrong guesses and it has not expired at `now`.
    /// Returns whether this call consumed it: of many concurrent calls, at most one gets `true`.
    async fn consume_code(
        &self,
        email: &Email,
        purpose: Purpose,
        hash: &[u8; 32],
        max_attempts: u32,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Atomically counts one wrong guess against the code with this `hash`, only while its
    /// attempts are below `max_attempts`. Returns the new attempt count, or `None` when the code
    /// is gone, was replaced, or had already reached the limit. Concurrent calls can never push
    /// the count above `max_attempts`.
    async fn record_wrong_code(
        &self,
        email: &Email,
        purpose: Purpose,
        hash: &[u8; 32],
        max_attempts: u32,
    ) -> Result<Option<u32>, StoreError>;

    /// Atomically counts one hit on `key`: starts a new window (count 1) if none is open or the
    /// open one started at or before `now - window`, otherwise increments. Returns the counter
    /// after the hit.
    async fn bump_counter(
        &self,
        key: &str,
        window: Duration,
        now: DateTime<Utc>,
    ) -> Result<Counter, StoreError>;

    /// The counter for `key` as stored (possibly from an elapsed window), without counting.
    async fn counter(&self, key: &str) -> Result<Option<Counter>, StoreError>;

    async fn clear_counter(&self, key: &str) -> Result<(), StoreError>;

    async fn create_session(&self, session: &Session) -> Result<(), StoreError>;

    async fn session(&self, token_hash: &[u8; 32]) -> Result<Option<Session>, StoreError>;

    async fn delete_session(&self, token_hash: &[u8; 32]) -> Result<(), StoreError>;

    /// The end of a password reset, all or nothing: replaces the password hash, marks the account
    /// verified (receiving the code proved the address; `verified_at` is kept if already set) and
    /// deletes every session of `email` except `keep` (the one that asked, if signed in as
    /// `email`). Returns how many sessions ended, or `None` when there is no such account (then
    /// nothing changed).
    ///
    /// DynamoDB writes it as one `TransactWriteItems`, whose limit of 100 items bounds it to
    /// [`MAX_ATOMIC_SESSION_ENDS`] sessions; above that the password write and the first sessions
    /// still go together, the rest follow (see `store::dynamo`).
    async fn reset_password(
        &self,
        email: &Email,
        password_hash: &str,
        verified_at: DateTime<Utc>,
        keep: Option<&[u8; 32]>,
    ) -> Result<Option<u64>, StoreError>;

    async fn record_download(&self, download: &DownloadRecord) -> Result<(), StoreError>;

    /// Downloads at or after `since`, oldest first.
    async fn downloads(&self, since: DateTime<Utc>) -> Result<Vec<DownloadRecord>, StoreError>;
}

/// A rendered account email, ready to send.
#[derive(Clone)]
pub struct OutgoingEmail {
    pub to: Email,
    /// `Pressroom <press@example.org>`.
    pub from: String,
    pub reply_to: Option<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// The complete MIME message (multipart/alternative, built with lettre), for backends that
    /// send raw messages (SES raw, the outbox's `.eml` files).
    pub mime: Vec<u8>,
    /// The code in the message, if any — only so the local outbox can print it for developers.
    /// Delivering adapters must never log it.
    pub dev_code: Option<String>,
    /// `verify`, `reset` or `notice`.
    pub template: &'static str,
}

impl std::fmt::Debug for OutgoingEmail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutgoingEmail")
            .field("to", &self.to)
            .field("template", &self.template)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("could not build the email: {0}")]
    Build(String),
    #[error("could not deliver the email: {0}")]
    Delivery(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// This process has no mailer (see [`NotWired`]).
    #[error("the function `{0}` is built without a mailer")]
    NotWired(&'static str),
}

/// Sends account emails.
#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), MailError>;
}

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("could not sign the download URL: {0}")]
    Failed(String),
    /// This process has no signer (see [`NotWired`]).
    #[error("the function `{0}` is built without a download signer")]
    NotWired(&'static str),
}

/// Turns a catalog file into a short-lived download URL.
#[async_trait]
pub trait Signer: Send + Sync {
    /// A URL to `file` (relative to the media root, e.g. `abc/full.mp4`) valid for `ttl`, that
    /// makes the browser save it as `filename` (`Content-Disposition: attachment`).
    async fn sign(
        &self,
        file: &str,
        filename: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<String, SignError>;
}

/// The published catalog of downloadable videos (`public/_pressroom/videos.json`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VideoCatalog {
    pub videos: std::collections::BTreeMap<String, CatalogVideo>,
}

impl VideoCatalog {
    /// The part `part` of video `video`, if the catalog lists it.
    pub fn part(&self, video: &str, part: &str) -> Option<&CatalogPart> {
        self.videos.get(video).and_then(|v| v.parts.get(part))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogVideo {
    #[serde(default)]
    pub title: String,
    pub parts: std::collections::BTreeMap<String, CatalogPart>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogPart {
    /// Path under the media root: `<id>/full.mp4`.
    pub file: String,
    /// Name the browser saves it as: `<id>-full.mp4`.
    pub filename: String,
    #[serde(default)]
    pub start: Option<f64>,
    #[serde(default)]
    pub end: Option<f64>,
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("the video catalog is unavailable: {0}")]
    Unavailable(String),
    #[error("the video catalog is malformed: {0}")]
    Malformed(String),
    /// This process has no catalog (see [`NotWired`]).
    #[error("the function `{0}` is built without the video catalog")]
    NotWired(&'static str),
}

/// Looks up what may be downloaded.
#[async_trait]
pub trait Catalog: Send + Sync {
    /// The part `part` of video `video`, if the catalog lists it.
    async fn part(&self, video: &str, part: &str) -> Result<Option<CatalogPart>, CatalogError>;
}

/// The [`Mailer`], [`Signer`] and [`Catalog`] of a Lambda that does not use that port: each
/// binary links only the SDK clients its [`crate::contract::Function`] flags name, and fills the
/// other ports with this. It cannot be reached (the binary answers 404 to every route but its
/// own, and those do not use the port); if it ever were, the call fails with the port's typed
/// `NotWired` error, which the handlers answer like any failing backend (500/503) — no panic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotWired {
    /// The function built without the port, for the log.
    pub function: &'static str,
}

#[async_trait]
impl Mailer for NotWired {
    async fn send(&self, _email: &OutgoingEmail) -> Result<(), MailError> {
        Err(MailError::NotWired(self.function))
    }
}

#[async_trait]
impl Signer for NotWired {
    async fn sign(
        &self,
        _file: &str,
        _filename: &str,
        _ttl: Duration,
        _now: DateTime<Utc>,
    ) -> Result<String, SignError> {
        Err(SignError::NotWired(self.function))
    }
}

#[async_trait]
impl Catalog for NotWired {
    async fn part(&self, _video: &str, _part: &str) -> Result<Option<CatalogPart>, CatalogError> {
        Err(CatalogError::NotWired(self.function))
    }
}

/// The current time. Handlers never call `Utc::now()` directly so tests can move time.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock tests move by hand (shared: clones see the same time).
#[derive(Debug, Clone)]
pub struct ManualClock(std::sync::Arc<std::sync::Mutex<DateTime<Utc>>>);

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        ManualClock(std::sync::Arc::new(std::sync::Mutex::new(start)))
    }

    pub fn advance(&self, by: Duration) {
        let mut t = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *t += chrono::Duration::from_std(by).unwrap_or(chrono::Duration::MAX);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}
