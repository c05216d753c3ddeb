//! The account flows, written once and run against every backend: `accounts_sqlite.rs` runs
//! them on SQLite + the outbox folder, `accounts_aws.rs` on DynamoDB + SES (moto). Each flow
//! takes a fresh [`TestBackend`] and drives the real [`handle`] with JSON requests, reading the
//! codes from the backend's [`Inbox`] exactly as a user reads their email.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use functions::config::Config;
use functions::domain::{Email, PasswordPolicy, Purpose};
use functions::handlers::{handle, ApiRequest, ApiResponse, App, MAX_CODE_ATTEMPTS};
use functions::ports::{Account, ManualClock, UpsertOutcome};
use http::{header, HeaderValue, Method, StatusCode};
use serde_json::{json, Value};

/// The origin every flow request carries.
pub const ORIGIN: &str = "https://press.test";
/// A video the backend's catalog must list (see [`catalog_json`]).
pub const VIDEO: &str = "2018-04-26-pre-ministerial";
/// A strong password under the default (composition, 12) policy.
pub const PASSWORD: &str = "Brussels-Summit-2018!";
pub const NEW_PASSWORD: &str = "Warsaw#Summit-2016x";

/// The catalog the backend must publish, in the generator's `videos.json` shape.
pub fn catalog_json() -> Value {
    json!({"videos": {VIDEO: {"title": "Pre-ministerial press conference", "parts": {
        "full": {"file": format!("{VIDEO}/full.mp4"), "filename": format!("{VIDEO}-full.mp4"), "start": null, "end": null},
        "q1": {"file": format!("{VIDEO}/q1.mp4"), "filename": format!("{VIDEO}-q1.mp4"), "start": 0, "end": 581}
    }}}})
}

/// The configuration flows expect: origin [`ORIGIN`], the seed's policy, a short response floor.
pub fn test_config() -> Config {
    let mut c = Config::local(8080, PasswordPolicy::default(), "Pressroom", "en");
    c.allowed_origins = vec![ORIGIN.to_owned()];
    c.email.site_origin = ORIGIN.to_owned();
    c.email.sender = "Pressroom <press@press.test>".to_owned();
    c.response_floor = Duration::from_millis(60);
    c
}

/// Where a backend's emails can be read back.
#[async_trait]
pub trait Inbox: Send + Sync {
    /// Raw MIME messages sent to `to`, oldest first.
    async fn messages_to(&self, to: &str) -> Vec<String>;
}

/// Reads the local outbox folder of `.eml` files.
pub struct OutboxInbox(pub std::path::PathBuf);

#[async_trait]
impl Inbox for OutboxInbox {
    async fn messages_to(&self, to: &str) -> Vec<String> {
        let mut files: Vec<_> = std::fs::read_dir(&self.0)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.retain(|p| p.extension().is_some_and(|e| e == "eml"));
        files.sort();
        files
            .into_iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .filter(|m| {
                m.lines()
                    .take_while(|l| !l.is_empty())
                    .any(|l| l.eq_ignore_ascii_case(&format!("To: {to}")))
            })
            .collect()
    }
}

/// A backend under test: the app (on a manual clock) and its inbox.
pub struct TestBackend {
    pub app: App,
    pub inbox: Arc<dyn Inbox>,
    pub clock: ManualClock,
    /// Whatever must live as long as the backend (a temporary folder, a server).
    pub guard: Option<Box<dyn std::any::Any + Send + Sync>>,
}

impl TestBackend {
    /// Wraps an app built with [`test_config`], putting it on a manual clock starting now.
    pub fn new(app: App, inbox: Arc<dyn Inbox>) -> Self {
        let clock = ManualClock::new(Utc::now());
        let app = app.with_clock(Arc::new(clock.clone()));
        TestBackend {
            app,
            inbox,
            clock,
            guard: None,
        }
    }

    /// Keeps `guard` alive as long as the backend.
    pub fn with_guard(mut self, guard: impl std::any::Any + Send + Sync) -> Self {
        self.guard = Some(Box::new(guard));
        self
    }

    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> ApiResponse {
        self.call_as(method, path, body, None, 1).await
    }

