//! The AWS adapters (DynamoDB store, SES mailer, S3 signer and catalog) against a real AWS-API
//! server on loopback (`moto_server`, see `support/moto.rs`).
//!
//! These prove what the local tests cannot: that our expressions, conditions and transactions
//! are valid DynamoDB, that the atomic promises of the `Store` contract hold under concurrent
//! requests to a real server, that SES receives what we think we send, and that a presigned URL
//! downloads the right bytes with the right headers. Each test starts its own server.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use functions::domain::{Email, Lang, Purpose};
use functions::mail::ses::{SesMailer, SesSettings};
use functions::ports::{
    Account, Catalog, CatalogError, CodeRecord, DownloadRecord, Mailer, OutgoingEmail, Session,
    Signer, Store, UpsertOutcome,
};
use functions::sign::s3::{S3Catalog, S3Signer};
use functions::store::dynamo::DynamoStore;
use tests::moto::{Moto, Provisioned};

struct Aws {
    moto: Moto,
    sdk: aws_config::SdkConfig,
    provisioned: Provisioned,
}

async fn aws() -> Aws {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let provisioned = moto.provision(&sdk).await.expect("provisioning moto");
    Aws {
        moto,
        sdk,
        provisioned,
    }
}

impl Aws {
    fn store(&self) -> DynamoStore {
        DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&self.sdk),
            &self.provisioned.table,
        )
    }

    fn s3(&self) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(Moto::s3_config(&self.sdk))
    }
}

fn email(raw: &str) -> Email {
    Email::parse(raw).unwrap()
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 14, 9, 30, 0).unwrap() + chrono::Duration::nanoseconds(123)
}

fn account(address: &str, hash: &str) -> Account {
    Account {
        email: email(address),
        password_hash: hash.to_owned(),
        verified: false,
        lang: Lang::parse("fr"),
        created_at: t0(),
        verified_at: None,
        newsletter_consent_at: None,
    }
}

