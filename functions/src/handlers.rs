//! The framework-agnostic core of the account API: [`handle`] turns an [`ApiRequest`] into an
//! [`ApiResponse`] using only the ports held by [`App`]. The axum router (local server) and the
//! `lambda_http` adapter (Lambda) are thin conversions around it (see `http`).
//!
//! Invariants: never panics on input; every error is `{"error": {"code", "message"}}` with a
//! stable code; signup, resend and reset answer identically whether or not an address has an
//! account; no email address, password, code or token is ever logged.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::config::Config;
use crate::crypto::{self, SecretKey};
use crate::domain::{Code, DomainError, Email, Lang, Purpose, MAX_PASSWORD_CHARS};
use crate::mail::template::{EmailKind, EmailTheme};
use crate::ports::{
    Account, Catalog, Clock, CodeRecord, DownloadRecord, Mailer, Session, Signer, Store,
    SystemClock, UpsertOutcome,
};

/// Name of the session cookie (`__Host-`: Secure, Path=/, no Domain — bound to this origin).
pub const SESSION_COOKIE: &str = "__Host-pressroom_session";
/// Sessions last 14 days from sign-in (fixed, not sliding).
pub const SESSION_TTL: Duration = Duration::from_secs(14 * 24 * 3600);
/// Codes expire 30 minutes after they are sent.
pub const CODE_TTL: Duration = Duration::from_secs(30 * 60);
/// Wrong guesses that kill a code.
pub const MAX_CODE_ATTEMPTS: u32 = 5;
/// Wrong codes per account per 24 hours, across resends.
pub const MAX_WRONG_CODES_PER_DAY: u32 = 20;
/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Fixed-window limits on sending codes (signup, resend, reset): `(window, max hits)`.
pub const CODE_LIMITS_PER_EMAIL: &[(Duration, u32)] =
    &[(Duration::from_secs(60), 1), (Duration::from_secs(3600), 5)];
/// Per client IP: more generous, as a newsroom shares one address.
pub const CODE_LIMITS_PER_IP: &[(Duration, u32)] = &[
    (Duration::from_secs(60), 5),
    (Duration::from_secs(3600), 30),
];
/// Failed logins before back-off starts, per email and per IP.
pub const LOGIN_FREE_FAILURES_PER_EMAIL: u32 = 5;
pub const LOGIN_FREE_FAILURES_PER_IP: u32 = 20;
/// Back-off cap.
pub const LOGIN_MAX_DELAY: Duration = Duration::from_secs(15 * 60);
/// Failed-login counters reset after a day without... (fixed window).
const LOGIN_FAILURE_WINDOW: Duration = Duration::from_secs(24 * 3600);
const DAY: Duration = Duration::from_secs(24 * 3600);

/// A request, as either front end sees it.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    pub method: Method,
    /// Path only, e.g. `/api/login`.
    pub path: String,
    /// Raw query string without `?`.
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub client_ip: Option<IpAddr>,
}

impl ApiRequest {
    /// A request with no headers or body (tests and adapters fill the rest).
    pub fn new(method: Method, path_and_query: &str) -> Self {
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
            None => (path_and_query.to_owned(), None),
        };
        ApiRequest {
            method,
            path,
            query,
            headers: HeaderMap::new(),
            body: Bytes::new(),
            client_ip: None,
        }
    }

    fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_owned())
    }

    fn query_param(&self, name: &str) -> Option<String> {
        self.query.as_deref().and_then(|q| {
            q.split('&')
                .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
                .find(|(k, _)| *k == name)
                .and_then(|(_, v)| {
                    urlencoding::decode(&v.replace('+', " "))
                        .ok()
                        .map(|v| v.into_owned())
                })
        })
    }
}

/// A response, converted by the front ends.
#[derive(Debug, Clone)]
pub struct ApiResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl ApiResponse {
    pub fn json(status: StatusCode, value: &Value) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        ApiResponse {
            status,
            headers,
            body: Bytes::from(serde_json::to_vec(value).unwrap_or_default()),
        }
    }

    /// The parsed JSON body (tests).
    pub fn json_body(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The `error.code` of an error response.
    pub fn error_code(&self) -> Option<String> {
        self.json_body()["error"]["code"]
            .as_str()
            .map(str::to_owned)
    }
}