    /// One request, optionally with a session cookie, from client `10.0.0.{ip}`.
    pub async fn call_as(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        cookie: Option<&str>,
        ip: u8,
    ) -> ApiResponse {
        let mut req = ApiRequest::new(method, path);
        req.headers
            .insert(header::ORIGIN, HeaderValue::from_static(ORIGIN));
        if let Some(c) = cookie {
            req.headers
                .insert(header::COOKIE, HeaderValue::from_str(c).unwrap());
        }
        if let Some(b) = body {
            req.body = serde_json::to_vec(&b).unwrap().into();
        }
        req.client_ip = Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, ip)));
        handle(&self.app, req).await
    }

    pub async fn post(&self, path: &str, body: Value) -> ApiResponse {
        self.call(Method::POST, path, Some(body)).await
    }

    /// The code in the latest email to `to`.
    pub async fn last_code(&self, to: &str) -> String {
        let messages = self.inbox.messages_to(to).await;
        let last = messages
            .last()
            .unwrap_or_else(|| panic!("no email to {to}"));
        code_in(last).unwrap_or_else(|| panic!("no code in the latest email to {to}"))
    }

    pub async fn mail_count(&self, to: &str) -> usize {
        self.inbox.messages_to(to).await.len()
    }

    /// Lets every throttling window close.
    pub fn wait(&self, secs: u64) {
        self.clock.advance(Duration::from_secs(secs));
    }

    async fn signup(&self, email: &str, password: &str) -> ApiResponse {
        self.post(
            "/api/signup",
            json!({"email": email, "password": password, "lang": "fr"}),
        )
        .await
    }

    /// Signs up and verifies `email`; returns the session cookie (`name=value`).
    pub async fn verified_account(&self, email: &str) -> String {
        let r = self.signup(email, PASSWORD).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.json_body());
        let code = self.last_code(email).await;
        let r = self
            .post("/api/verify", json!({"email": email, "code": code}))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json_body());
        cookie_of(&r).expect("verify sets a session cookie")
    }

    async fn account(&self, email: &str) -> Option<Account> {
        self.app
            .store
            .account(&Email::parse(email).unwrap())
            .await
            .unwrap()
    }
}

/// The first standalone six-digit number in a message's text/plain part (the HTML part has
/// six-digit colours like `#003366`).
pub fn code_in(message: &str) -> Option<String> {
    let text = message.split_once("Content-Type: text/plain")?.1;
    let text = text.split("\n--").next().unwrap_or(text);
    let body = text
        .split_once("\r\n\r\n")
        .or_else(|| text.split_once("\n\n"))?
        .1;
    let chars: Vec<char> = body.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_digit() && (i == 0 || !chars[i - 1].is_ascii_alphanumeric()) {
            let mut j = i;
            while j < chars.len() && chars[j].is_ascii_digit() {
                j += 1;
            }
            if j - i == 6 && (j == chars.len() || !chars[j].is_ascii_alphanumeric()) {
                return Some(chars[i..j].iter().collect());
            }
            i = j;
        } else {
            i += 1;
        }
    }
    None
}

/// `name=value` of the response's session cookie.
pub fn cookie_of(r: &ApiResponse) -> Option<String> {
    r.headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("__Host-pressroom_session=") && !c.contains("Max-Age=0"))
        .map(|c| c.split(';').next().unwrap_or("").to_owned())
}

fn code_of(r: &ApiResponse) -> String {
    r.error_code()
        .unwrap_or_else(|| format!("<status {}>", r.status))
}

// ---- the flows ---------------------------------------------------------------------------------

