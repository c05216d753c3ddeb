//! [`Store`] on one DynamoDB table: the production store of the account Lambdas.
//!
//! Single-table design (documented with access patterns in ARCHITECTURE.md, "functions"):
//!
//! | item            | `pk`                   | `sk`                 | TTL (`expires_at`)        |
//! |-----------------|------------------------|----------------------|---------------------------|
//! | account         | `ACCOUNT#{email}`      | `ACCOUNT`            | —                         |
//! | pending code    | `ACCOUNT#{email}`      | `CODE#{purpose}`     | code expiry               |
//! | session ref     | `ACCOUNT#{email}`      | `SESSION#{hash hex}` | session expiry            |
//! | session         | `SESSION#{hash hex}`   | `SESSION`            | session expiry            |
//! | counter         | `COUNTER#{key}`        | `COUNTER`            | window end + 1 day        |
//! | download        | `DOWNLOADS#{yyyy-mm}`  | `{at ns:020}#{rand}` | —                         |
//! | download months | `DOWNLOADS`            | `MONTHS`             | —                         |
//!
//! Every atomic promise of the [`Store`] contract is a single conditional write, so races are
//! settled by DynamoDB itself: `attribute_not_exists(pk)` creates one account per email, a
//! conditional `DeleteItem` consumes a code once, a conditional `ADD` caps wrong guesses, a
//! session and its reference under the account are written in one `TransactWriteItems`, and so
//! are a reset's new password and the end of the account's other sessions.
//! Timestamps are stored as epoch nanoseconds (`*_ns`, exact round trip and comparable in
//! condition expressions); the TTL attribute is epoch seconds, rounded up so DynamoDB never
//! purges an item before it has expired (expiry is enforced on read regardless — TTL is late).

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, Put, ReturnValue, TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Datelike, Utc};

use crate::contract::table::{PARTITION_KEY as PK, SORT_KEY as SK, TTL_ATTRIBUTE as TTL};
use crate::domain::{Email, Lang, Purpose};
use crate::ports::{
    Account, CodeRecord, Counter, DownloadRecord, Session, Store, StoreError, UpsertOutcome,
    MAX_ATOMIC_SESSION_ENDS,
};

type Item = HashMap<String, AttributeValue>;

/// How often a compare-and-set loop retries before reporting contention as a failure.
const MAX_RETRIES: usize = 8;

/// The most items one `TransactWriteItems` may hold.
const MAX_TRANSACTION_ITEMS: usize = 100;

// A reset's last transaction, the account update and two deletes per session, fits in one.
const _: () = assert!(2 * MAX_ATOMIC_SESSION_ENDS < MAX_TRANSACTION_ITEMS);

/// The DynamoDB-backed store. Cheap to clone (the SDK client is an `Arc`).
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

/// A DynamoDB call failed; carries the SDK's full error context (code, message, request id).
#[derive(Debug, thiserror::Error)]
#[error("DynamoDB {operation} failed: {detail}")]
pub struct DynamoFailure {
    operation: &'static str,
    detail: String,
}

fn failure<E: std::error::Error>(operation: &'static str, err: E) -> StoreError {
    StoreError::backend(DynamoFailure {
        operation,
        detail: DisplayErrorContext(&err).to_string(),
    })
}