/// An API error: a status, a stable code, a human message and optional details.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Option<Value>,
    pub retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    fn with(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    fn internal(context: &str, e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "{context}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "something went wrong on our side; please try again",
        )
    }

    fn rate_limited(retry_after: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many requests; try again in {retry_after} s"),
        );
        e.retry_after = Some(retry_after.max(1));
        e.details = Some(json!({ "retry_after": retry_after.max(1) }));
        e
    }

    fn into_response(self) -> ApiResponse {
        let mut body = json!({ "code": self.code, "message": self.message });
        if let Some(Value::Object(extra)) = self.details {
            for (k, v) in extra {
                body[k] = v;
            }
        }
        let mut r = ApiResponse::json(self.status, &json!({ "error": body }));
        if let Some(s) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
                r.headers.insert(header::RETRY_AFTER, v);
            }
        }
        r
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::InvalidEmail => ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_email",
                "this is not a valid email address",
            ),
            DomainError::WeakPassword(rules) => {
                let names: Vec<&str> = rules.iter().map(|r| r.as_str()).collect();
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "weak_password",
                    format!(
                        "the password does not meet the policy: {}",
                        names.join(", ")
                    ),
                )
                .with(json!({ "rules": names }))
            }
            DomainError::InvalidCode => ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_code",
                "this code is not valid",
            ),
            DomainError::InvalidPurpose => {
                ApiError::bad_request("`purpose` must be `signup` or `reset`")
            }
        }
    }
}

type ApiResult = Result<ApiResponse, ApiError>;

/// Everything a handler needs, built once per process (per Lambda cold start).
#[derive(Clone)]
pub struct App {
    pub config: Arc<Config>,
    pub key: SecretKey,
    pub store: Arc<dyn Store>,
    pub mailer: Arc<dyn Mailer>,
    pub signer: Arc<dyn Signer>,
    pub catalog: Arc<dyn Catalog>,
    pub theme: Arc<EmailTheme>,
    pub clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl App {
    /// An app on the system clock with the given theme.
    pub fn new(
        config: Config,
        key: SecretKey,
        store: Arc<dyn Store>,
        mailer: Arc<dyn Mailer>,
        signer: Arc<dyn Signer>,
        catalog: Arc<dyn Catalog>,
        theme: Arc<EmailTheme>,
    ) -> Self {
        App {
            config: Arc::new(config),
            key,
            store,
            mailer,
            signer,
            catalog,
            theme,
            clock: Arc::new(SystemClock),
        }
    }

    /// Replaces the clock (tests move time to check expiry and throttling windows).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

/// The API's routes, one bit each: a set of them is what [`handle_routes`] serves.
pub mod route {
    pub const SIGNUP: u16 = 1 << 0;
    pub const VERIFY: u16 = 1 << 1;
    pub const RESEND: u16 = 1 << 2;
    pub const LOGIN: u16 = 1 << 3;
    pub const LOGOUT: u16 = 1 << 4;
    pub const ME: u16 = 1 << 5;
    pub const RESET: u16 = 1 << 6;
    pub const RESET_CONFIRM: u16 = 1 << 7;
    pub const NEWSLETTER: u16 = 1 << 8;
    pub const DOWNLOAD: u16 = 1 << 9;
    /// Every route: what the local server serves.
    pub const ALL: u16 = (1 << 10) - 1;

    /// `(method, path, bit)` of every route, as [`crate::contract::FUNCTIONS`] spells them.
    pub const TABLE: &[(&str, &str, u16)] = &[
        ("POST", "/api/signup", SIGNUP),
        ("POST", "/api/verify", VERIFY),
        ("POST", "/api/resend", RESEND),
        ("POST", "/api/login", LOGIN),
        ("POST", "/api/logout", LOGOUT),
        ("GET", "/api/me", ME),
        ("POST", "/api/password-reset", RESET),
        ("POST", "/api/password-reset/confirm", RESET_CONFIRM),
        ("POST", "/api/newsletter", NEWSLETTER),
        ("GET", "/api/download", DOWNLOAD),
    ];
}

/// The set of `routes` (a [`crate::contract::Function`]'s), at compile time: a route the API
/// does not have fails the build.
pub const fn route_set(routes: &[(&str, &str)]) -> u16 {
    let mut set = 0;
    let mut i = 0;
    while i < routes.len() {
        let mut j = 0;
        let mut bit = 0;
        while j < route::TABLE.len() {
            let (method, path, b) = route::TABLE[j];
            if const_eq(method, routes[i].0) && const_eq(path, routes[i].1) {
                bit = b;
            }
            j += 1;
        }
        if bit == 0 {
            panic!("a contract route the handlers do not serve");
        }
        set |= bit;
        i += 1;
    }
    set
}

const fn const_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Handles one API request. Never panics on any input.
pub async fn handle(app: &App, req: ApiRequest) -> ApiResponse {
    handle_routes::<{ route::ALL }>(app, req).await
}

type Flow<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = ApiResult> + Send + 'a>>;

/// [`handle`] compiled for the routes in `ROUTES` only (a [`route`] set): the flows of the other
/// routes are not in the binary (a Lambda that sends no email links no template engine). A
/// Lambda only passes its own routes here; any other answers like an unknown route. Each flow's
/// future is built in its match arm and boxed, because an `.await` in an arm that is dead for
/// this set would still keep that flow in the state machine.
pub async fn handle_routes<const ROUTES: u16>(app: &App, req: ApiRequest) -> ApiResponse {
    let method = req.method.clone();
    let path = req.path.trim_end_matches('/').to_owned();
    let flow: Flow<'_> = match (&method, path.as_str()) {
        (&Method::POST, "/api/signup") if ROUTES & route::SIGNUP != 0 => {
            Box::pin(uniform(app, signup(app, &req)))
        }
        (&Method::POST, "/api/verify") if ROUTES & route::VERIFY != 0 => {
            Box::pin(verify(app, &req))
        }
        (&Method::POST, "/api/resend") if ROUTES & route::RESEND != 0 => {
            Box::pin(uniform(app, resend(app, &req)))
        }
        (&Method::POST, "/api/login") if ROUTES & route::LOGIN != 0 => Box::pin(login(app, &req)),
        (&Method::POST, "/api/logout") if ROUTES & route::LOGOUT != 0 => {
            Box::pin(logout(app, &req))
        }
        (&Method::GET, "/api/me") if ROUTES & route::ME != 0 => Box::pin(me(app, &req)),
        (&Method::POST, "/api/password-reset") if ROUTES & route::RESET != 0 => {
            Box::pin(uniform(app, reset_request(app, &req)))
        }
        (&Method::POST, "/api/password-reset/confirm") if ROUTES & route::RESET_CONFIRM != 0 => {
            Box::pin(reset_confirm(app, &req))
        }
        (&Method::POST, "/api/newsletter") if ROUTES & route::NEWSLETTER != 0 => {
            Box::pin(newsletter(app, &req))
        }
        (&Method::GET, "/api/download") if ROUTES & route::DOWNLOAD != 0 => {
            Box::pin(download(app, &req))
        }
        (_, path) if is_known_path(path) => Box::pin(std::future::ready(Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this method is not allowed here",
        )))),
        _ => Box::pin(std::future::ready(Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such API endpoint",
        )))),
    };
    flow.await.unwrap_or_else(ApiError::into_response)
}

