//! The two front ends of [`handle`]: an axum router for the local server (`/api/*` plus the
//! signed local media route; feature `local`, in `router`) and a `lambda_http` adapter for the
//! Lambdas, where each binary serves only its own routes from [`crate::contract::FUNCTIONS`] and
//! answers 404 to the rest.

use std::net::IpAddr;
use std::sync::Arc;

use http::StatusCode;
use serde_json::json;

use crate::contract::{Function, FUNCTIONS};
use crate::handlers::{handle_routes, ApiRequest, ApiResponse, App};

#[cfg(feature = "local")]
mod router;
#[cfg(feature = "local")]
pub use router::local_router;

// ---- Lambda ------------------------------------------------------------------------------------

/// The contract entry for a binary name.
pub fn function(name: &str) -> Option<&'static Function> {
    FUNCTIONS.iter().find(|f| f.name == name)
}

fn serves(function: &Function, method: &http::Method, path: &str) -> bool {
    let path = path.trim_end_matches('/');
    function
        .routes
        .iter()
        .any(|(m, p)| *p == path && m.eq_ignore_ascii_case(method.as_str()))
}

/// Converts a Lambda event to an [`ApiRequest`].
pub fn from_lambda(event: lambda_http::Request) -> ApiRequest {
    use lambda_http::request::RequestContext;
    use lambda_http::RequestExt;
    let client_ip: Option<IpAddr> = match event.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => {
            ctx.http.source_ip.as_deref().and_then(|s| s.parse().ok())
        }
        _ => None,
    };
    let (parts, body) = event.into_parts();
    let body = match body {
        lambda_http::Body::Empty => bytes::Bytes::new(),
        lambda_http::Body::Text(t) => bytes::Bytes::from(t),
        lambda_http::Body::Binary(b) => bytes::Bytes::from(b),
    };
    ApiRequest {
        method: parts.method,
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers,
        body,
        client_ip,
    }
}

/// Converts an [`ApiResponse`] to a Lambda response.
pub fn to_lambda(r: ApiResponse) -> lambda_http::Response<lambda_http::Body> {
    let mut resp = lambda_http::Response::new(lambda_http::Body::Text(
        String::from_utf8_lossy(&r.body).into_owned(),
    ));
    *resp.status_mut() = r.status;
    *resp.headers_mut() = r.headers;
    resp
}

/// Handles one Lambda event for `function`: its own routes go to the handlers (compiled for the
/// route set `ROUTES`, [`handle_routes`]), anything else 404s.
pub async fn handle_lambda<const ROUTES: u16>(
    app: &App,
    function: &Function,
    event: lambda_http::Request,
) -> lambda_http::Response<lambda_http::Body> {
    let req = from_lambda(event);
    if !serves(function, &req.method, &req.path) {
        return to_lambda(ApiResponse::json(
            StatusCode::NOT_FOUND,
            &json!({"error": {"code": "not_found", "message": "no such API endpoint"}}),
        ));
    }
    to_lambda(handle_routes::<ROUTES>(app, req).await)
}

/// Logs as JSON-free plain lines to stderr (CloudWatch), level from `RUST_LOG` (default info).
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_target(false)
        .without_time()
        .try_init();
}

/// Runs the Lambda `function` with `app` until the runtime stops it; `ROUTES` is the route set
/// of `function` ([`crate::handlers::route_set`]).
pub async fn run_lambda<const ROUTES: u16>(
    function: &'static Function,
    app: App,
) -> Result<(), lambda_http::Error> {
    let app = Arc::new(app);
    lambda_http::run(lambda_http::service_fn(move |event| {
        let app = app.clone();
        async move {
            Ok::<_, std::convert::Infallible>(handle_lambda::<ROUTES>(&app, function, event).await)
        }
    }))
    .await
}

/// The whole `main` of an account Lambda: read the environment and build the AWS adapters once
/// (cold start), then serve `function`'s routes. A bad setting stops the cold start, naming it.
/// The const generics select at compile time the adapters (see [`crate::aws::adapters_for`]) and
/// the flows (`ROUTES`, see [`handle_routes`]) the binary contains; call it through
/// [`crate::lambda_main!`], which takes them from the contract.
pub async fn lambda_main<
    const CODE_KEY: bool,
    const MAIL: bool,
    const MEDIA: bool,
    const ROUTES: u16,