/// Whether an SDK error is DynamoDB refusing a write because its condition did not hold.
fn condition_failed<E: ProvideErrorMetadata, R>(
    err: &aws_sdk_dynamodb::error::SdkError<E, R>,
) -> bool {
    err.as_service_error().and_then(|e| e.code()) == Some("ConditionalCheckFailedException")
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    async fn get(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, s(pk))
            .key(SK, s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| failure("GetItem", e))?;
        Ok(out.item)
    }

    async fn delete(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(PK, s(pk))
            .key(SK, s(sk))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| failure("DeleteItem", e))?;
        Ok(out.attributes)
    }

    /// A conditional `UpdateItem` on an existing account; false when there is no account.
    async fn update_account(
        &self,
        email: &Email,
        expression: String,
        values: Item,
    ) -> Result<bool, StoreError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(account_pk(email)))
            .key(SK, s(ACCOUNT_SK))
            .update_expression(expression)
            .condition_expression("attribute_exists(pk)");
        if !values.is_empty() {
            request = request.set_expression_attribute_values(Some(values));
        }
        match request.send().await {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(failure("UpdateItem", e)),
        }
    }

    /// The two deletes that end session `id` of `email`: the session and its reference.
    fn session_deletes(
        &self,
        email: &Email,
        id: &str,
    ) -> Result<[TransactWriteItem; 2], StoreError> {
        let session = Delete::builder()
            .table_name(&self.table)
            .key(PK, s(format!("SESSION#{id}")))
            .key(SK, s(SESSION_SK))
            .build()
            .map_err(|e| failure("TransactWriteItems", e))?;
        let reference = Delete::builder()
            .table_name(&self.table)
            .key(PK, s(account_pk(email)))
            .key(SK, s(format!("{SESSION_REF_PREFIX}{id}")))
            .build()
            .map_err(|e| failure("TransactWriteItems", e))?;
        Ok([
            TransactWriteItem::builder().delete(session).build(),
            TransactWriteItem::builder().delete(reference).build(),
        ])
    }

    /// Session ids under an account, following pagination.
    async fn session_refs(&self, email: &Email) -> Result<Vec<String>, StoreError> {
        let mut refs = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(account_pk(email)))
                .expression_attribute_values(":prefix", s(SESSION_REF_PREFIX))
                .projection_expression("sk")
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| failure("Query", e))?;
            for item in out.items() {
                let sk = get_s(item, SK)?;
                if let Some(id) = sk.strip_prefix(SESSION_REF_PREFIX) {
                    refs.push(id.to_owned());
                }
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(refs),
            }
        }
    }
}

// ---- keys ----

const ACCOUNT_SK: &str = "ACCOUNT";
const SESSION_SK: &str = "SESSION";
const SESSION_REF_PREFIX: &str = "SESSION#";
const COUNTER_SK: &str = "COUNTER";
const DOWNLOAD_MONTHS_PK: &str = "DOWNLOADS";
const DOWNLOAD_MONTHS_SK: &str = "MONTHS";

fn account_pk(email: &Email) -> String {
    format!("ACCOUNT#{}", email.as_str())
}

fn code_sk(purpose: Purpose) -> String {
    format!("CODE#{}", purpose.as_str())
}

fn session_pk(token_hash: &[u8; 32]) -> String {
    format!("SESSION#{}", hex::encode(token_hash))
}

fn session_ref_sk(token_hash: &[u8; 32]) -> String {
    format!("{SESSION_REF_PREFIX}{}", hex::encode(token_hash))
}

fn counter_pk(key: &str) -> String {
    format!("COUNTER#{key}")
}

fn month_of(at: DateTime<Utc>) -> String {
    format!("{:04}-{:02}", at.year(), at.month())
}

fn downloads_pk(month: &str) -> String {
    format!("DOWNLOADS#{month}")
}

/// Sort key of a download: zero-padded nanoseconds sort as time; the suffix keeps two
/// downloads in the same nanosecond apart.
fn download_sk(at: DateTime<Utc>) -> String {
    format!("{:020}#{:08x}", ns(at).max(0), rand::random::<u32>())
}

// ---- attribute values ----

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn ns(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(i64::MAX)
}

fn ttl_seconds(t: DateTime<Utc>) -> i64 {
    let secs = t.timestamp();
    if t.timestamp_subsec_nanos() > 0 {
        secs + 1
    } else {
        secs
    }
}

fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v),
        _ => Err(StoreError::Corrupt(format!(
            "attribute `{name}` is not a string"
        ))),
    }
}

fn get_i64(item: &Item, name: &str) -> Result<i64, StoreError> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("attribute `{name}` is not an integer"))),
        _ => Err(StoreError::Corrupt(format!(
            "attribute `{name}` is not a number"
        ))),
    }
}

fn get_time(item: &Item, name: &str) -> Result<DateTime<Utc>, StoreError> {
    get_i64(item, name).map(DateTime::from_timestamp_nanos)
}

fn get_opt_time(item: &Item, name: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(_) => get_time(item, name).map(Some),
    }
}