fn is_known_path(path: &str) -> bool {
    crate::contract::FUNCTIONS
        .iter()
        .flat_map(|f| f.routes.iter())
        .any(|(_, p)| *p == path)
}

/// Runs an enumeration-sensitive handler and pads its answer to the configured floor.
async fn uniform(app: &App, fut: impl std::future::Future<Output = ApiResult>) -> ApiResult {
    let started = Instant::now();
    let result = fut.await;
    let floor = app.config.response_floor;
    let elapsed = started.elapsed();
    if elapsed < floor {
        tokio::time::sleep(floor - elapsed).await;
    }
    result
}

// ---- request parsing -------------------------------------------------------------------------

fn check_origin(app: &App, req: &ApiRequest) -> Result<(), ApiError> {
    let origin = req
        .headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(|o| o.trim_end_matches('/'));
    match origin {
        Some(o) if app.config.allowed_origins.iter().any(|a| a == o) => Ok(()),
        _ => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden_origin",
            "this request must come from the site itself",
        )),
    }
}

fn parse_body<T: DeserializeOwned>(req: &ApiRequest) -> Result<T, ApiError> {
    if req.body.len() > MAX_BODY_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body is too large",
        ));
    }
    let body: &[u8] = if req.body.is_empty() {
        b"{}"
    } else {
        &req.body
    };
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!("the request body is not the expected JSON: {e}"))
    })
}

fn parse_email(raw: &str) -> Result<Email, ApiError> {
    Email::parse(raw).map_err(ApiError::from)
}

fn ip_key(req: &ApiRequest) -> String {
    req.client_ip
        .map(|ip| ip.to_string())
        .unwrap_or_else(|| "unknown".into())
}

fn secs_until(now: DateTime<Utc>, then: DateTime<Utc>) -> u64 {
    let ms = (then - now).num_milliseconds().max(0) as u64;
    ms.div_ceil(1000)
}

// ---- throttling --------------------------------------------------------------------------------

/// Counts one hit against every `(window, limit)` for `key`; refuses with the wait time when a
/// limit is exceeded.
async fn throttle(app: &App, key: &str, limits: &[(Duration, u32)]) -> Result<(), ApiError> {
    let now = app.now();
    for (window, limit) in limits {
        let c = app
            .store
            .bump_counter(&format!("{key}:{}", window.as_secs()), *window, now)
            .await
            .map_err(|e| ApiError::internal("throttle counter", e))?;
        if c.count > *limit {
            let reopens = c.window_start + chrono::Duration::from_std(*window).unwrap_or_default();
            return Err(ApiError::rate_limited(secs_until(now, reopens)));
        }
    }
    Ok(())
}