/// Signup → email with a code → verify → signed in; `me` reflects it; the code is single-use.
pub async fn signup_verify_me(b: TestBackend) {
    let email = "jane@example.org";
    let r = b.signup(" Jane@Example.org ", PASSWORD).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let code = b.last_code(email).await;
    let messages = b.inbox.messages_to(email).await;
    assert!(messages[0].contains("multipart/alternative"));
    let a = b.account(email).await.expect("account created");
    assert!(!a.verified);
    assert_eq!(a.lang.as_ref().map(|l| l.as_str()), Some("fr"));
    // The session is not there before verification.
    let r = b.call(Method::GET, "/api/me", None).await;
    assert_eq!(
        (r.status, code_of(&r).as_str()),
        (StatusCode::UNAUTHORIZED, "not_signed_in")
    );
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let r = b
        .post("/api/verify", json!({"email": email, "code": wrong}))
        .await;
    assert_eq!(code_of(&r), "invalid_code");
    assert_eq!(
        r.json_body()["error"]["attempts_left"],
        MAX_CODE_ATTEMPTS - 1
    );
    let r = b
        .post("/api/verify", json!({"email": email, "code": code}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json_body());
    let set_cookie = r
        .headers
        .get(header::SET_COOKIE)
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    for attr in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/", "Max-Age="] {
        assert!(set_cookie.contains(attr), "{set_cookie}");
    }
    let cookie = cookie_of(&r).unwrap();
    let r = b
        .call_as(Method::GET, "/api/me", None, Some(&cookie), 1)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let me = r.json_body();
    assert_eq!(me["email"], email);
    assert_eq!(me["verified"], true);
    assert_eq!(me["subscribed"], false);
    // One code, one use.
    let r = b
        .post("/api/verify", json!({"email": email, "code": code}))
        .await;
    assert_eq!(code_of(&r), "invalid_code");
}