fn get_hash(item: &Item, name: &str) -> Result<[u8; 32], StoreError> {
    match item.get(name) {
        Some(AttributeValue::B(blob)) => blob
            .as_ref()
            .try_into()
            .map_err(|_| StoreError::Corrupt(format!("attribute `{name}` is not 32 bytes"))),
        _ => Err(StoreError::Corrupt(format!(
            "attribute `{name}` is not binary"
        ))),
    }
}

fn get_email(item: &Item) -> Result<Email, StoreError> {
    Email::parse(get_s(item, "email")?)
        .map_err(|e| StoreError::Corrupt(format!("stored email is invalid: {e}")))
}

fn blob(bytes: &[u8]) -> AttributeValue {
    AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(bytes.to_vec()))
}

fn account_item(account: &Account) -> Item {
    let mut item = Item::from([
        (PK.to_owned(), s(account_pk(&account.email))),
        (SK.to_owned(), s(ACCOUNT_SK)),
        ("email".to_owned(), s(account.email.as_str())),
        ("password_hash".to_owned(), s(&account.password_hash)),
        (
            "verified".to_owned(),
            AttributeValue::Bool(account.verified),
        ),
        ("created_ns".to_owned(), n(ns(account.created_at))),
    ]);
    if let Some(lang) = &account.lang {
        item.insert("lang".to_owned(), s(lang.as_str()));
    }
    if let Some(at) = account.verified_at {
        item.insert("verified_ns".to_owned(), n(ns(at)));
    }
    if let Some(at) = account.newsletter_consent_at {
        item.insert("newsletter_ns".to_owned(), n(ns(at)));
    }
    item
}

fn account_from(item: &Item) -> Result<Account, StoreError> {
    Ok(Account {
        email: get_email(item)?,
        password_hash: get_s(item, "password_hash")?.to_owned(),
        verified: matches!(item.get("verified"), Some(AttributeValue::Bool(true))),
        lang: match item.get("lang") {
            Some(AttributeValue::S(v)) => Lang::parse(v),
            _ => None,
        },
        created_at: get_time(item, "created_ns")?,
        verified_at: get_opt_time(item, "verified_ns")?,
        newsletter_consent_at: get_opt_time(item, "newsletter_ns")?,
    })
}

fn code_from(item: &Item, purpose: Purpose) -> Result<CodeRecord, StoreError> {
    Ok(CodeRecord {
        email: get_email(item)?,
        purpose,
        hash: get_hash(item, "code_hash")?,
        created_at: get_time(item, "created_ns")?,
        expires_at: get_time(item, "expires_ns")?,
        attempts: u32::try_from(get_i64(item, "attempts")?)
            .map_err(|_| StoreError::Corrupt("attribute `attempts` is out of range".into()))?,
    })
}

fn counter_from(item: &Item) -> Result<Counter, StoreError> {
    Ok(Counter {
        count: u32::try_from(get_i64(item, "hits")?)
            .map_err(|_| StoreError::Corrupt("attribute `hits` is out of range".into()))?,
        window_start: get_time(item, "window_start_ns")?,
        last_at: get_time(item, "last_ns")?,
    })
}

fn session_from(item: &Item) -> Result<Session, StoreError> {
    Ok(Session {
        token_hash: get_hash(item, "token_hash")?,
        email: get_email(item)?,
        created_at: get_time(item, "created_ns")?,
        expires_at: get_time(item, "expires_ns")?,
    })
}

fn download_from(item: &Item) -> Result<DownloadRecord, StoreError> {
    Ok(DownloadRecord {
        at: get_time(item, "at_ns")?,
        email: get_email(item)?,
        video: get_s(item, "video")?.to_owned(),
        part: get_s(item, "part")?.to_owned(),
    })
}

#[async_trait]
impl Store for DynamoStore {
    async fn account(&self, email: &Email) -> Result<Option<Account>, StoreError> {
        self.get(account_pk(email), ACCOUNT_SK)
            .await?
            .as_ref()
            .map(account_from)
            .transpose()
    }