async fn throttle_code_send(app: &App, req: &ApiRequest, email: &Email) -> Result<(), ApiError> {
    throttle(app, &format!("send:ip:{}", ip_key(req)), CODE_LIMITS_PER_IP).await?;
    throttle(
        app,
        &format!("send:email:{}", email.as_str()),
        CODE_LIMITS_PER_EMAIL,
    )
    .await
}

/// Back-off after `free` failures: 1 s, 2 s, 4 s … capped at [`LOGIN_MAX_DELAY`].
pub fn login_delay(failures: u32, free: u32) -> Duration {
    if failures < free {
        return Duration::ZERO;
    }
    let exp = (failures - free).min(20);
    Duration::from_secs(1u64 << exp).min(LOGIN_MAX_DELAY)
}

async fn check_backoff(app: &App, key: &str, free: u32) -> Result<(), ApiError> {
    let now = app.now();
    let counter = app
        .store
        .counter(key)
        .await
        .map_err(|e| ApiError::internal("login counter", e))?;
    if let Some(c) = counter {
        let window_open = now
            < c.window_start + chrono::Duration::from_std(LOGIN_FAILURE_WINDOW).unwrap_or_default();
        let delay = login_delay(c.count, free);
        if window_open && !delay.is_zero() {
            let until = c.last_at + chrono::Duration::from_std(delay).unwrap_or_default();
            if now < until {
                return Err(ApiError::rate_limited(secs_until(now, until)));
            }
        }
    }
    Ok(())
}

// ---- codes -------------------------------------------------------------------------------------

async fn issue_code(
    app: &App,
    email: &Email,
    purpose: Purpose,
    lang: Option<&Lang>,
) -> Result<(), ApiError> {
    let code = Code::generate();
    let now = app.now();
    let record = CodeRecord {
        email: email.clone(),
        purpose,
        hash: crypto::code_hash(&app.key, purpose, email, &code),
        created_at: now,
        expires_at: now + chrono::Duration::from_std(CODE_TTL).unwrap_or_default(),
        attempts: 0,
    };
    app.store
        .put_code(&record)
        .await
        .map_err(|e| ApiError::internal("store code", e))?;
    let kind = match purpose {
        Purpose::Signup => EmailKind::Verify,
        Purpose::Reset => EmailKind::Reset,
    };
    send_email(app, kind, email, lang, Some(&code)).await
}

async fn send_email(
    app: &App,
    kind: EmailKind,
    email: &Email,
    lang: Option<&Lang>,
    code: Option<&Code>,
) -> Result<(), ApiError> {
    let message = app
        .theme
        .render(&app.config.email, kind, email, lang, code)
        .map_err(|e| ApiError::internal("render email", e))?;
    app.mailer.send(&message).await.map_err(|e| {
        tracing::error!(error = %e, template = kind.name(), "sending email failed");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "email_unavailable",
            "we could not send the email; please try again in a moment",
        )
    })
}

/// Checks `raw_code` for `(email, purpose)` and consumes it. One code, one use; five wrong
/// tries kill it; twenty wrong codes a day lock the account's codes.
async fn redeem_code(
    app: &App,
    email: &Email,
    purpose: Purpose,
    raw_code: &str,
) -> Result<(), ApiError> {
    let invalid = || {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_code",
            "this code is not valid; check the latest email we sent",
        )
    };
    let too_many = || {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            "too many wrong codes; ask for a new code",
        )
    };
    let code = Code::parse(raw_code).map_err(|_| invalid())?;
    let now = app.now();
    let record = app
        .store
        .code(email, purpose)
        .await
        .map_err(|e| ApiError::internal("read code", e))?
        .ok_or_else(invalid)?;
    if now >= record.expires_at {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "code_expired",
            "this code has expired; ask for a new one",
        ));
    }
    if record.attempts >= MAX_CODE_ATTEMPTS {
        return Err(too_many());
    }
    let daily_key = format!("wrongcode:{}", email.as_str());
    let daily = app
        .store
        .counter(&daily_key)
        .await
        .map_err(|e| ApiError::internal("read counter", e))?;
    if let Some(c) = daily {
        let open = now < c.window_start + chrono::Duration::from_std(DAY).unwrap_or_default();
        if open && c.count >= MAX_WRONG_CODES_PER_DAY {
            return Err(too_many());
        }
    }
    let given = crypto::code_hash(&app.key, purpose, email, &code);
    if crypto::digest_eq(&given, &record.hash) {
        let consumed = app
            .store
            .consume_code(email, purpose, &record.hash, MAX_CODE_ATTEMPTS, now)
            .await
            .map_err(|e| ApiError::internal("consume code", e))?;
        return if consumed { Ok(()) } else { Err(invalid()) };
    }
    let attempts = app
        .store
        .record_wrong_code(email, purpose, &record.hash, MAX_CODE_ATTEMPTS)
        .await
        .map_err(|e| ApiError::internal("count wrong code", e))?;
    app.store
        .bump_counter(&daily_key, DAY, now)
        .await
        .map_err(|e| ApiError::internal("count wrong code", e))?;
    match attempts {
        Some(n) if n < MAX_CODE_ATTEMPTS => {
            Err(invalid().with(json!({ "attempts_left": MAX_CODE_ATTEMPTS - n })))
        }
        _ => Err(too_many()),
    }
}