>(
    function: &'static Function,
) -> Result<(), lambda_http::Error> {
    init_tracing();
    if crate::handlers::route_set(function.routes) != ROUTES {
        return Err(format!(
            "{} is built for other routes than its contract's",
            function.name
        )
        .into());
    }
    let app = crate::aws::lambda_app::<CODE_KEY, MAIL, MEDIA>(function).await?;
    run_lambda::<ROUTES>(function, app).await
}

/// `functions::lambda_main!("session")`: the future a Lambda binary's `main` awaits —
/// [`http::lambda_main`](crate::http::lambda_main) for the [`crate::contract::FUNCTIONS`] entry of
/// that name (a compile error if there is none), with its adapters and routes taken from it.
#[macro_export]
macro_rules! lambda_main {
    ($name:literal) => {{
        const FUNCTION: &$crate::contract::Function = $crate::contract::Function::get($name);
        $crate::http::lambda_main::<
            { FUNCTION.uses_code_key },
            { FUNCTION.uses_mail },
            { FUNCTION.uses_media },
            { $crate::handlers::route_set(FUNCTION.routes) },
        >(FUNCTION)
    }};
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::local::LocalSigner;
    use http::{header, HeaderValue};

    #[test]
    fn each_function_serves_only_its_routes() {
        let reg = function("registration").unwrap();
        assert!(serves(reg, &http::Method::POST, "/api/signup"));
        assert!(!serves(reg, &http::Method::GET, "/api/signup"));
        assert!(!serves(reg, &http::Method::POST, "/api/login"));
        let dl = function("download").unwrap();
        assert!(serves(dl, &http::Method::GET, "/api/download"));
        assert!(function("nope").is_none());
    }

    fn app(dir: &std::path::Path) -> App {
        use crate::sign::local::FileCatalog;
        let key = crate::crypto::SecretKey::generate();
        let mut config = crate::config::Config::local(
            8080,
            crate::domain::PasswordPolicy::default(),
            "Pressroom",
            "en",
        );
        config.response_floor = std::time::Duration::ZERO;
        App::new(
            config,
            key.clone(),
            Arc::new(crate::store::sqlite::SqliteStore::in_memory().unwrap()),
            Arc::new(crate::mail::outbox::OutboxMailer::new(dir.join("outbox"), false).unwrap()),
            Arc::new(LocalSigner::new(key)),
            Arc::new(FileCatalog::new(dir.join("videos.json"))),
            Arc::new(crate::mail::template::EmailTheme::embedded().unwrap()),
        )
    }

    #[tokio::test]
    async fn lambda_events_reach_the_handlers_and_foreign_routes_404() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(dir.path());
        let reg = function("registration").unwrap();
        const REGISTRATION: u16 =
            crate::handlers::route_set(crate::contract::Function::get("registration").routes);
        let event = |method: &str, uri: &str, body: &str| {
            let mut r = lambda_http::Request::new(lambda_http::Body::Text(body.to_owned()));
            *r.method_mut() = method.parse().unwrap();
            *r.uri_mut() = uri.parse().unwrap();
            r.headers_mut().insert(
                header::ORIGIN,
                HeaderValue::from_static("http://127.0.0.1:8080"),
            );
            r
        };
        let resp = handle_lambda::<{ REGISTRATION }>(&app, reg, event("GET", "/api/me", "")).await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        let resp =
            handle_lambda::<{ REGISTRATION }>(&app, reg, event("POST", "/api/signup", "{oops"))
                .await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        let body =
            r#"{"email": "jane@example.org", "password": "Brussels-Summit-2018!", "lang": "fr"}"#;
        let resp =
            handle_lambda::<{ REGISTRATION }>(&app, reg, event("POST", "/api/signup", body)).await;
        assert_eq!(resp.status(), StatusCode::ACCEPTED);
        assert_eq!(
            resp.headers()[header::CONTENT_TYPE],
            "application/json; charset=utf-8"
        );
    }
}