/// Bad input is refused with stable codes and nothing is written.
pub async fn signup_validation(b: TestBackend) {
    let r = b.signup("not-an-email", PASSWORD).await;
    assert_eq!(
        (r.status, code_of(&r).as_str()),
        (StatusCode::BAD_REQUEST, "invalid_email")
    );
    let r = b.signup("jane@example.org", "short").await;
    assert_eq!(code_of(&r), "weak_password");
    let rules = r.json_body()["error"]["rules"].clone();
    assert_eq!(rules, json!(["min_length", "uppercase", "digit", "symbol"]));
    let r = b.signup("jane@example.org", "Pe#5GZ29ptzmse").await;
    assert!(
        r.json_body()["error"]["rules"]
            .as_array()
            .unwrap()
            .contains(&json!("common")),
        "{:?}",
        r.json_body()
    );
    let r = b.signup("jane.doe@example.org", "Jane.Doe-2018!x").await;
    assert_eq!(r.json_body()["error"]["rules"], json!(["contains_email"]));
    // Bad JSON, missing fields, wrong types: 400 bad_request, never a 500.
    let mut req = ApiRequest::new(Method::POST, "/api/signup");
    req.headers
        .insert(header::ORIGIN, HeaderValue::from_static(ORIGIN));
    req.body = "{\"email\": ".into();
    let r = handle(&b.app, req).await;
    assert_eq!(
        (r.status, code_of(&r).as_str()),
        (StatusCode::BAD_REQUEST, "bad_request")
    );
    let r = b.post("/api/signup", json!({"email": 3})).await;
    assert_eq!(code_of(&r), "bad_request");
    // No Origin, or a foreign one: 403 before anything else.
    let mut req = ApiRequest::new(Method::POST, "/api/signup");
    req.body = serde_json::to_vec(&json!({"email": "jane@example.org", "password": PASSWORD}))
        .unwrap()
        .into();
    let r = handle(&b.app, req.clone()).await;
    assert_eq!(
        (r.status, code_of(&r).as_str()),
        (StatusCode::FORBIDDEN, "forbidden_origin")
    );
    req.headers.insert(
        header::ORIGIN,
        HeaderValue::from_static("https://evil.test"),
    );
    let r = handle(&b.app, req).await;
    assert_eq!(code_of(&r), "forbidden_origin");
    assert!(b.account("jane@example.org").await.is_none());
    assert_eq!(b.mail_count("jane@example.org").await, 0);
    // Unknown routes and methods.
    let r = b.call(Method::GET, "/api/nope", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = b.call(Method::GET, "/api/signup", None).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
}

/// A verified address gets a notice, not a code, and the same answer; an unverified account
/// can be re-claimed with a new password.
pub async fn signup_existing_accounts(b: TestBackend) {
    let email = "owner@example.org";
    let _ = b.verified_account(email).await;
    b.wait(3600);
    let before = b.mail_count(email).await;
    let r = b.signup(email, "Another-Passw0rd!").await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let fresh = b.signup("nobody@example.org", PASSWORD).await;
    assert_eq!(r.json_body(), fresh.json_body());
    let messages = b.inbox.messages_to(email).await;
    assert_eq!(messages.len(), before + 1);
    assert!(
        code_in(messages.last().unwrap()).is_none(),
        "a notice carries no code: {}",
        messages.last().unwrap()
    );
    // The owner's password did not change.
    let r = b
        .post("/api/login", json!({"email": email, "password": PASSWORD}))
        .await;
    assert_eq!(r.status, StatusCode::OK);

    // Re-claiming an unverified account.
    let squatted = "squatted@example.org";
    b.signup(squatted, "Squatter-Pass-1!").await;
    b.wait(61);
    b.signup(squatted, NEW_PASSWORD).await;
    let code = b.last_code(squatted).await;
    let r = b
        .post("/api/verify", json!({"email": squatted, "code": code}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = b
        .post(
            "/api/login",
            json!({"email": squatted, "password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = b
        .post(
            "/api/login",
            json!({"email": squatted, "password": "Squatter-Pass-1!"}),
        )
        .await;
    assert_eq!(code_of(&r), "invalid_credentials");
}

/// Reset and resend answer the same for known and unknown addresses.
pub async fn no_enumeration(b: TestBackend) {
    let _ = b.verified_account("known@example.org").await;
    b.wait(3600);
    for path in ["/api/password-reset", "/api/resend"] {
        let body = |e: &str| json!({"email": e, "lang": "en", "purpose": "reset"});
        let known = b.post(path, body("known@example.org")).await;
        let unknown = b.post(path, body("unknown@example.org")).await;
        assert_eq!(known.status, unknown.status, "{path}");
        assert_eq!(known.json_body(), unknown.json_body(), "{path}");
        b.wait(61);
    }
    assert_eq!(b.mail_count("unknown@example.org").await, 0);
}

/// Resend replaces the code (the old one dies) and is throttled: 1 a minute, 5 an hour.
pub async fn resend_and_throttle(b: TestBackend) {
    let email = "resend@example.org";
    b.signup(email, PASSWORD).await;
    let first = b.last_code(email).await;
    let r = b
        .post("/api/resend", json!({"email": email, "purpose": "signup"}))
        .await;
    assert_eq!(
        (r.status, code_of(&r).as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    let retry: u64 = r
        .headers
        .get(header::RETRY_AFTER)
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    b.wait(61);
    let r = b
        .post("/api/resend", json!({"email": email, "purpose": "signup"}))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let second = b.last_code(email).await;
    assert_eq!(b.mail_count(email).await, 2);
    if first != second {
        let r = b
            .post("/api/verify", json!({"email": email, "code": first}))
            .await;
        assert_eq!(code_of(&r), "invalid_code", "the old code died");
    }
    // Five codes an hour (signup + 4 resends), even a minute apart.
    for _ in 0..3 {
        b.wait(61);
        let r = b
            .post("/api/resend", json!({"email": email, "purpose": "signup"}))
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED);
    }
    b.wait(61);
    let r = b
        .post("/api/resend", json!({"email": email, "purpose": "signup"}))
        .await;
    assert_eq!(code_of(&r), "rate_limited");
    b.wait(3600);
    let r = b
        .post("/api/resend", json!({"email": email, "purpose": "signup"}))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let r = b
        .post("/api/resend", json!({"email": email, "purpose": "admin"}))
        .await;
    assert_eq!(code_of(&r), "bad_request");
}

/// Codes expire after 30 minutes, checked on read.
pub async fn code_expiry(b: TestBackend) {
    let email = "late@example.org";
    b.signup(email, PASSWORD).await;
    let code = b.last_code(email).await;
    b.wait(30 * 60 + 1);
    let r = b
        .post("/api/verify", json!({"email": email, "code": code}))
        .await;
    assert_eq!(code_of(&r), "code_expired");
}

/// Five wrong tries kill the code, even for the right one afterwards.
pub async fn attempt_limit(b: TestBackend) {
    let email = "guess@example.org";
    b.signup(email, PASSWORD).await;
    let code = b.last_code(email).await;
    let wrong = if code == "999999" { "999998" } else { "999999" };
    for i in 1..=MAX_CODE_ATTEMPTS {
        let r = b
            .post("/api/verify", json!({"email": email, "code": wrong}))
            .await;
        let expected = if i < MAX_CODE_ATTEMPTS {
            "invalid_code"
        } else {
            "too_many_attempts"
        };
        assert_eq!(code_of(&r), expected, "attempt {i}");
    }
    let r = b
        .post("/api/verify", json!({"email": email, "code": code}))
        .await;
    assert_eq!(code_of(&r), "too_many_attempts");
    // A new code works again.
    b.wait(61);
    b.post("/api/resend", json!({"email": email, "purpose": "signup"}))
        .await;
    let code = b.last_code(email).await;
    let r = b
        .post("/api/verify", json!({"email": email, "code": code}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

/// Login, logout and `me`; unverified accounts are told to verify.
pub async fn login_logout_me(b: TestBackend) {
    let email = "login@example.org";
    let _ = b.verified_account(email).await;
    let r = b
        .post(
            "/api/login",
            json!({"email": email, "password": "Wrong-Passw0rd!"}),
        )
        .await;
    assert_eq!(
        (r.status, code_of(&r).as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_credentials")
    );
    let r = b
        .post(
            "/api/login",
            json!({"email": "ghost@example.org", "password": PASSWORD}),
        )
        .await;
    assert_eq!(code_of(&r), "invalid_credentials");
    let r = b
        .post(
            "/api/login",
            json!({"email": email, "password": "x".repeat(10_000)}),
        )
        .await;
    assert!(r.status.is_client_error());
    let r = b
        .post(
            "/api/login",
            json!({"email": "LOGIN@example.org ", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let cookie = cookie_of(&r).unwrap();
    let r = b
        .call_as(Method::GET, "/api/me", None, Some(&cookie), 1)
        .await;
    assert_eq!(r.json_body()["email"], email);
    let r = b
        .call_as(Method::POST, "/api/logout", None, Some(&cookie), 1)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r
        .headers
        .get(header::SET_COOKIE)
        .unwrap()
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    let r = b
        .call_as(Method::GET, "/api/me", None, Some(&cookie), 1)
        .await;
    assert_eq!(code_of(&r), "not_signed_in");

    let pending = "pending@example.org";
    b.signup(pending, PASSWORD).await;
    let r = b
        .post(
            "/api/login",
            json!({"email": pending, "password": PASSWORD}),
        )
        .await;
    assert_eq!(
        (r.status, code_of(&r).as_str()),
        (StatusCode::FORBIDDEN, "not_verified")
    );
    assert!(cookie_of(&r).is_none());

    // Sessions expire after 14 days.
    let r = b
        .post("/api/login", json!({"email": email, "password": PASSWORD}))
        .await;
    let cookie = cookie_of(&r).unwrap();
    b.wait(14 * 24 * 3600 + 1);
    let r = b
        .call_as(Method::GET, "/api/me", None, Some(&cookie), 1)
        .await;
    assert_eq!(code_of(&r), "not_signed_in");
}

/// After five failures, logins back off exponentially with `Retry-After`.
pub async fn login_backoff(b: TestBackend) {
    let email = "brute@example.org";
    let _ = b.verified_account(email).await;
    for _ in 0..5 {
        let r = b
            .post(
                "/api/login",
                json!({"email": email, "password": "Wrong-Passw0rd!"}),
            )
            .await;
        assert_eq!(code_of(&r), "invalid_credentials");
    }
    // Even the right password waits now.
    let r = b
        .post("/api/login", json!({"email": email, "password": PASSWORD}))
        .await;
    assert_eq!(code_of(&r), "rate_limited");
    assert_eq!(r.headers.get(header::RETRY_AFTER).unwrap(), "1");
    b.wait(1);
    let r = b
        .post(
            "/api/login",
            json!({"email": email, "password": "Wrong-Passw0rd!"}),
        )
        .await;
    assert_eq!(code_of(&r), "invalid_credentials");
    let r = b
        .post("/api/login", json!({"email": email, "password": PASSWORD}))
        .await;
    assert_eq!(r.headers.get(header::RETRY_AFTER).unwrap(), "2");
    b.wait(2);
    let r = b
        .post("/api/login", json!({"email": email, "password": PASSWORD}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json_body());
}

/// Reset: code by email, weak passwords refused without burning the code, other sessions end
/// (the one asking, signed in on another device, stays).
pub async fn password_reset(b: TestBackend) {
    let email = "forgot@example.org";
    let old_session = b.verified_account(email).await;
    let r = b
        .post("/api/login", json!({"email": email, "password": PASSWORD}))
        .await;
    let asking = cookie_of(&r).expect("login sets a session cookie");
    b.wait(61);
    let r = b
        .post("/api/password-reset", json!({"email": email, "lang": "en"}))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let code = b.last_code(email).await;
    let reset_mail = b.inbox.messages_to(email).await.pop().unwrap();
    assert!(reset_mail.contains("Reset your Pressroom password"));
    let r = b
        .post(
            "/api/password-reset/confirm",
            json!({"email": email, "code": code, "password": "weak"}),
        )
        .await;
    assert_eq!(code_of(&r), "weak_password");
    let r = b
        .call_as(
            Method::POST,
            "/api/password-reset/confirm",
            Some(json!({"email": email, "code": code, "password": NEW_PASSWORD})),
            Some(&asking),
            1,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json_body());
    assert_eq!(r.json_body()["sessions_ended"], 1);
    let r = b
        .call_as(Method::GET, "/api/me", None, Some(&old_session), 1)
        .await;
    assert_eq!(code_of(&r), "not_signed_in", "other sessions ended");
    let r = b
        .call_as(Method::GET, "/api/me", None, Some(&asking), 1)
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "the session asking stays signed in"
    );
    let r = b
        .post("/api/login", json!({"email": email, "password": PASSWORD}))
        .await;
    assert_eq!(code_of(&r), "invalid_credentials");
    let r = b
        .post(
            "/api/login",
            json!({"email": email, "password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = b
        .post(
            "/api/password-reset/confirm",
            json!({"email": email, "code": code, "password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(code_of(&r), "invalid_code", "one code, one use");
}

/// Newsletter consent for signed-in users, with the consent time recorded.
pub async fn newsletter(b: TestBackend) {
    let r = b.post("/api/newsletter", json!({"subscribe": true})).await;
    assert_eq!(code_of(&r), "not_signed_in");
    let email = "reader@example.org";
    let cookie = b.verified_account(email).await;
    let r = b
        .call_as(
            Method::POST,
            "/api/newsletter",
            Some(json!({"subscribe": true})),
            Some(&cookie),
            1,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json_body()["subscribed"], true);
    let consent = b
        .account(email)
        .await
        .unwrap()
        .newsletter_consent_at
        .expect("consent recorded");
    assert!((consent - b.clock_now()).num_seconds().abs() < 5);
    let r = b
        .call_as(Method::GET, "/api/me", None, Some(&cookie), 1)
        .await;
    assert_eq!(r.json_body()["subscribed"], true);
    let r = b
        .call_as(
            Method::POST,
            "/api/newsletter",
            Some(json!({"subscribe": false})),
            Some(&cookie),
            1,
        )
        .await;
    assert_eq!(r.json_body()["subscribed"], false);
    assert!(b
        .account(email)
        .await
        .unwrap()
        .newsletter_consent_at
        .is_none());
    let r = b
        .call_as(
            Method::POST,
            "/api/newsletter",
            Some(json!({"subscribe": "yes"})),
            Some(&cookie),
            1,
        )
        .await;
    assert_eq!(code_of(&r), "bad_request");
}

impl TestBackend {
    fn clock_now(&self) -> chrono::DateTime<Utc> {
        use functions::ports::Clock;
        self.clock.now()
    }
}

/// Downloads: signed-in verified users get a 303 to a signed URL; every download is recorded.
pub async fn download(b: TestBackend) {
    let path = format!("/api/download?video={VIDEO}&part=q1");
    let r = b.call(Method::GET, &path, None).await;
    assert_eq!(
        (r.status, code_of(&r).as_str()),
        (StatusCode::UNAUTHORIZED, "not_signed_in")
    );
    // A browser following the link without JavaScript goes to the sign-in page of the link's
    // language, which brings it back to the page; a script still gets the JSON error.
    let link = format!("{path}&lang=fr&from=%2Ffr%2Ftranscripts%2F2018%2F04%2F26%2Fx%2F");
    let navigate = |link: &str| {
        let mut req = ApiRequest::new(Method::GET, link);
        req.headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("text/html,application/xhtml+xml"),
        );
        req
    };
    let r = handle(&b.app, navigate(&link)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers[header::LOCATION],
        "/fr/account/signin/?reason=download&return=%2Ffr%2Ftranscripts%2F2018%2F04%2F26%2Fx%2F"
    );
    for elsewhere in [
        "https%3A%2F%2Fevil.test%2F",
        "%2F%2Fevil.test%2F",
        "%2Fen%2F",
    ] {
        let r = handle(
            &b.app,
            navigate(&format!("{path}&lang=fr&from={elsewhere}")),
        )
        .await;
        assert_eq!(
            r.headers[header::LOCATION],
            "/fr/account/signin/?reason=download&return=%2Ffr%2F",
            "{elsewhere}"
        );
    }
    for not_a_page in [navigate(&path), ApiRequest::new(Method::GET, &link)] {
        let r = handle(&b.app, not_a_page).await;
        assert_eq!(
            (r.status, code_of(&r).as_str()),
            (StatusCode::UNAUTHORIZED, "not_signed_in")
        );
    }
    let email = "journalist@example.org";
    let cookie = b.verified_account(email).await;
    let start = b.clock_now();
    let r = b.call_as(Method::GET, &path, None, Some(&cookie), 1).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{:?}", r.json_body());
    let location = r.headers.get(header::LOCATION).unwrap().to_str().unwrap();
    assert!(location.contains("q1"), "{location}");
    for bad in [
        "?video=nope&part=full",
        &format!("?video={VIDEO}&part=q9"),
        "?video=../../etc&part=full",
    ] {
        let r = b
            .call_as(
                Method::GET,
                &format!("/api/download{bad}"),
                None,
                Some(&cookie),
                1,
            )
            .await;
        assert_eq!(
            (r.status, code_of(&r).as_str()),
            (StatusCode::NOT_FOUND, "unknown_video"),
            "{bad}"
        );
    }
    let log = b.app.store.downloads(start).await.unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(
        (
            log[0].email.as_str(),
            log[0].video.as_str(),
            log[0].part.as_str()
        ),
        (email, VIDEO, "q1")
    );
    // Unverified accounts cannot download, even with a session.
    let pending = "pending-dl@example.org";
    b.signup(pending, PASSWORD).await;
    let (token, hash) = functions::crypto::new_session_token();
    b.app
        .store
        .create_session(&functions::ports::Session {
            token_hash: hash,
            email: Email::parse(pending).unwrap(),
            created_at: start,
            expires_at: start + chrono::Duration::days(1),
        })
        .await
        .unwrap();
    let cookie = format!("__Host-pressroom_session={token}");
    let r = b.call_as(Method::GET, &path, None, Some(&cookie), 1).await;
    assert_eq!(
        (r.status, code_of(&r).as_str()),
        (StatusCode::FORBIDDEN, "not_verified")
    );
}

/// Many concurrent signups for one address leave exactly one account.
pub async fn race_signups(b: TestBackend) {
    let email = "race@example.org";
    let b = Arc::new(b);
    let mut tasks = Vec::new();
    for i in 0..16u8 {
        let b = b.clone();
        tasks.push(tokio::spawn(async move {
            b.call_as(
                Method::POST,
                "/api/signup",
                Some(json!({"email": email, "password": PASSWORD})),
                None,
                i,
            )
            .await
            .status
        }));
    }
    for t in tasks {
        let s = t.await.unwrap();
        assert!(
            s == StatusCode::ACCEPTED || s == StatusCode::TOO_MANY_REQUESTS,
            "{s}"
        );
    }
    assert!(b.account(email).await.is_some());
    // Straight at the store: one creation, the rest re-claim the same row.
    let mut tasks = Vec::new();
    for i in 0..16 {
        let b = b.clone();
        tasks.push(tokio::spawn(async move {
            let e = Email::parse("race2@example.org").unwrap();
            b.app
                .store
                .upsert_unverified_account(&Account {
                    email: e,
                    password_hash: format!("hash-{i}"),
                    verified: false,
                    lang: None,
                    created_at: Utc::now(),
                    verified_at: None,
                    newsletter_consent_at: None,
                })
                .await
                .unwrap()
        }));
    }
    let mut created = 0;
    for t in tasks {
        if t.await.unwrap() == UpsertOutcome::Created {
            created += 1;
        }
    }
    assert_eq!(created, 1);
}

/// Many concurrent wrong codes cannot exceed the attempt limit.
pub async fn race_wrong_codes(b: TestBackend) {
    let email = "hammer@example.org";
    b.signup(email, PASSWORD).await;
    let code = b.last_code(email).await;
    let b = Arc::new(b);
    let mut tasks = Vec::new();
    for i in 0..20u32 {
        let b = b.clone();
        let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1 + i) % 1_000_000);
        tasks.push(tokio::spawn(async move {
            b.post("/api/verify", json!({"email": email, "code": wrong}))
                .await
        }));
    }
    for t in tasks {
        let r = t.await.unwrap();
        let c = code_of(&r);
        assert!(c == "invalid_code" || c == "too_many_attempts", "{c}");
    }
    let rec = b
        .app
        .store
        .code(&Email::parse(email).unwrap(), Purpose::Signup)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rec.attempts, MAX_CODE_ATTEMPTS);
    let r = b
        .post("/api/verify", json!({"email": email, "code": code}))
        .await;
    assert_eq!(code_of(&r), "too_many_attempts");
}

/// Runs every flow, each on a fresh backend from `make`.
pub async fn run_all<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = TestBackend>,
{
    signup_verify_me(make().await).await;
    signup_validation(make().await).await;
    signup_existing_accounts(make().await).await;
    no_enumeration(make().await).await;
    resend_and_throttle(make().await).await;
    code_expiry(make().await).await;
    attempt_limit(make().await).await;
    login_logout_me(make().await).await;
    login_backoff(make().await).await;
    password_reset(make().await).await;
    newsletter(make().await).await;
    download(make().await).await;
    race_signups(make().await).await;
    race_wrong_codes(make().await).await;
}

/// One `#[tokio::test]` per flow above, each on a fresh backend from `$backend()` (an async fn
/// returning a [`TestBackend`]). Every backend's test file calls this, so a flow added here runs
/// on SQLite and on AWS alike; no list of flows to keep in step elsewhere.
#[macro_export]
macro_rules! flow_tests {
    ($backend:path) => {
        $crate::flow_tests!(@each $backend;
            signup_verify_me,
            signup_validation,
            signup_existing_accounts,
            no_enumeration,
            resend_and_throttle,
            code_expiry,
            attempt_limit,
            login_logout_me,
            login_backoff,
            password_reset,
            newsletter,
            download,
            race_signups,
            race_wrong_codes,
        );
    };
    (@each $backend:path; $($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            $crate::flows::$name($backend().await).await;
        }
    )*};
}