// ---- sessions ----------------------------------------------------------------------------------

/// The `Set-Cookie` value starting a session.
pub fn session_cookie(token: &str) -> String {
    format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age={}",
        SESSION_TTL.as_secs()
    )
}

/// The `Set-Cookie` value ending a session.
pub fn clear_cookie() -> String {
    format!("{SESSION_COOKIE}=; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age=0")
}

async fn start_session(app: &App, email: &Email) -> Result<String, ApiError> {
    let (token, hash) = crypto::new_session_token();
    let now = app.now();
    app.store
        .create_session(&Session {
            token_hash: hash,
            email: email.clone(),
            created_at: now,
            expires_at: now + chrono::Duration::from_std(SESSION_TTL).unwrap_or_default(),
        })
        .await
        .map_err(|e| ApiError::internal("create session", e))?;
    Ok(session_cookie(&token))
}

/// The signed-in account, if the cookie names a live session.
async fn current(app: &App, req: &ApiRequest) -> Result<Option<(Session, Account)>, ApiError> {
    let Some(token) = req.cookie(SESSION_COOKIE).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let hash = crypto::session_token_hash(&token);
    let Some(session) = app
        .store
        .session(&hash)
        .await
        .map_err(|e| ApiError::internal("read session", e))?
    else {
        return Ok(None);
    };
    if app.now() >= session.expires_at {
        let _ = app.store.delete_session(&hash).await;
        return Ok(None);
    }
    let account = app
        .store
        .account(&session.email)
        .await
        .map_err(|e| ApiError::internal("read account", e))?;
    Ok(account.map(|a| (session, a)))
}

async fn require_signed_in(app: &App, req: &ApiRequest) -> Result<(Session, Account), ApiError> {
    current(app, req).await?.ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "not_signed_in",
            "please sign in first",
        )
    })
}

fn not_verified() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "not_verified",
        "please confirm your email address first",
    )
}

fn me_json(account: &Account) -> Value {
    json!({
        "signed_in": true,
        "email": account.email.as_str(),
        "verified": account.verified,
        "subscribed": account.newsletter_consent_at.is_some(),
        "newsletter_consent_at": account.newsletter_consent_at,
    })
}

fn with_cookie(mut r: ApiResponse, cookie: &str) -> ApiResponse {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        r.headers.append(header::SET_COOKIE, v);
    }
    r
}

async fn hash_password(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || crypto::hash_password(&password))
        .await
        .map_err(|e| ApiError::internal("hash task", e))?
        .map_err(|e| ApiError::internal("hash password", e))
}

async fn verify_password(password: String, phc: String) -> Result<bool, ApiError> {
    tokio::task::spawn_blocking(move || crypto::verify_password(&password, &phc))
        .await
        .map_err(|e| ApiError::internal("verify task", e))
}

fn accepted() -> ApiResponse {
    ApiResponse::json(
        StatusCode::ACCEPTED,
        &json!({ "status": "code_sent", "expires_in": CODE_TTL.as_secs() }),
    )
}

// ---- handlers ----------------------------------------------------------------------------------

#[derive(Deserialize)]
struct SignupBody {
    email: String,
    password: String,
    #[serde(default)]
    lang: Option<String>,
}

async fn signup(app: &App, req: &ApiRequest) -> ApiResult {
    check_origin(app, req)?;
    let body: SignupBody = parse_body(req)?;
    let email = parse_email(&body.email)?;
    let password = app.config.policy.check(&body.password, &email)?;
    let lang = body.lang.as_deref().and_then(Lang::parse);
    throttle_code_send(app, req, &email).await?;
    // Hash before looking anything up: every signup costs the same.
    let phc = hash_password(password.expose().to_owned()).await?;
    let outcome = app
        .store
        .upsert_unverified_account(&Account {
            email: email.clone(),
            password_hash: phc,
            verified: false,
            lang: lang.clone(),
            created_at: app.now(),
            verified_at: None,
            newsletter_consent_at: None,
        })
        .await
        .map_err(|e| ApiError::internal("upsert account", e))?;
    match outcome {
        UpsertOutcome::Created | UpsertOutcome::Reclaimed => {
            issue_code(app, &email, Purpose::Signup, lang.as_ref()).await?
        }
        UpsertOutcome::AlreadyVerified => {
            send_email(app, EmailKind::Notice, &email, lang.as_ref(), None).await?
        }
    }
    Ok(accepted())
}