fn code(address: &str, purpose: Purpose, hash: u8, expires_in_s: i64) -> CodeRecord {
    CodeRecord {
        email: email(address),
        purpose,
        hash: [hash; 32],
        created_at: t0(),
        expires_at: t0() + chrono::Duration::seconds(expires_in_s),
        attempts: 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn accounts_are_created_reclaimed_while_unverified_then_frozen() {
    let aws = aws().await;
    let store = aws.store();
    let first = account("Jeanne@Example.org", "hash-1");
    assert_eq!(store.account(&first.email).await.unwrap(), None);
    assert_eq!(
        store.upsert_unverified_account(&first).await.unwrap(),
        UpsertOutcome::Created
    );
    assert_eq!(
        store.account(&first.email).await.unwrap(),
        Some(first.clone())
    );

    let mut second = account("jeanne@example.org", "hash-2");
    second.lang = None;
    assert_eq!(
        store.upsert_unverified_account(&second).await.unwrap(),
        UpsertOutcome::Reclaimed
    );
    let stored = store.account(&first.email).await.unwrap().unwrap();
    assert_eq!(stored.password_hash, "hash-2");
    assert_eq!(stored.lang, None, "a reclaim replaces the language too");

    let verified_at = t0() + chrono::Duration::minutes(3);
    assert!(store
        .mark_verified(&first.email, verified_at)
        .await
        .unwrap());
    assert!(
        store
            .mark_verified(&first.email, verified_at + chrono::Duration::hours(1))
            .await
            .unwrap(),
        "marking verified is idempotent"
    );
    let stored = store.account(&first.email).await.unwrap().unwrap();
    assert!(stored.verified);
    assert_eq!(
        stored.verified_at,
        Some(verified_at),
        "first verification time is kept"
    );
    assert_eq!(
        store
            .upsert_unverified_account(&account("jeanne@example.org", "attacker"))
            .await
            .unwrap(),
        UpsertOutcome::AlreadyVerified
    );
    assert_eq!(
        store
            .account(&first.email)
            .await
            .unwrap()
            .unwrap()
            .password_hash,
        "hash-2",
        "a verified account is never overwritten by a signup"
    );

    assert_eq!(
        store
            .reset_password(
                &first.email,
                "hash-3",
                t0() + chrono::Duration::days(1),
                None
            )
            .await
            .unwrap(),
        Some(0)
    );
    assert!(store
        .set_newsletter(&first.email, Some(verified_at))
        .await
        .unwrap());
    let stored = store.account(&first.email).await.unwrap().unwrap();
    assert_eq!(stored.password_hash, "hash-3");
    assert_eq!(
        stored.verified_at,
        Some(verified_at),
        "a reset keeps the first verification time"
    );
    assert_eq!(stored.newsletter_consent_at, Some(verified_at));
    assert!(store.set_newsletter(&first.email, None).await.unwrap());
    assert_eq!(
        store
            .account(&first.email)
            .await
            .unwrap()
            .unwrap()
            .newsletter_consent_at,
        None
    );

    let nobody = email("nobody@example.org");
    assert!(!store.mark_verified(&nobody, t0()).await.unwrap());
    assert_eq!(
        store
            .reset_password(&nobody, "x", t0(), None)
            .await
            .unwrap(),
        None
    );
    assert!(!store.set_newsletter(&nobody, Some(t0())).await.unwrap());
    assert_eq!(
        store.account(&nobody).await.unwrap(),
        None,
        "updates never create accounts"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_signups_for_one_email_make_exactly_one_account() {
    let aws = aws().await;
    let store = Arc::new(aws.store());
    let attempts = 24;
    let mut tasks = Vec::new();
    for i in 0..attempts {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .upsert_unverified_account(&account("race@example.org", &format!("hash-{i}")))
                .await
                .unwrap()
        }));
    }
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    let created = outcomes
        .iter()
        .filter(|o| **o == UpsertOutcome::Created)
        .count();
    assert_eq!(created, 1, "outcomes: {outcomes:?}");
    assert!(outcomes
        .iter()
        .all(|o| matches!(o, UpsertOutcome::Created | UpsertOutcome::Reclaimed)));

    let scan = aws_sdk_dynamodb::Client::new(&aws.sdk)
        .scan()
        .table_name(&aws.provisioned.table)
        .send()
        .await
        .unwrap();
    let accounts = scan
        .items()
        .iter()
        .filter(|item| item["sk"].as_s().is_ok_and(|sk| sk == "ACCOUNT"))
        .count();
    assert_eq!(accounts, 1, "one account item in the table");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_code_is_consumed_once_and_only_while_valid() {
    let aws = aws().await;
    let store = Arc::new(aws.store());
    let address = "code@example.org";
    let record = code(address, Purpose::Signup, 7, 600);
    store.put_code(&record).await.unwrap();
    assert_eq!(
        store.code(&record.email, Purpose::Signup).await.unwrap(),
        Some(record.clone())
    );
    assert_eq!(
        store.code(&record.email, Purpose::Reset).await.unwrap(),
        None
    );

    let now = t0() + chrono::Duration::seconds(10);
    let e = record.email.clone();
    assert!(!store
        .consume_code(&e, Purpose::Signup, &[8; 32], 5, now)
        .await
        .unwrap());
    assert!(!store
        .consume_code(&e, Purpose::Reset, &[7; 32], 5, now)
        .await
        .unwrap());
    let expired = t0() + chrono::Duration::seconds(600);
    assert!(
        !store
            .consume_code(&e, Purpose::Signup, &[7; 32], 5, expired)
            .await
            .unwrap(),
        "a code is dead at its expiry instant, whatever DynamoDB TTL has not purged yet"
    );

    let mut tasks = Vec::new();
    for _ in 0..16 {
        let store = store.clone();
        let e = e.clone();
        tasks.push(tokio::spawn(async move {
            store
                .consume_code(&e, Purpose::Signup, &[7; 32], 5, now)
                .await
                .unwrap()
        }));
    }
    let mut wins = 0;
    for task in tasks {
        wins += usize::from(task.await.unwrap());
    }
    assert_eq!(wins, 1, "one code, one use");
    assert_eq!(store.code(&e, Purpose::Signup).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_wrong_codes_cannot_exceed_the_limit() {
    let aws = aws().await;
    let store = Arc::new(aws.store());
    let record = code("guess@example.org", Purpose::Reset, 3, 600);
    store.put_code(&record).await.unwrap();
    let max = 5;
    let mut tasks = Vec::new();
    for _ in 0..30 {
        let store = store.clone();
        let e = record.email.clone();
        tasks.push(tokio::spawn(async move {
            store
                .record_wrong_code(&e, Purpose::Reset, &[3; 32], max)
                .await
                .unwrap()
        }));
    }
    let mut counted = Vec::new();
    for task in tasks {
        if let Some(n) = task.await.unwrap() {
            counted.push(n);
        }
    }
    counted.sort_unstable();
    assert_eq!(counted, (1..=max).collect::<Vec<_>>());
    let stored = store
        .code(&record.email, Purpose::Reset)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.attempts, max);
    let now = t0() + chrono::Duration::seconds(1);
    assert!(
        !store
            .consume_code(&record.email, Purpose::Reset, &[3; 32], max, now)
            .await
            .unwrap(),
        "the right code is refused once the guesses are used up"
    );
    assert_eq!(
        store
            .record_wrong_code(&record.email, Purpose::Reset, &[9; 32], max)
            .await
            .unwrap(),
        None,
        "a guess against a replaced code counts nothing"
    );

    // A new code replaces the old one, attempts and all.
    store
        .put_code(&code("guess@example.org", Purpose::Reset, 4, 600))
        .await
        .unwrap();
    assert_eq!(
        store
            .record_wrong_code(&record.email, Purpose::Reset, &[4; 32], max)
            .await
            .unwrap(),
        Some(1)
    );
    assert_eq!(
        store
            .record_wrong_code(&record.email, Purpose::Reset, &[3; 32], max)
            .await
            .unwrap(),
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn counters_count_atomically_in_fixed_windows() {
    let aws = aws().await;
    let store = Arc::new(aws.store());
    let window = Duration::from_secs(60);
    let key = "login:ip:203.0.113.7";
    assert_eq!(store.counter(key).await.unwrap(), None);

    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let now = t0() + chrono::Duration::milliseconds(i);
            store.bump_counter(key, window, now).await.unwrap().count
        }));
    }
    let mut counts = Vec::new();
    for task in tasks {
        counts.push(task.await.unwrap());
    }
    counts.sort_unstable();
    assert_eq!(
        counts,
        (1..=20).collect::<Vec<_>>(),
        "every hit counted once"
    );
    let counter = store.counter(key).await.unwrap().unwrap();
    assert_eq!(counter.count, 20);
    assert!(counter.window_start >= t0() && counter.window_start < t0() + window_ms(20));

    // Exactly one window after the window opened, a new one starts.
    let later = counter.window_start + chrono::Duration::seconds(60);
    let fresh = store.bump_counter(key, window, later).await.unwrap();
    assert_eq!(
        (fresh.count, fresh.window_start, fresh.last_at),
        (1, later, later)
    );
    let again = store
        .bump_counter(key, window, later + chrono::Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!((again.count, again.window_start), (2, later));

    store.clear_counter(key).await.unwrap();
    assert_eq!(store.counter(key).await.unwrap(), None);
}

fn window_ms(ms: i64) -> chrono::Duration {
    chrono::Duration::milliseconds(ms)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sessions_are_found_by_token_and_revoked_per_account() {
    let aws = aws().await;
    let store = aws.store();
    let owner = email("sessions@example.org");
    let other = email("other@example.org");
    let session = |byte: u8, who: &Email| Session {
        token_hash: [byte; 32],
        email: who.clone(),
        created_at: t0(),
        expires_at: t0() + chrono::Duration::days(14),
    };
    for byte in 1..=3 {
        store.create_session(&session(byte, &owner)).await.unwrap();
    }
    store.create_session(&session(9, &other)).await.unwrap();
    assert_eq!(
        store.session(&[2; 32]).await.unwrap(),
        Some(session(2, &owner))
    );

    store.delete_session(&[1; 32]).await.unwrap();
    assert_eq!(store.session(&[1; 32]).await.unwrap(), None);
    store.delete_session(&[1; 32]).await.unwrap();

    // A password reset signs out every other device: 2 and 3 remain, keep 3.
    store
        .upsert_unverified_account(&account(owner.as_str(), "old"))
        .await
        .unwrap();
    assert_eq!(
        store
            .reset_password(&owner, "new", t0(), Some(&[3; 32]))
            .await
            .unwrap(),
        Some(1)
    );
    assert_eq!(store.session(&[2; 32]).await.unwrap(), None);
    assert!(store.session(&[3; 32]).await.unwrap().is_some());
    let stored = store.account(&owner).await.unwrap().unwrap();
    assert_eq!(
        (stored.password_hash.as_str(), stored.verified),
        ("new", true)
    );
    assert_eq!(
        store
            .reset_password(&owner, "newer", t0(), None)
            .await
            .unwrap(),
        Some(1)
    );
    assert_eq!(store.session(&[3; 32]).await.unwrap(), None);
    assert!(
        store.session(&[9; 32]).await.unwrap().is_some(),
        "other accounts keep their sessions"
    );
}

/// One `TransactWriteItems` holds 100 items: the account update and 49 sessions (two items
/// each). A reset with more ends the surplus first, then writes the password with the last 49,
/// so every session ends and the password is never new while an old session is still open.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reset_ends_more_sessions_than_one_transaction_holds() {
    use functions::ports::MAX_ATOMIC_SESSION_ENDS;
    let aws = aws().await;
    let store = aws.store();
    let owner = email("busy@example.org");
    store
        .upsert_unverified_account(&account(owner.as_str(), "old"))
        .await
        .unwrap();
    let sessions = 2 * MAX_ATOMIC_SESSION_ENDS as u8 + 3; // 101: three transactions
    for byte in 0..sessions {
        let session = Session {
            token_hash: [byte; 32],
            email: owner.clone(),
            created_at: t0(),
            expires_at: t0() + chrono::Duration::days(14),
        };
        store.create_session(&session).await.unwrap();
    }
    let keep = [7; 32];
    assert_eq!(
        store
            .reset_password(&owner, "new", t0(), Some(&keep))
            .await
            .unwrap(),
        Some(u64::from(sessions) - 1)
    );
    for byte in 0..sessions {
        assert_eq!(
            store.session(&[byte; 32]).await.unwrap().is_some(),
            byte == 7,
            "session {byte}"
        );
    }
    let stored = store.account(&owner).await.unwrap().unwrap();
    assert_eq!(
        (stored.password_hash.as_str(), stored.verified),
        ("new", true)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn downloads_are_listed_oldest_first_across_months() {
    let aws = aws().await;
    let store = aws.store();
    let at = |month: u32, day: u32| Utc.with_ymd_and_hms(2026, month, day, 12, 0, 0).unwrap();
    let record = |at: DateTime<Utc>, video: &str| DownloadRecord {
        at,
        email: email("journalist@example.org"),
        video: video.to_owned(),
        part: "full".to_owned(),
    };
    for r in [
        record(at(3, 2), "c"),
        record(at(1, 31), "a"),
        record(at(2, 1), "b"),
    ] {
        store.record_download(&r).await.unwrap();
    }
    let all = store.downloads(at(1, 1)).await.unwrap();
    let videos: Vec<_> = all.iter().map(|d| d.video.as_str()).collect();
    assert_eq!(videos, ["a", "b", "c"]);
    assert_eq!(all[0], record(at(1, 31), "a"));
    let since_feb = store.downloads(at(2, 1)).await.unwrap();
    assert_eq!(since_feb.len(), 2, "the bound is inclusive");
    assert!(store.downloads(at(4, 1)).await.unwrap().is_empty());
}

fn outgoing(to: &str, code: &str) -> OutgoingEmail {
    OutgoingEmail {
        to: email(to),
        from: "Pressroom <press@example.org>".to_owned(),
        reply_to: None,
        subject: "Votre code de vérification".to_owned(),
        text: format!("Votre code : {code}"),
        html: format!("<p>Votre code : <strong>{code}</strong></p>"),
        mime: Vec::new(),
        dev_code: Some(code.to_owned()),
        template: "verify",
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ses_receives_the_code_from_the_configured_sender() {
    let aws = aws().await;
    let p = &aws.provisioned;
    let mailer = SesMailer::new(
        aws_sdk_sesv2::Client::new(&aws.sdk),
        SesSettings {
            sender: p.sender.clone(),
            reply_to: Some(p.reply_to.clone()),
            configuration_set: Some(p.configuration_set.clone()),
        },
    );
    mailer
        .send(&outgoing("Lea@Example.org", "042917"))
        .await
        .unwrap();
    let sent = aws.moto.emails_to("lea@example.org").await.unwrap();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].source, p.sender);
    assert_eq!(sent[0].subject, "Votre code de vérification");
    assert_eq!(sent[0].code().as_deref(), Some("042917"));
    assert!(
        sent[0].body.contains("<strong>042917</strong>"),
        "HTML part sent"
    );

    let unverified = SesMailer::new(
        aws_sdk_sesv2::Client::new(&aws.sdk),
        SesSettings {
            sender: "Someone <someone@elsewhere.example>".to_owned(),
            reply_to: None,
            configuration_set: None,
        },
    );
    let err = unverified
        .send(&outgoing("lea@example.org", "111111"))
        .await
        .expect_err("SES refuses an unverified sender");
    let message = format!("{err}: {:?}", std::error::Error::source(&err));
    assert!(message.contains("MessageRejected"), "{message}");
    assert!(
        !message.contains("lea@example.org"),
        "errors name no recipient: {message}"
    );
}

fn query_param(url: &reqwest::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn presigned_urls_download_the_video_as_an_attachment() {
    let aws = aws().await;
    let catalog = S3Catalog::new(aws.s3(), &aws.provisioned.bucket);
    let signer = S3Signer::new(aws.s3(), &aws.provisioned.bucket);
    let http = reqwest::Client::new();
    for (video, part_name) in [
        ("briefing-2024-05-02", "full"),
        ("point-presse-ete", "extrait-1"),
    ] {
        let part = catalog
            .part(video, part_name)
            .await
            .unwrap()
            .expect("listed");
        let ttl = Duration::from_secs(300);
        let url = signer
            .sign(&part.file, &part.filename, ttl, Utc::now())
            .await
            .unwrap();
        let parsed = reqwest::Url::parse(&url).unwrap();
        assert!(url.starts_with(aws.moto.endpoint()), "{url}");
        assert_eq!(
            parsed.path(),
            format!("/{}/videos/{}", aws.provisioned.bucket, part.file)
        );
        assert_eq!(
            query_param(&parsed, "X-Amz-Expires").as_deref(),
            Some("300")
        );
        assert_eq!(
            query_param(&parsed, "X-Amz-SignedHeaders").as_deref(),
            Some("host")
        );
        let disposition = query_param(&parsed, "response-content-disposition").unwrap();
        assert_eq!(
            disposition,
            functions::sign::s3::content_disposition(&part.filename)
        );
        assert!(disposition.starts_with("attachment; filename=\""));

        let response = http.get(&url).send().await.unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        // Real S3 answers with `Content-Disposition` copied from the signed
        // `response-content-disposition` parameter; moto (5.x) ignores the `response-*`
        // overrides, so the header cannot be checked here — the signed parameter above is.
        let bytes = response.bytes().await.unwrap();
        let expected = &aws
            .provisioned
            .videos
            .iter()
            .find(|(file, _)| *file == part.file)
            .unwrap()
            .1;
        assert_eq!(bytes.len(), expected.len());
        assert!(
            bytes.as_ref() == expected.as_slice(),
            "downloaded bytes differ"
        );
    }
    assert_eq!(
        catalog.part("briefing-2024-05-02", "teaser").await.unwrap(),
        None
    );
    assert_eq!(catalog.part("nope", "full").await.unwrap(), None);
    assert!(signer
        .sign("../secret", "x.mp4", Duration::from_secs(60), Utc::now())
        .await
        .is_err());
    assert!(
        signer
            .sign(
                "a/full.mp4",
                "x.mp4",
                Duration::from_secs(8 * 24 * 3600),
                Utc::now()
            )
            .await
            .is_err(),
        "SigV4 URLs cannot outlive 7 days"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_catalog_is_cached_and_a_missing_one_is_reported() {
    let aws = aws().await;
    let s3 = aws.s3();
    let catalog = S3Catalog::new(aws.s3(), &aws.provisioned.bucket);
    assert!(catalog
        .part("briefing-2024-05-02", "full")
        .await
        .unwrap()
        .is_some());
    s3.delete_object()
        .bucket(&aws.provisioned.bucket)
        .key(functions::contract::catalog::MEDIA_KEY)
        .send()
        .await
        .unwrap();
    assert!(
        catalog
            .part("briefing-2024-05-02", "full")
            .await
            .unwrap()
            .is_some(),
        "served from the cache"
    );
    let uncached = S3Catalog::new(aws.s3(), &aws.provisioned.bucket).with_max_age(Duration::ZERO);
    match uncached.part("briefing-2024-05-02", "full").await {
        Err(CatalogError::Unavailable(reason)) => {
            assert!(reason.contains("pressroom deploy"), "{reason}")
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    s3.put_object()
        .bucket(&aws.provisioned.bucket)
        .key(functions::contract::catalog::MEDIA_KEY)
        .body(b"{not json".to_vec().into())
        .send()
        .await
        .unwrap();
    assert!(matches!(
        uncached.part("x", "y").await,
        Err(CatalogError::Malformed(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_code_key_comes_from_secrets_manager() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let create = |name: &'static str, value: String| {
        let secrets = secrets.clone();
        async move {
            secrets
                .create_secret()
                .name(name)
                .secret_string(value)
                .send()
                .await
                .unwrap()
                .arn()
                .unwrap()
                .to_owned()
        }
    };
    let generated = "k3Y".repeat(21) + "z"; // 64 alphanumerics, as the template generates
    let arn = create("pressroom-code-key", format!("{generated}\n")).await;
    let key = functions::aws::code_key(&secrets, &arn).await.unwrap();
    assert_eq!(key.bytes(), generated.as_bytes(), "trimmed, used as is");

    let short = create("too-short", "x".repeat(16)).await;
    let err = functions::aws::code_key(&secrets, &short)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("16 bytes"), "{err}");

    let err = functions::aws::code_key(
        &secrets,
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:nope",
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("could not read the secret"),
        "{err}"
    );
}

// ---- the whole account journey, through the handlers, on DynamoDB + SES + S3 ----

const ORIGIN: &str = "http://127.0.0.1:8080";
const PASSWORD: &str = "Correct-Horse-42!";

/// An [`App`] wired exactly as a Lambda's cold start wires it (`functions::aws`), pointed at moto.
async fn aws_app(aws: &Aws) -> functions::handlers::App {
    use functions::contract::env;
    let p = &aws.provisioned;
    let secrets = aws_sdk_secretsmanager::Client::new(&aws.sdk);
    let arn = secrets
        .create_secret()
        .name("pressroom-code-key")
        .secret_string("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01")
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_owned();
    let vars = [
        (env::TABLE, p.table.clone()),
        (env::SENDER, p.sender.clone()),
        (env::REPLY_TO, p.reply_to.clone()),
        (env::SES_CONFIGURATION_SET, p.configuration_set.clone()),
        (env::MEDIA_BUCKET, p.bucket.clone()),
        (env::SECRET_ARN, arn),
        (env::SITE_ORIGIN, ORIGIN.to_owned()),
        (env::PASSWORD_POLICY, "composition".to_owned()),
        (env::PASSWORD_MIN_LENGTH, "12".to_owned()),
        (env::DOWNLOAD_TTL_SECONDS, "120".to_owned()),
    ];
    let lookup = |name: &str| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    };
    let config = functions::config::Config::from_lookup(lookup).unwrap();
    let settings = functions::aws::AwsEnv::from_lookup(lookup).unwrap();
    let adapters = functions::aws::adapters_with_s3(&settings, &aws.sdk, aws.s3())
        .await
        .unwrap();
    let theme = functions::mail::template::EmailTheme::embedded().unwrap();
    theme.validate(&config.email).unwrap();
    functions::handlers::App::new(
        config,
        adapters.code_key,
        Arc::new(adapters.store),
        adapters.mailer,
        adapters.signer,
        adapters.catalog,
        Arc::new(theme),
    )
}

fn api(
    method: http::Method,
    path: &str,
    body: Option<serde_json::Value>,
    cookie: Option<&str>,
) -> functions::handlers::ApiRequest {
    let mut req = functions::handlers::ApiRequest::new(method, path);
    req.headers
        .insert(http::header::ORIGIN, http::HeaderValue::from_static(ORIGIN));
    req.client_ip = Some("203.0.113.9".parse().unwrap());
    if let Some(body) = body {
        req.headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        req.body = serde_json::to_vec(&body).unwrap().into();
    }
    if let Some(cookie) = cookie {
        req.headers.insert(
            http::header::COOKIE,
            http::HeaderValue::from_str(cookie).unwrap(),
        );
    }
    req
}

fn session_cookie(response: &functions::handlers::ApiResponse) -> String {
    let set_cookie = response
        .headers
        .get(http::header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .expect("a session cookie");
    set_cookie.split(';').next().unwrap().to_owned()
}

async fn latest_code(aws: &Aws, address: &str) -> String {
    let sent = aws.moto.emails_to(address).await.unwrap();
    sent.last()
        .and_then(|m| m.code())
        .unwrap_or_else(|| panic!("no code emailed to {address}: {sent:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_journalist_signs_up_verifies_signs_in_and_downloads_on_aws() {
    use functions::handlers::handle;
    use http::Method;
    let aws = aws().await;
    let app = aws_app(&aws).await;
    let address = "reporter@example.org";

    let signup =
        json_body(serde_json::json!({"email": address, "password": PASSWORD, "lang": "fr"}));
    let r = handle(&app, api(Method::POST, "/api/signup", signup, None)).await;
    assert_eq!(r.status, 202, "{:?}", r.json_body());
    let sent = aws.moto.emails_to(address).await.unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].source, aws.provisioned.sender);
    let code = sent[0].code().expect("a six-digit code in the email");

    let r = handle(
        &app,
        api(
            Method::POST,
            "/api/verify",
            json_body(serde_json::json!({"email": address, "code": code})),
            None,
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.json_body());
    let r = handle(
        &app,
        api(
            Method::POST,
            "/api/verify",
            json_body(serde_json::json!({"email": address, "code": code})),
            None,
        ),
    )
    .await;
    assert!(
        r.status.is_client_error(),
        "a code works once: {:?}",
        r.json_body()
    );

    let r = handle(
        &app,
        api(
            Method::POST,
            "/api/login",
            json_body(serde_json::json!({"email": address, "password": PASSWORD})),
            None,
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.json_body());
    let cookie = session_cookie(&r);
    let r = handle(&app, api(Method::GET, "/api/me", None, Some(&cookie))).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json_body()["email"], address, "{:?}", r.json_body());

    let r = handle(
        &app,
        api(
            Method::GET,
            "/api/download?video=point-presse-ete&part=extrait-1",
            None,
            Some(&cookie),
        ),
    )
    .await;
    assert_eq!(r.status, 303, "{:?}", r.json_body());
    let url = r.json_body()["url"].as_str().unwrap().to_owned();
    let parsed = reqwest::Url::parse(&url).unwrap();
    assert_eq!(
        query_param(&parsed, "X-Amz-Expires").as_deref(),
        Some("120")
    );
    assert_eq!(
        query_param(&parsed, "response-content-disposition").as_deref(),
        Some("attachment; filename=\"point-presse-_t_-extrait-1.mp4\"; filename*=UTF-8''point-presse-%C3%A9t%C3%A9-extrait-1.mp4")
    );
    let bytes = reqwest::get(&url).await.unwrap().bytes().await.unwrap();
    assert!(bytes.as_ref() == tests::moto::fixture_bytes(2, 4_096).as_slice());
    let log = app
        .store
        .downloads(Utc::now() - chrono::Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(
        (log[0].video.as_str(), log[0].part.as_str()),
        ("point-presse-ete", "extrait-1")
    );

    let r = handle(&app, api(Method::POST, "/api/logout", None, Some(&cookie))).await;
    assert!(r.status.is_success());
    let r = handle(&app, api(Method::GET, "/api/me", None, Some(&cookie))).await;
    assert_eq!(
        r.error_code().as_deref(),
        Some("not_signed_in"),
        "the session is gone from DynamoDB: {:?}",
        r.json_body()
    );
}

fn json_body(value: serde_json::Value) -> Option<serde_json::Value> {
    Some(value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_signups_through_the_api_make_one_account() {
    use functions::handlers::handle;
    let aws = aws().await;
    let app = Arc::new(aws_app(&aws).await);
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let body = serde_json::json!({"email": "twice@example.org", "password": PASSWORD});
            handle(
                &app,
                api(http::Method::POST, "/api/signup", Some(body), None),
            )
            .await
            .status
        }));
    }
    for task in tasks {
        let status = task.await.unwrap();
        assert!(status == 202 || status == 429, "{status}");
    }
    let accounts = aws_sdk_dynamodb::Client::new(&aws.sdk)
        .scan()
        .table_name(&aws.provisioned.table)
        .send()
        .await
        .unwrap()
        .items()
        .iter()
        .filter(|item| item["sk"].as_s().is_ok_and(|sk| sk == "ACCOUNT"))
        .count();
    assert_eq!(accounts, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_wrong_codes_through_the_api_kill_the_code() {
    use functions::handlers::{handle, MAX_CODE_ATTEMPTS};
    let aws = aws().await;
    let app = Arc::new(aws_app(&aws).await);
    let address = "guesser@example.org";
    let body = serde_json::json!({"email": address, "password": PASSWORD});
    let r = handle(
        &app,
        api(http::Method::POST, "/api/signup", Some(body), None),
    )
    .await;
    assert_eq!(r.status, 202);
    let code = latest_code(&aws, address).await;
    let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
    let mut tasks = Vec::new();
    for _ in 0..15 {
        let app = app.clone();
        let wrong = wrong.clone();
        tasks.push(tokio::spawn(async move {
            let body = serde_json::json!({"email": address, "code": wrong});
            handle(
                &app,
                api(http::Method::POST, "/api/verify", Some(body), None),
            )
            .await
            .status
        }));
    }
    for task in tasks {
        assert!(task.await.unwrap().is_client_error());
    }
    let stored = app
        .store
        .code(&email(address), Purpose::Signup)
        .await
        .unwrap();
    if let Some(stored) = stored {
        assert!(
            stored.attempts <= MAX_CODE_ATTEMPTS,
            "{} attempts",
            stored.attempts
        );
    }
    let body = serde_json::json!({"email": address, "code": code});
    let r = handle(
        &app,
        api(http::Method::POST, "/api/verify", Some(body), None),
    )
    .await;
    assert!(
        r.status.is_client_error(),
        "after {MAX_CODE_ATTEMPTS} wrong guesses even the right code is refused: {:?}",
        r.json_body()
    );
}

// ---- the generic account flows (`support/flows.rs`), on the AWS backend ----

/// Reads SES messages back from moto, shaped as the flows expect (`headers`, blank line, body).
/// Raw messages come back byte for byte. Of a simple message moto keeps only the HTML part, so
/// its body becomes the HTML's text: tags (and the colours in their `style` attributes) removed,
/// as a mail client would show it.
struct MotoInbox(String);

#[async_trait::async_trait]
impl tests::flows::Inbox for MotoInbox {
    async fn messages_to(&self, to: &str) -> Vec<String> {
        let moto = tests::moto::MotoClient::new(&self.0);
        moto.emails_to(to)
            .await
            .expect("reading SES messages from moto")
            .into_iter()
            .map(|m| {
                if m.raw {
                    // A raw message is stored as sent: the same MIME an outbox `.eml` holds.
                    return m.body;
                }
                format!(
                    "From: {}\r\nTo: {}\r\nSubject: {}\r\n\r\n{}",
                    m.source,
                    m.destinations.join(", "),
                    m.subject,
                    tests::moto::html_text(&m.body)
                )
            })
            .collect()
    }
}

async fn flow_backend() -> tests::flows::TestBackend {
    use tests::flows::{catalog_json, test_config, VIDEO};
    let aws = aws().await;
    let s3 = aws.s3();
    let bucket = &aws.provisioned.bucket;
    for part in ["full", "q1"] {
        s3.put_object()
            .bucket(bucket)
            .key(format!("videos/{VIDEO}/{part}.mp4"))
            .body(tests::moto::fixture_bytes(3, 1_000).into())
            .send()
            .await
            .unwrap();
    }
    s3.put_object()
        .bucket(bucket)
        .key(functions::contract::catalog::MEDIA_KEY)
        .body(catalog_json().to_string().into_bytes().into())
        .send()
        .await
        .unwrap();
    let wired = aws_app(&aws).await;
    let mut config = test_config();
    config.email.sender = aws.provisioned.sender.clone();
    let app = functions::handlers::App::new(
        config,
        wired.key.clone(),
        wired.store.clone(),
        wired.mailer.clone(),
        wired.signer.clone(),
        wired.catalog.clone(),
        wired.theme.clone(),
    );
    let inbox = MotoInbox(aws.moto.endpoint().to_owned());
    tests::flows::TestBackend::new(app, Arc::new(inbox)).with_guard(aws)
}

mod flows_on_aws {
    use super::*;

    tests::flow_tests!(flow_backend);
}