    async fn upsert_unverified_account(
        &self,
        account: &Account,
    ) -> Result<UpsertOutcome, StoreError> {
        for _ in 0..MAX_RETRIES {
            // 1. Create, if and only if the email is free.
            let created = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(account_item(account)))
                .condition_expression("attribute_not_exists(pk)")
                .send()
                .await;
            match created {
                Ok(_) => return Ok(UpsertOutcome::Created),
                Err(e) if condition_failed(&e) => {}
                Err(e) => return Err(failure("PutItem", e)),
            }
            // 2. Reclaim, if and only if the existing account is still unverified.
            let mut expression = "SET password_hash = :hash, created_ns = :created".to_owned();
            let mut values = Item::from([
                (":hash".to_owned(), s(&account.password_hash)),
                (":created".to_owned(), n(ns(account.created_at))),
                (":false".to_owned(), AttributeValue::Bool(false)),
            ]);
            match &account.lang {
                Some(lang) => {
                    expression.push_str(", lang = :lang");
                    values.insert(":lang".to_owned(), s(lang.as_str()));
                }
                None => expression.push_str(" REMOVE lang"),
            }
            let reclaimed = self
                .client
                .update_item()
                .table_name(&self.table)
                .key(PK, s(account_pk(&account.email)))
                .key(SK, s(ACCOUNT_SK))
                .update_expression(expression)
                .condition_expression("attribute_exists(pk) AND verified = :false")
                .set_expression_attribute_values(Some(values))
                .send()
                .await;
            match reclaimed {
                Ok(_) => return Ok(UpsertOutcome::Reclaimed),
                Err(e) if condition_failed(&e) => {}
                Err(e) => return Err(failure("UpdateItem", e)),
            }
            // 3. Either it is verified, or it vanished between 1 and 2: look, and retry if so.
            if self
                .account(&account.email)
                .await?
                .is_some_and(|a| a.verified)
            {
                return Ok(UpsertOutcome::AlreadyVerified);
            }
        }
        Err(StoreError::backend(DynamoFailure {
            operation: "upsert_unverified_account",
            detail: format!("still contended after {MAX_RETRIES} attempts"),
        }))
    }

    async fn mark_verified(&self, email: &Email, at: DateTime<Utc>) -> Result<bool, StoreError> {
        self.update_account(
            email,
            "SET verified = :true, verified_ns = if_not_exists(verified_ns, :at)".to_owned(),
            Item::from([
                (":true".to_owned(), AttributeValue::Bool(true)),
                (":at".to_owned(), n(ns(at))),
            ]),
        )
        .await
    }

    async fn set_newsletter(
        &self,
        email: &Email,
        consent_at: Option<DateTime<Utc>>,
    ) -> Result<bool, StoreError> {
        match consent_at {
            Some(at) => {
                self.update_account(
                    email,
                    "SET newsletter_ns = :at".to_owned(),
                    Item::from([(":at".to_owned(), n(ns(at)))]),
                )
                .await
            }
            None => {
                self.update_account(email, "REMOVE newsletter_ns".to_owned(), Item::new())
                    .await
            }
        }
    }

    async fn put_code(&self, code: &CodeRecord) -> Result<(), StoreError> {
        let item = Item::from([
            (PK.to_owned(), s(account_pk(&code.email))),
            (SK.to_owned(), s(code_sk(code.purpose))),
            ("email".to_owned(), s(code.email.as_str())),
            ("code_hash".to_owned(), blob(&code.hash)),
            ("created_ns".to_owned(), n(ns(code.created_at))),
            ("expires_ns".to_owned(), n(ns(code.expires_at))),
            (TTL.to_owned(), n(ttl_seconds(code.expires_at))),
            ("attempts".to_owned(), n(i64::from(code.attempts))),
        ]);
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| failure("PutItem", e))?;
        Ok(())
    }

    async fn code(
        &self,
        email: &Email,
        purpose: Purpose,
    ) -> Result<Option<CodeRecord>, StoreError> {
        self.get(account_pk(email), &code_sk(purpose))
            .await?
            .as_ref()
            .map(|item| code_from(item, purpose))
            .transpose()
    }

    async fn consume_code(
        &self,
        email: &Email,
        purpose: Purpose,
        hash: &[u8; 32],
        max_attempts: u32,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let deleted = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(PK, s(account_pk(email)))
            .key(SK, s(code_sk(purpose)))
            .condition_expression("code_hash = :hash AND attempts < :max AND expires_ns > :now")
            .expression_attribute_values(":hash", blob(hash))
            .expression_attribute_values(":max", n(i64::from(max_attempts)))
            .expression_attribute_values(":now", n(ns(now)))
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(failure("DeleteItem", e)),
        }
    }

    async fn record_wrong_code(
        &self,
        email: &Email,
        purpose: Purpose,
        hash: &[u8; 32],
        max_attempts: u32,
    ) -> Result<Option<u32>, StoreError> {
        let updated = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(account_pk(email)))
            .key(SK, s(code_sk(purpose)))
            .update_expression("ADD attempts :one")
            .condition_expression("attribute_exists(pk) AND code_hash = :hash AND attempts < :max")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":hash", blob(hash))
            .expression_attribute_values(":max", n(i64::from(max_attempts)))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        match updated {
            Ok(out) => {
                let attributes = out.attributes.unwrap_or_default();
                let attempts = get_i64(&attributes, "attempts")?;
                Ok(Some(u32::try_from(attempts).map_err(|_| {
                    StoreError::Corrupt("attribute `attempts` is out of range".into())
                })?))
            }
            Err(e) if condition_failed(&e) => Ok(None),
            Err(e) => Err(failure("UpdateItem", e)),
        }
    }

    async fn bump_counter(
        &self,
        key: &str,
        window: Duration,
        now: DateTime<Utc>,
    ) -> Result<Counter, StoreError> {
        let cutoff = ns(now - chrono_duration(window));
        let ttl = ttl_seconds(now + chrono_duration(window) + chrono::Duration::days(1));
        for _ in 0..MAX_RETRIES {
            // Count a hit in the open window, if one is open.
            let bumped = self
                .client
                .update_item()
                .table_name(&self.table)
                .key(PK, s(counter_pk(key)))
                .key(SK, s(COUNTER_SK))
                .update_expression("SET last_ns = :now, #ttl = :ttl ADD hits :one")
                .condition_expression("attribute_exists(pk) AND window_start_ns > :cutoff")
                .expression_attribute_names("#ttl", TTL)
                .expression_attribute_values(":now", n(ns(now)))
                .expression_attribute_values(":ttl", n(ttl))
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":cutoff", n(cutoff))
                .return_values(ReturnValue::AllNew)
                .send()
                .await;
            match bumped {
                Ok(out) => return counter_from(&out.attributes.unwrap_or_default()),
                Err(e) if condition_failed(&e) => {}
                Err(e) => return Err(failure("UpdateItem", e)),
            }
            // None open: open a new window, unless a racing call just did (then count in it).
            let counter = Counter {
                count: 1,
                window_start: now,
                last_at: now,
            };
            let opened = self
                .client
                .put_item()
                .table_name(&self.table)
                .item(PK, s(counter_pk(key)))
                .item(SK, s(COUNTER_SK))
                .item("hits", n(1))
                .item("window_start_ns", n(ns(now)))
                .item("last_ns", n(ns(now)))
                .item(TTL, n(ttl))
                .condition_expression("attribute_not_exists(pk) OR window_start_ns <= :cutoff")
                .expression_attribute_values(":cutoff", n(cutoff))
                .send()
                .await;
            match opened {
                Ok(_) => return Ok(counter),
                Err(e) if condition_failed(&e) => {}
                Err(e) => return Err(failure("PutItem", e)),
            }
        }
        Err(StoreError::backend(DynamoFailure {
            operation: "bump_counter",
            detail: format!("still contended after {MAX_RETRIES} attempts"),
        }))
    }

    async fn counter(&self, key: &str) -> Result<Option<Counter>, StoreError> {
        self.get(counter_pk(key), COUNTER_SK)
            .await?
            .as_ref()
            .map(counter_from)
            .transpose()
    }

    async fn clear_counter(&self, key: &str) -> Result<(), StoreError> {
        self.delete(counter_pk(key), COUNTER_SK).await.map(drop)
    }

    async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        let ttl = n(ttl_seconds(session.expires_at));
        let expires = n(ns(session.expires_at));
        let record = Put::builder()
            .table_name(&self.table)
            .item(PK, s(session_pk(&session.token_hash)))
            .item(SK, s(SESSION_SK))
            .item("token_hash", blob(&session.token_hash))
            .item("email", s(session.email.as_str()))
            .item("created_ns", n(ns(session.created_at)))
            .item("expires_ns", expires.clone())
            .item(TTL, ttl.clone())
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| failure("TransactWriteItems", e))?;
        let reference = Put::builder()
            .table_name(&self.table)
            .item(PK, s(account_pk(&session.email)))
            .item(SK, s(session_ref_sk(&session.token_hash)))
            .item("expires_ns", expires)
            .item(TTL, ttl)
            .build()
            .map_err(|e| failure("TransactWriteItems", e))?;
        self.client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(record).build())
            .transact_items(TransactWriteItem::builder().put(reference).build())
            .send()
            .await
            .map_err(|e| failure("TransactWriteItems", e))?;
        Ok(())
    }

    async fn session(&self, token_hash: &[u8; 32]) -> Result<Option<Session>, StoreError> {
        self.get(session_pk(token_hash), SESSION_SK)
            .await?
            .as_ref()
            .map(session_from)
            .transpose()
    }

    async fn delete_session(&self, token_hash: &[u8; 32]) -> Result<(), StoreError> {
        if let Some(old) = self.delete(session_pk(token_hash), SESSION_SK).await? {
            // The reference only helps `delete_sessions` find it; TTL purges any left behind.
            let email = get_email(&old)?;
            self.delete(account_pk(&email), &session_ref_sk(token_hash))
                .await?;
        }
        Ok(())
    }

    async fn reset_password(
        &self,
        email: &Email,
        password_hash: &str,
        verified_at: DateTime<Utc>,
        keep: Option<&[u8; 32]>,
    ) -> Result<Option<u64>, StoreError> {
        let keep = keep.map(hex::encode);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let ids: Vec<String> = self
                .session_refs(email)
                .await?
                .into_iter()
                .filter(|id| keep.as_deref() != Some(id.as_str()))
                .collect();
            // Above what one transaction holds, end the surplus sessions first, in transactions
            // of their own: if one fails, the password is unchanged and only sessions ended
            // (harmless), never the reverse.
            let (surplus, last) = ids.split_at(ids.len().saturating_sub(MAX_ATOMIC_SESSION_ENDS));
            for chunk in surplus.chunks(MAX_TRANSACTION_ITEMS / 2) {
                let mut items = Vec::with_capacity(chunk.len() * 2);
                for id in chunk {
                    items.extend(self.session_deletes(email, id)?);
                }
                self.client
                    .transact_write_items()
                    .set_transact_items(Some(items))
                    .send()
                    .await
                    .map_err(|e| failure("TransactWriteItems", e))?;
            }
            // Then the password, the verified flag and the remaining sessions, all or nothing.
            let account = Update::builder()
                .table_name(&self.table)
                .key(PK, s(account_pk(email)))
                .key(SK, s(ACCOUNT_SK))
                .update_expression(
                    "SET password_hash = :hash, verified = :true, \
                     verified_ns = if_not_exists(verified_ns, :at)",
                )
                .condition_expression("attribute_exists(pk)")
                .expression_attribute_values(":hash", s(password_hash))
                .expression_attribute_values(":true", AttributeValue::Bool(true))
                .expression_attribute_values(":at", n(ns(verified_at)))
                .build()
                .map_err(|e| failure("TransactWriteItems", e))?;
            let mut items = vec![TransactWriteItem::builder().update(account).build()];
            for id in last {
                items.extend(self.session_deletes(email, id)?);
            }
            let sent = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items))
                .send()
                .await;
            let reasons = match sent {
                Ok(_) => return Ok(Some(ids.len() as u64)),
                Err(e) => match e.as_service_error() {
                    Some(TransactWriteItemsError::TransactionCanceledException(c)) => c
                        .cancellation_reasons()
                        .iter()
                        .filter_map(|r| r.code().map(str::to_owned))
                        .collect::<Vec<_>>(),
                    _ => return Err(failure("TransactWriteItems", e)),
                },
            };
            // The account item is first and the only one with a condition.
            if reasons.first().map(String::as_str) == Some("ConditionalCheckFailed") {
                return Ok(None);
            }
            // A concurrent sign-out or sign-in touched one of the items: read the sessions again.
            if reasons.iter().any(|r| r == "TransactionConflict") && attempt < MAX_RETRIES {
                continue;
            }
            return Err(StoreError::backend(DynamoFailure {
                operation: "TransactWriteItems",
                detail: format!("transaction cancelled: {reasons:?}"),
            }));
        }
    }

    async fn record_download(&self, download: &DownloadRecord) -> Result<(), StoreError> {
        let month = month_of(download.at);
        // Register the month first, so a reader that sees the record also finds its month.
        self.client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(DOWNLOAD_MONTHS_PK))
            .key(SK, s(DOWNLOAD_MONTHS_SK))
            .update_expression("ADD months :month")
            .expression_attribute_values(":month", AttributeValue::Ss(vec![month.clone()]))
            .send()
            .await
            .map_err(|e| failure("UpdateItem", e))?;
        self.client
            .put_item()
            .table_name(&self.table)
            .item(PK, s(downloads_pk(&month)))
            .item(SK, s(download_sk(download.at)))
            .item("at_ns", n(ns(download.at)))
            .item("email", s(download.email.as_str()))
            .item("video", s(&download.video))
            .item("part", s(&download.part))
            .send()
            .await
            .map_err(|e| failure("PutItem", e))?;
        Ok(())
    }

    async fn downloads(&self, since: DateTime<Utc>) -> Result<Vec<DownloadRecord>, StoreError> {
        let mut months = match self
            .get(DOWNLOAD_MONTHS_PK.to_owned(), DOWNLOAD_MONTHS_SK)
            .await?
        {
            Some(item) => match item.get("months") {
                Some(AttributeValue::Ss(months)) => months.clone(),
                _ => {
                    return Err(StoreError::Corrupt(
                        "attribute `months` is not a string set".into(),
                    ))
                }
            },
            None => return Ok(Vec::new()),
        };
        let first = month_of(since);
        months.retain(|m| *m >= first);
        months.sort();
        let from = format!("{:020}", ns(since).max(0));
        let mut downloads = Vec::new();
        for month in months {
            let mut start: Option<Item> = None;
            loop {
                let out = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .key_condition_expression("pk = :pk AND sk >= :from")
                    .expression_attribute_values(":pk", s(downloads_pk(&month)))
                    .expression_attribute_values(":from", s(from.clone()))
                    .consistent_read(true)
                    .set_exclusive_start_key(start.take())
                    .send()
                    .await
                    .map_err(|e| failure("Query", e))?;
                for item in out.items() {
                    downloads.push(download_from(item)?);
                }
                match out.last_evaluated_key {
                    Some(key) if !key.is_empty() => start = Some(key),
                    _ => break,
                }
            }
        }
        downloads.retain(|d| d.at >= since);
        Ok(downloads)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_rounds_up_so_items_are_never_purged_early() {
        let t = DateTime::from_timestamp(1_700_000_000, 1).unwrap();
        assert_eq!(ttl_seconds(t), 1_700_000_001);
        let t = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        assert_eq!(ttl_seconds(t), 1_700_000_000);
    }

    #[test]
    fn download_sort_keys_sort_as_time() {
        let early = DateTime::from_timestamp(999_999_999, 0).unwrap();
        let late = DateTime::from_timestamp(1_000_000_000, 0).unwrap();
        assert!(download_sk(early) < download_sk(late));
        assert_eq!(month_of(late), "2001-09");
    }

    #[test]
    fn account_items_round_trip() {
        let account = Account {
            email: Email::parse("Jeanne@Example.org").unwrap(),
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
            verified: true,
            lang: Lang::parse("fr"),
            created_at: DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap(),
            verified_at: Some(DateTime::from_timestamp(1_700_000_100, 5).unwrap()),
            newsletter_consent_at: None,
        };
        let item = account_item(&account);
        assert_eq!(get_s(&item, PK).unwrap(), "ACCOUNT#jeanne@example.org");
        assert_eq!(account_from(&item).unwrap(), account);
    }
}