#[derive(Deserialize)]
struct VerifyBody {
    email: String,
    code: String,
}

async fn verify(app: &App, req: &ApiRequest) -> ApiResult {
    check_origin(app, req)?;
    let body: VerifyBody = parse_body(req)?;
    let email = parse_email(&body.email)?;
    redeem_code(app, &email, Purpose::Signup, &body.code).await?;
    app.store
        .mark_verified(&email, app.now())
        .await
        .map_err(|e| ApiError::internal("mark verified", e))?;
    let account = app
        .store
        .account(&email)
        .await
        .map_err(|e| ApiError::internal("read account", e))?
        .ok_or_else(|| ApiError::internal("verify", "account vanished after its code"))?;
    let cookie = start_session(app, &email).await?;
    Ok(with_cookie(
        ApiResponse::json(StatusCode::OK, &me_json(&account)),
        &cookie,
    ))
}

#[derive(Deserialize)]
struct ResendBody {
    email: String,
    purpose: String,
}

async fn resend(app: &App, req: &ApiRequest) -> ApiResult {
    check_origin(app, req)?;
    let body: ResendBody = parse_body(req)?;
    let email = parse_email(&body.email)?;
    let purpose = Purpose::parse(&body.purpose)?;
    throttle_code_send(app, req, &email).await?;
    let account = app
        .store
        .account(&email)
        .await
        .map_err(|e| ApiError::internal("read account", e))?;
    match (purpose, account) {
        (Purpose::Signup, Some(a)) if !a.verified => {
            issue_code(app, &email, purpose, a.lang.as_ref()).await?
        }
        (Purpose::Reset, Some(a)) => {
            // Only if a reset was asked for: a resend never starts a reset by itself.
            let pending = app
                .store
                .code(&email, Purpose::Reset)
                .await
                .map_err(|e| ApiError::internal("read code", e))?;
            if pending.is_some() {
                issue_code(app, &email, purpose, a.lang.as_ref()).await?
            }
        }
        _ => {}
    }
    Ok(accepted())
}

#[derive(Deserialize)]
struct LoginBody {
    email: String,
    password: String,
}

async fn login(app: &App, req: &ApiRequest) -> ApiResult {
    check_origin(app, req)?;
    let body: LoginBody = parse_body(req)?;
    let email = parse_email(&body.email)?;
    let email_key = format!("loginfail:email:{}", email.as_str());
    let ip_key = format!("loginfail:ip:{}", ip_key(req));
    check_backoff(app, &ip_key, LOGIN_FREE_FAILURES_PER_IP).await?;
    check_backoff(app, &email_key, LOGIN_FREE_FAILURES_PER_EMAIL).await?;
    let account = app
        .store
        .account(&email)
        .await
        .map_err(|e| ApiError::internal("read account", e))?;
    let ok = if body.password.chars().count() > MAX_PASSWORD_CHARS {
        false
    } else {
        let phc = account
            .as_ref()
            .map(|a| a.password_hash.clone())
            .unwrap_or_else(|| crypto::dummy_password_hash().to_owned());
        let matches = verify_password(body.password, phc).await?;
        matches && account.is_some()
    };
    let now = app.now();
    let Some(account) = account.filter(|_| ok) else {
        for key in [&email_key, &ip_key] {
            app.store
                .bump_counter(key, LOGIN_FAILURE_WINDOW, now)
                .await
                .map_err(|e| ApiError::internal("count login failure", e))?;
        }
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "the email or password is not right",
        ));
    };
    app.store
        .clear_counter(&email_key)
        .await
        .map_err(|e| ApiError::internal("clear login failures", e))?;
    if !account.verified {
        return Err(not_verified());
    }
    let cookie = start_session(app, &email).await?;
    Ok(with_cookie(
        ApiResponse::json(StatusCode::OK, &me_json(&account)),
        &cookie,
    ))
}

async fn logout(app: &App, req: &ApiRequest) -> ApiResult {
    check_origin(app, req)?;
    if let Some(token) = req.cookie(SESSION_COOKIE).filter(|t| !t.is_empty()) {
        app.store
            .delete_session(&crypto::session_token_hash(&token))
            .await
            .map_err(|e| ApiError::internal("delete session", e))?;
    }
    Ok(with_cookie(
        ApiResponse::json(StatusCode::OK, &json!({ "signed_in": false })),
        &clear_cookie(),
    ))
}

