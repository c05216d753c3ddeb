//! The account flows (`support/flows.rs`) on the local backend: SQLite, the outbox folder of
//! `.eml` files, the HMAC-signed local media URLs and the catalog file. Plus what only the local
//! server has: the `/media-signed/` route serving the file as an attachment.

use std::sync::Arc;

use axum::body::Body;
use functions::crypto::SecretKey;
use functions::handlers::App;
use functions::mail::outbox::OutboxMailer;
use functions::mail::template::EmailTheme;
use functions::sign::local::{FileCatalog, LocalSigner};
use functions::store::sqlite::SqliteStore;
use http::{header, Method, Request, StatusCode};
use serde_json::json;
use tests::flows::{catalog_json, test_config, OutboxInbox, TestBackend, ORIGIN, VIDEO};
use tower::ServiceExt;

struct Local {
    backend: TestBackend,
    media: std::path::PathBuf,
    signer: LocalSigner,
}

fn local() -> Local {
    let dir = tempfile::tempdir().unwrap();
    let key = SecretKey::generate();
    let store = SqliteStore::open(&dir.path().join("accounts.sqlite3")).unwrap();
    let outbox = dir.path().join("outbox");
    let mailer = OutboxMailer::new(&outbox, false).unwrap();
    let catalog = dir.path().join("videos.json");
    std::fs::write(&catalog, catalog_json().to_string()).unwrap();
    let media = dir.path().join("media");
    std::fs::create_dir_all(media.join(VIDEO)).unwrap();
    std::fs::write(media.join(VIDEO).join("q1.mp4"), b"not really an mp4").unwrap();
    let signer = LocalSigner::new(key.clone());
    let app = App::new(
        test_config(),
        key,
        Arc::new(store),
        Arc::new(mailer),
        Arc::new(signer.clone()),
        Arc::new(FileCatalog::new(&catalog)),
        Arc::new(EmailTheme::embedded().unwrap()),
    );
    let backend = TestBackend::new(app, Arc::new(OutboxInbox(outbox))).with_guard(dir);
    Local {
        backend,
        media,
        signer,
    }
}

async fn backend() -> TestBackend {
    local().backend
}

tests::flow_tests!(backend);

/// The whole loop through the axum router: sign in, ask for a download, follow the 303 to the
/// signed local URL, get the file as an attachment; a tampered link is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_through_the_local_router() {
    let l = local();
    let cookie = l.backend.verified_account("router@example.org").await;
    let router =
        functions::http::local_router(l.backend.app.clone(), l.signer.clone(), l.media.clone());
    let resp = router
        .clone()
        .oneshot(
            Request::get(format!("/api/download?video={VIDEO}&part=q1"))
                .header(header::COOKIE, &cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let location = resp.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned();
    let resp = router
        .clone()
        .oneshot(Request::get(&location).body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let disposition = resp.headers()[header::CONTENT_DISPOSITION]
        .to_str()
        .unwrap();
    assert!(
        disposition.starts_with(&format!("attachment; filename=\"{VIDEO}-q1.mp4\"")),
        "{disposition}"
    );
    let body = axum::body::to_bytes(resp.into_body(), 1024).await.unwrap();
    assert_eq!(&body[..], b"not really an mp4");

    let tampered = location.replace("q1.mp4?", "full.mp4?");
    let resp = router
        .clone()
        .oneshot(Request::get(&tampered).body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    // POSTs through the router need the site's Origin too.
    let resp = router
        .oneshot(
            Request::builder()
                .method(Method::POST)
                .uri("/api/logout")
                .header(header::ORIGIN, "https://evil.test")
                .body(Body::from(json!({}).to_string()))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let _ = ORIGIN;
}
