//! The [`Store`] for `pressroom serve` and the tests: one SQLite file (WAL) under `.pressroom/`.
//!
//! One connection behind a mutex, used from `spawn_blocking`; every multi-step operation is a
//! single conditional statement or an immediate transaction, so the atomicity promised by the
//! port holds even if several processes share the file.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use crate::domain::{Email, Lang, Purpose};
use crate::ports::{
    Account, CodeRecord, Counter, DownloadRecord, Session, Store, StoreError, UpsertOutcome,
};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS accounts (
    email TEXT PRIMARY KEY NOT NULL,
    password_hash TEXT NOT NULL,
    verified INTEGER NOT NULL DEFAULT 0,
    lang TEXT,
    created_at INTEGER NOT NULL,
    verified_at INTEGER,
    newsletter_consent_at INTEGER
);
CREATE TABLE IF NOT EXISTS codes (
    email TEXT NOT NULL,
    purpose TEXT NOT NULL,
    hash BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (email, purpose)
);
CREATE TABLE IF NOT EXISTS counters (
    key TEXT PRIMARY KEY NOT NULL,
    count INTEGER NOT NULL,
    window_start INTEGER NOT NULL,
    last_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash BLOB PRIMARY KEY NOT NULL,
    email TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_email ON sessions (email);
CREATE TABLE IF NOT EXISTS downloads (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    email TEXT NOT NULL,
    video TEXT NOT NULL,
    part TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS downloads_by_time ON downloads (at);
";

/// SQLite-backed store. Cheap to clone (shares the connection).
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteStore")
    }
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_ms(v: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(v)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn hash32(v: Vec<u8>) -> Result<[u8; 32], StoreError> {
    v.try_into()
        .map_err(|_| StoreError::Corrupt("hash is not 32 bytes".into()))
}

fn email_col(v: String) -> Result<Email, StoreError> {
    Email::parse(&v).map_err(|_| StoreError::Corrupt("stored email does not parse".into()))
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, in WAL mode, and applies the schema.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path).map_err(StoreError::backend)?;
        Self::init(conn)
    }

    /// A private in-memory database (tests).
    pub fn in_memory() -> Result<Self, StoreError> {
        let conn = Connection::open_in_memory().map_err(StoreError::backend)?;
        Self::init(conn)
    }

    fn init(conn: Connection) -> Result<Self, StoreError> {
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(StoreError::backend)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(StoreError::backend)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(StoreError::backend)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(StoreError::backend)?;
        conn.execute_batch(SCHEMA).map_err(StoreError::backend)?;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` with the connection on the blocking pool.
    async fn with<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(StoreError::backend)?
    }
}

/// An `accounts` row as stored: email, hash, verified, lang, created, verified at, consent at.
type AccountRow = (
    String,
    String,
    bool,
    Option<String>,
    i64,
    Option<i64>,
    Option<i64>,
);

fn row_account(row: &rusqlite::Row<'_>) -> rusqlite::Result<AccountRow> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
    ))
}

#[async_trait]
impl Store for SqliteStore {
    async fn account(&self, email: &Email) -> Result<Option<Account>, StoreError> {
        let key = email.as_str().to_owned();
        self.with(move |c| {
            let row = c
                .query_row(
                    "SELECT email, password_hash, verified, lang, created_at, verified_at, newsletter_consent_at
                     FROM accounts WHERE email = ?1",
                    params![key],
                    row_account,
                )
                .optional()
                .map_err(StoreError::backend)?;
            row.map(|(email, password_hash, verified, lang, created, verified_at, consent)| {
                Ok(Account {
                    email: email_col(email)?,
                    password_hash,
                    verified,
                    lang: lang.and_then(|l| Lang::parse(&l)),
                    created_at: from_ms(created),
                    verified_at: verified_at.map(from_ms),
                    newsletter_consent_at: consent.map(from_ms),
                })
            })
            .transpose()
        })
        .await
    }

    async fn upsert_unverified_account(
        &self,
        account: &Account,
    ) -> Result<UpsertOutcome, StoreError> {
        let a = account.clone();
        self.with(move |c| {
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(StoreError::backend)?;
            let existing: Option<bool> = tx
                .query_row(
                    "SELECT verified FROM accounts WHERE email = ?1",
                    params![a.email.as_str()],
                    |r| r.get(0),
                )
                .optional()
                .map_err(StoreError::backend)?;
            let lang = a.lang.as_ref().map(|l| l.as_str().to_owned());
            let outcome = match existing {
                Some(true) => UpsertOutcome::AlreadyVerified,
                Some(false) => {
                    tx.execute(
                        "UPDATE accounts SET password_hash = ?2, lang = ?3, created_at = ?4
                         WHERE email = ?1 AND verified = 0",
                        params![a.email.as_str(), a.password_hash, lang, ms(a.created_at)],
                    )
                    .map_err(StoreError::backend)?;
                    UpsertOutcome::Reclaimed
                }
                None => {
                    tx.execute(
                        "INSERT INTO accounts (email, password_hash, verified, lang, created_at)
                         VALUES (?1, ?2, 0, ?3, ?4)",
                        params![a.email.as_str(), a.password_hash, lang, ms(a.created_at)],
                    )
                    .map_err(StoreError::backend)?;
                    UpsertOutcome::Created
                }
            };
            tx.commit().map_err(StoreError::backend)?;
            Ok(outcome)
        })
        .await
    }

    async fn mark_verified(&self, email: &Email, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let key = email.as_str().to_owned();
        self.with(move |c| {
            let n = c
                .execute(
                    "UPDATE accounts SET verified = 1, verified_at = COALESCE(verified_at, ?2)
                     WHERE email = ?1",
                    params![key, ms(at)],
                )
                .map_err(StoreError::backend)?;
            Ok(n == 1)
        })
        .await
    }

    async fn set_newsletter(
        &self,
        email: &Email,
        consent_at: Option<DateTime<Utc>>,
    ) -> Result<bool, StoreError> {
        let key = email.as_str().to_owned();
        self.with(move |c| {
            let n = c
                .execute(
                    "UPDATE accounts SET newsletter_consent_at = ?2 WHERE email = ?1",
                    params![key, consent_at.map(ms)],
                )
                .map_err(StoreError::backend)?;
            Ok(n == 1)
        })
        .await
    }

    async fn put_code(&self, code: &CodeRecord) -> Result<(), StoreError> {
        let r = code.clone();
        self.with(move |c| {
            c.execute(
                "INSERT OR REPLACE INTO codes (email, purpose, hash, created_at, expires_at, attempts)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    r.email.as_str(),
                    r.purpose.as_str(),
                    r.hash.to_vec(),
                    ms(r.created_at),
                    ms(r.expires_at),
                    r.attempts
                ],
            )
            .map_err(StoreError::backend)?;
            Ok(())
        })
        .await
    }

    async fn code(
        &self,
        email: &Email,
        purpose: Purpose,
    ) -> Result<Option<CodeRecord>, StoreError> {
        let e = email.clone();
        self.with(move |c| {
            let row: Option<(Vec<u8>, i64, i64, u32)> = c
                .query_row(
                    "SELECT hash, created_at, expires_at, attempts FROM codes
                     WHERE email = ?1 AND purpose = ?2",
                    params![e.as_str(), purpose.as_str()],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()
                .map_err(StoreError::backend)?;
            row.map(|(hash, created, expires, attempts)| {
                Ok(CodeRecord {
                    email: e.clone(),
                    purpose,
                    hash: hash32(hash)?,
                    created_at: from_ms(created),
                    expires_at: from_ms(expires),
                    attempts,
                })
            })
            .transpose()
        })
        .await
    }

    async fn consume_code(
        &self,
        email: &Email,
        purpose: Purpose,
        hash: &[u8; 32],
        max_attempts: u32,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let key = email.as_str().to_owned();
        let hash = hash.to_vec();
        self.with(move |c| {
            let n = c
                .execute(
                    "DELETE FROM codes WHERE email = ?1 AND purpose = ?2 AND hash = ?3
                     AND attempts < ?4 AND expires_at > ?5",
                    params![key, purpose.as_str(), hash, max_attempts, ms(now)],
                )
                .map_err(StoreError::backend)?;
            Ok(n == 1)
        })
        .await
    }

    async fn record_wrong_code(
        &self,
        email: &Email,
        purpose: Purpose,
        hash: &[u8; 32],
        max_attempts: u32,
    ) -> Result<Option<u32>, StoreError> {
        let key = email.as_str().to_owned();
        let hash = hash.to_vec();
        self.with(move |c| {
            c.query_row(
                "UPDATE codes SET attempts = attempts + 1
                 WHERE email = ?1 AND purpose = ?2 AND hash = ?3 AND attempts < ?4
                 RETURNING attempts",
                params![key, purpose.as_str(), hash, max_attempts],
                |r| r.get(0),
            )
            .optional()
            .map_err(StoreError::backend)
        })
        .await
    }

    async fn bump_counter(
        &self,
        key: &str,
        window: Duration,
        now: DateTime<Utc>,
    ) -> Result<Counter, StoreError> {
        let key = key.to_owned();
        let window_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
        self.with(move |c| {
            let now_ms = ms(now);
            let (count, start, last): (u32, i64, i64) = c
                .query_row(
                    "INSERT INTO counters (key, count, window_start, last_at) VALUES (?1, 1, ?2, ?2)
                     ON CONFLICT (key) DO UPDATE SET
                       count = CASE WHEN window_start <= ?2 - ?3 THEN 1 ELSE count + 1 END,
                       window_start = CASE WHEN window_start <= ?2 - ?3 THEN ?2 ELSE window_start END,
                       last_at = ?2
                     RETURNING count, window_start, last_at",
                    params![key, now_ms, window_ms],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .map_err(StoreError::backend)?;
            Ok(Counter {
                count,
                window_start: from_ms(start),
                last_at: from_ms(last),
            })
        })
        .await
    }

    async fn counter(&self, key: &str) -> Result<Option<Counter>, StoreError> {
        let key = key.to_owned();
        self.with(move |c| {
            c.query_row(
                "SELECT count, window_start, last_at FROM counters WHERE key = ?1",
                params![key],
                |r| {
                    Ok(Counter {
                        count: r.get(0)?,
                        window_start: from_ms(r.get(1)?),
                        last_at: from_ms(r.get(2)?),
                    })
                },
            )
            .optional()
            .map_err(StoreError::backend)
        })
        .await
    }

    async fn clear_counter(&self, key: &str) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.with(move |c| {
            c.execute("DELETE FROM counters WHERE key = ?1", params![key])
                .map_err(StoreError::backend)?;
            Ok(())
        })
        .await
    }

    async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        let s = session.clone();
        self.with(move |c| {
            c.execute(
                "INSERT INTO sessions (token_hash, email, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
                params![s.token_hash.to_vec(), s.email.as_str(), ms(s.created_at), ms(s.expires_at)],
            )
            .map_err(StoreError::backend)?;
            Ok(())
        })
        .await
    }

    async fn session(&self, token_hash: &[u8; 32]) -> Result<Option<Session>, StoreError> {
        let h = *token_hash;
        self.with(move |c| {
            let row: Option<(String, i64, i64)> = c
                .query_row(
                    "SELECT email, created_at, expires_at FROM sessions WHERE token_hash = ?1",
                    params![h.to_vec()],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()
                .map_err(StoreError::backend)?;
            row.map(|(email, created, expires)| {
                Ok(Session {
                    token_hash: h,
                    email: email_col(email)?,
                    created_at: from_ms(created),
                    expires_at: from_ms(expires),
                })
            })
            .transpose()
        })
        .await
    }

    async fn delete_session(&self, token_hash: &[u8; 32]) -> Result<(), StoreError> {
        let h = token_hash.to_vec();
        self.with(move |c| {
            c.execute("DELETE FROM sessions WHERE token_hash = ?1", params![h])
                .map_err(StoreError::backend)?;
            Ok(())
        })
        .await
    }

    async fn reset_password(
        &self,
        email: &Email,
        password_hash: &str,
        verified_at: DateTime<Utc>,
        keep: Option<&[u8; 32]>,
    ) -> Result<Option<u64>, StoreError> {
        let key = email.as_str().to_owned();
        let hash = password_hash.to_owned();
        let keep = keep.map(|k| k.to_vec()).unwrap_or_default();
        self.with(move |c| {
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(StoreError::backend)?;
            let updated = tx
                .execute(
                    "UPDATE accounts SET password_hash = ?2, verified = 1,
                         verified_at = COALESCE(verified_at, ?3)
                     WHERE email = ?1",
                    params![key, hash, ms(verified_at)],
                )
                .map_err(StoreError::backend)?;
            if updated != 1 {
                return Ok(None);
            }
            let ended = tx
                .execute(
                    "DELETE FROM sessions WHERE email = ?1 AND token_hash <> ?2",
                    params![key, keep],
                )
                .map_err(StoreError::backend)?;
            tx.commit().map_err(StoreError::backend)?;
            Ok(Some(ended as u64))
        })
        .await
    }

    async fn record_download(&self, download: &DownloadRecord) -> Result<(), StoreError> {
        let d = download.clone();
        self.with(move |c| {
            c.execute(
                "INSERT INTO downloads (at, email, video, part) VALUES (?1, ?2, ?3, ?4)",
                params![ms(d.at), d.email.as_str(), d.video, d.part],
            )
            .map_err(StoreError::backend)?;
            Ok(())
        })
        .await
    }

    async fn downloads(&self, since: DateTime<Utc>) -> Result<Vec<DownloadRecord>, StoreError> {
        self.with(move |c| {
            let mut stmt = c
                .prepare(
                    "SELECT at, email, video, part FROM downloads WHERE at >= ?1 ORDER BY at, id",
                )
                .map_err(StoreError::backend)?;
            let rows = stmt
                .query_map(params![ms(since)], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                    ))
                })
                .map_err(StoreError::backend)?;
            let mut out = Vec::new();
            for row in rows {
                let (at, email, video, part) = row.map_err(StoreError::backend)?;
                out.push(DownloadRecord {
                    at: from_ms(at),
                    email: email_col(email)?,
                    video,
                    part,
                });
            }
            Ok(out)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email() -> Email {
        Email::parse("jane@example.org").unwrap()
    }

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + s, 0).unwrap()
    }

    fn account(hash: &str) -> Account {
        Account {
            email: email(),
            password_hash: hash.into(),
            verified: false,
            lang: Lang::parse("fr"),
            created_at: t(0),
            verified_at: None,
            newsletter_consent_at: None,
        }
    }

    #[tokio::test]
    async fn upsert_creates_reclaims_and_protects_verified() {
        let s = SqliteStore::in_memory().unwrap();
        assert_eq!(
            s.upsert_unverified_account(&account("a")).await.unwrap(),
            UpsertOutcome::Created
        );
        assert_eq!(
            s.upsert_unverified_account(&account("b")).await.unwrap(),
            UpsertOutcome::Reclaimed
        );
        assert_eq!(
            s.account(&email()).await.unwrap().unwrap().password_hash,
            "b"
        );
        assert!(s.mark_verified(&email(), t(1)).await.unwrap());
        assert_eq!(
            s.upsert_unverified_account(&account("c")).await.unwrap(),
            UpsertOutcome::AlreadyVerified
        );
        let a = s.account(&email()).await.unwrap().unwrap();
        assert_eq!(a.password_hash, "b");
        assert!(a.verified);
        assert_eq!(a.verified_at, Some(t(1)));
        assert_eq!(a.lang, Lang::parse("fr"));
    }

    #[tokio::test]
    async fn codes_are_consumed_once_and_attempts_capped() {
        let s = SqliteStore::in_memory().unwrap();
        let rec = CodeRecord {
            email: email(),
            purpose: Purpose::Signup,
            hash: [1; 32],
            created_at: t(0),
            expires_at: t(1800),
            attempts: 0,
        };
        s.put_code(&rec).await.unwrap();
        for n in 1..=5 {
            assert_eq!(
                s.record_wrong_code(&email(), Purpose::Signup, &[1; 32], 5)
                    .await
                    .unwrap(),
                Some(n)
            );
        }
        assert_eq!(
            s.record_wrong_code(&email(), Purpose::Signup, &[1; 32], 5)
                .await
                .unwrap(),
            None
        );
        assert!(!s
            .consume_code(&email(), Purpose::Signup, &[1; 32], 5, t(1))
            .await
            .unwrap());
        s.put_code(&rec).await.unwrap();
        assert!(!s
            .consume_code(&email(), Purpose::Signup, &[2; 32], 5, t(1))
            .await
            .unwrap());
        assert!(!s
            .consume_code(&email(), Purpose::Signup, &[1; 32], 5, t(1800))
            .await
            .unwrap());
        assert!(s
            .consume_code(&email(), Purpose::Signup, &[1; 32], 5, t(1))
            .await
            .unwrap());
        assert!(!s
            .consume_code(&email(), Purpose::Signup, &[1; 32], 5, t(1))
            .await
            .unwrap());
    }

    #[tokio::test]
    async fn counters_use_fixed_windows() {
        let s = SqliteStore::in_memory().unwrap();
        let w = Duration::from_secs(60);
        assert_eq!(s.bump_counter("k", w, t(0)).await.unwrap().count, 1);
        assert_eq!(s.bump_counter("k", w, t(30)).await.unwrap().count, 2);
        let c = s.bump_counter("k", w, t(60)).await.unwrap();
        assert_eq!((c.count, c.window_start), (1, t(60)));
        assert_eq!(s.counter("k").await.unwrap().unwrap().last_at, t(60));
        s.clear_counter("k").await.unwrap();
        assert!(s.counter("k").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn sessions_and_downloads() {
        let s = SqliteStore::in_memory().unwrap();
        for i in 0..3u8 {
            s.create_session(&Session {
                token_hash: [i; 32],
                email: email(),
                created_at: t(0),
                expires_at: t(100),
            })
            .await
            .unwrap();
        }
        assert_eq!(
            s.reset_password(&email(), "h", t(1), Some(&[1; 32]))
                .await
                .unwrap(),
            None,
            "no account: nothing changes"
        );
        assert!(s.session(&[0; 32]).await.unwrap().is_some());
        s.upsert_unverified_account(&account("a")).await.unwrap();
        assert_eq!(
            s.reset_password(&email(), "h", t(1), Some(&[1; 32]))
                .await
                .unwrap(),
            Some(2)
        );
        let a = s.account(&email()).await.unwrap().unwrap();
        assert_eq!((a.password_hash.as_str(), a.verified), ("h", true));
        assert_eq!(a.verified_at, Some(t(1)));
        assert!(s.session(&[1; 32]).await.unwrap().is_some());
        assert!(s.session(&[0; 32]).await.unwrap().is_none());
        s.delete_session(&[1; 32]).await.unwrap();
        assert!(s.session(&[1; 32]).await.unwrap().is_none());

        for (i, v) in ["a", "b"].iter().enumerate() {
            s.record_download(&DownloadRecord {
                at: t(i as i64 * 10),
                email: email(),
                video: (*v).into(),
                part: "full".into(),
            })
            .await
            .unwrap();
        }
        let since = s.downloads(t(5)).await.unwrap();
        assert_eq!(since.len(), 1);
        assert_eq!(since[0].video, "b");
    }
}