async fn me(app: &App, req: &ApiRequest) -> ApiResult {
    let (_, account) = require_signed_in(app, req).await?;
    Ok(ApiResponse::json(StatusCode::OK, &me_json(&account)))
}

#[derive(Deserialize)]
struct ResetBody {
    email: String,
    #[serde(default)]
    lang: Option<String>,
}

async fn reset_request(app: &App, req: &ApiRequest) -> ApiResult {
    check_origin(app, req)?;
    let body: ResetBody = parse_body(req)?;
    let email = parse_email(&body.email)?;
    let lang = body.lang.as_deref().and_then(Lang::parse);
    throttle_code_send(app, req, &email).await?;
    let account = app
        .store
        .account(&email)
        .await
        .map_err(|e| ApiError::internal("read account", e))?;
    if let Some(a) = account {
        let lang = lang.or(a.lang);
        issue_code(app, &email, Purpose::Reset, lang.as_ref()).await?;
    }
    Ok(accepted())
}

#[derive(Deserialize)]
struct ResetConfirmBody {
    email: String,
    code: String,
    password: String,
}

async fn reset_confirm(app: &App, req: &ApiRequest) -> ApiResult {
    check_origin(app, req)?;
    let body: ResetConfirmBody = parse_body(req)?;
    let email = parse_email(&body.email)?;
    // Check the password first: a typo must not burn the code.
    let password = app.config.policy.check(&body.password, &email)?;
    redeem_code(app, &email, Purpose::Reset, &body.code).await?;
    let phc = hash_password(password.expose().to_owned()).await?;
    // The session asking, if it is this account's, survives; every other one ends.
    let keep = match current(app, req).await? {
        Some((s, a)) if a.email == email => Some(s.token_hash),
        _ => None,
    };
    // New password, verified address (receiving the code proves it) and the other sessions
    // ended, in one write: never a new password with the old sessions still open.
    let ended = app
        .store
        .reset_password(&email, &phc, app.now(), keep.as_ref())
        .await
        .map_err(|e| ApiError::internal("reset password", e))?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_code",
                "this code is not valid",
            )
        })?;
    app.store
        .clear_counter(&format!("loginfail:email:{}", email.as_str()))
        .await
        .map_err(|e| ApiError::internal("clear login failures", e))?;
    Ok(ApiResponse::json(
        StatusCode::OK,
        &json!({ "status": "password_updated", "sessions_ended": ended }),
    ))
}

#[derive(Deserialize)]
struct NewsletterBody {
    subscribe: bool,
}

async fn newsletter(app: &App, req: &ApiRequest) -> ApiResult {
    check_origin(app, req)?;
    let body: NewsletterBody = parse_body(req)?;
    let (_, account) = require_signed_in(app, req).await?;
    if !account.verified {
        return Err(not_verified());
    }
    let consent = match (body.subscribe, account.newsletter_consent_at) {
        (true, Some(existing)) => Some(existing),
        (true, None) => Some(app.now()),
        (false, _) => None,
    };
    app.store
        .set_newsletter(&account.email, consent)
        .await
        .map_err(|e| ApiError::internal("set newsletter", e))?;
    let updated = Account {
        newsletter_consent_at: consent,
        ..account
    };
    Ok(ApiResponse::json(StatusCode::OK, &me_json(&updated)))
}

fn valid_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        && !s.starts_with('.')
}

/// `GET /api/download?video=…&part=…[&lang=…&from=…]`: a 303 to a signed, short-lived URL of the
/// file. A browser that follows the link without a usable session (no JavaScript to ask first)
/// is sent to the sign-in page of the link's language (`lang`), which returns it to `from`,
/// instead of being shown a JSON error.
async fn download(app: &App, req: &ApiRequest) -> ApiResult {
    match signed_download(app, req).await {
        Err(e) if matches!(e.code, "not_signed_in" | "not_verified") => {
            match signin_redirect(req) {
                Some(r) => Ok(r),
                None => Err(e),
            }
        }
        other => other,
    }
}

/// The 303 to the sign-in page for a browser navigation that carries its language; `None` for a
/// script's request or a link without `lang`.
fn signin_redirect(req: &ApiRequest) -> Option<ApiResponse> {
    let header = |name: header::HeaderName| {
        req.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    let navigates = header(header::HeaderName::from_static("sec-fetch-mode")) == "navigate"
        || header(header::ACCEPT).contains("text/html");
    let lang = req.query_param("lang")?;
    let lang_ok = (2..=12).contains(&lang.len())
        && lang.starts_with(|c: char| c.is_ascii_lowercase())
        && lang
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !navigates || !lang_ok {
        return None;
    }
    let home = format!("/{lang}/");
    let back = req
        .query_param("from")
        .filter(|p| {
            p.starts_with(&home)
                && p.len() <= 2000
                && !p.contains("//")
                && !p.chars().any(|c| c == '\\' || c.is_control())
        })
        .unwrap_or(home);
    let location = format!(
        "/{lang}/account/signin/?reason=download&return={}",
        urlencoding::encode(&back)
    );
    let mut r = ApiResponse::json(
        StatusCode::SEE_OTHER,
        &json!({ "error": { "code": "not_signed_in", "message": "please sign in first" } }),
    );
    r.headers
        .insert(header::LOCATION, HeaderValue::from_str(&location).ok()?);
    Some(r)
}

async fn signed_download(app: &App, req: &ApiRequest) -> ApiResult {
    let (_, account) = require_signed_in(app, req).await?;
    if !account.verified {
        return Err(not_verified());
    }
    let video = req
        .query_param("video")
        .ok_or_else(|| ApiError::bad_request("`video` is required"))?;
    let part = req.query_param("part").unwrap_or_else(|| "full".into());
    let unknown = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_video",
            "this video or part is not available for download",
        )
    };
    if !valid_slug(&video) || !valid_slug(&part) {
        return Err(unknown());
    }
    let entry = app
        .catalog
        .part(&video, &part)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "video catalog");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "catalog_unavailable",
                "downloads are unavailable right now; please try again later",
            )
        })?
        .ok_or_else(unknown)?;
    let now = app.now();
    let url = app
        .signer
        .sign(&entry.file, &entry.filename, app.config.download_ttl, now)
        .await
        .map_err(|e| ApiError::internal("sign url", e))?;
    app.store
        .record_download(&DownloadRecord {
            at: now,
            email: account.email.clone(),
            video,
            part,
        })
        .await
        .map_err(|e| ApiError::internal("record download", e))?;
    let mut r = ApiResponse::json(StatusCode::SEE_OTHER, &json!({ "url": url }));
    let location =
        HeaderValue::from_str(&url).map_err(|e| ApiError::internal("location header", e))?;
    r.headers.insert(header::LOCATION, location);
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_contract_route_has_its_own_bit() {
        let mut seen = 0;
        for f in crate::contract::FUNCTIONS {
            for r in f.routes {
                let bit = route_set(std::slice::from_ref(r));
                assert_eq!(bit.count_ones(), 1, "{r:?}");
                assert_eq!(seen & bit, 0, "{r:?} shares a bit");
                seen |= bit;
            }
        }
        assert_eq!(seen, route::ALL, "every route belongs to one function");
        assert_eq!(route::TABLE.len(), route::ALL.count_ones() as usize);
    }

    #[test]
    fn cookie_has_every_attribute() {
        let c = session_cookie("abc");
        assert!(c.starts_with("__Host-pressroom_session=abc; "));
        for attr in [
            "Path=/",
            "HttpOnly",
            "Secure",
            "SameSite=Lax",
            "Max-Age=1209600",
        ] {
            assert!(c.split("; ").any(|a| a == attr), "{attr} missing in {c}");
        }
        assert!(!c.contains("Domain"));
        assert!(clear_cookie().contains("Max-Age=0"));
    }

    #[test]
    fn login_backoff_doubles_then_caps() {
        let free = LOGIN_FREE_FAILURES_PER_EMAIL;
        assert_eq!(login_delay(0, free), Duration::ZERO);
        assert_eq!(login_delay(4, free), Duration::ZERO);
        assert_eq!(login_delay(5, free), Duration::from_secs(1));
        assert_eq!(login_delay(6, free), Duration::from_secs(2));
        assert_eq!(login_delay(8, free), Duration::from_secs(8));
        assert_eq!(login_delay(15, free), Duration::from_secs(900));
        assert_eq!(login_delay(u32::MAX, free), LOGIN_MAX_DELAY);
    }

    #[test]
    fn request_helpers_parse_cookies_and_queries() {
        let mut r = ApiRequest::new(Method::GET, "/api/download?video=abc&part=q%201");
        r.headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; __Host-pressroom_session=tok; b=2"),
        );
        assert_eq!(r.cookie(SESSION_COOKIE).as_deref(), Some("tok"));
        assert_eq!(r.query_param("video").as_deref(), Some("abc"));
        assert_eq!(r.query_param("part").as_deref(), Some("q 1"));
        assert_eq!(r.query_param("nope"), None);
    }

    #[test]
    fn slugs_refuse_traversal() {
        assert!(valid_slug("2018-04-26-pre-ministerial"));
        assert!(!valid_slug("../x"));
        assert!(!valid_slug("a/b"));
        assert!(!valid_slug(""));
    }
}
