//! The local server's account routes (feature `local`): `/api/*` through [`handle`], and the
//! signed local media route `/media-signed/*`, served from disk with range requests.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use http::{header, HeaderValue, StatusCode};
use serde_json::json;
use tower::ServiceExt;

use crate::handlers::{handle, ApiRequest, ApiResponse, App, MAX_BODY_BYTES};
use crate::sign::local::{LocalSigner, SignedUrlError, ROUTE_PREFIX};

fn to_axum(r: ApiResponse) -> Response {
    let mut resp = Response::new(Body::from(r.body));
    *resp.status_mut() = r.status;
    *resp.headers_mut() = r.headers;
    resp
}

async fn api(State(state): State<Arc<LocalState>>, req: Request) -> Response {
    let client_ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY_BYTES + 1).await {
        Ok(b) => b,
        Err(_) => {
            return to_axum(ApiResponse::json(
                StatusCode::PAYLOAD_TOO_LARGE,
                &json!({"error": {"code": "payload_too_large", "message": "the request body is too large"}}),
            ))
        }
    };
    let api_req = ApiRequest {
        method: parts.method,
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers,
        body,
        client_ip,
    };
    to_axum(handle(&state.app, api_req).await)
}

/// What the local router serves from.
struct LocalState {
    app: App,
    signer: LocalSigner,
    media_dir: PathBuf,
}

/// `GET /media-signed/{file}?exp=…&filename=…&sig=…`: checks the signature and expiry, then
/// serves the file (with range requests) as an attachment named `filename`.
async fn media(State(state): State<Arc<LocalState>>, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let Some(raw_file) = path.strip_prefix(ROUTE_PREFIX) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let file = match urlencoding::decode(raw_file) {
        Ok(f) => f.into_owned(),
        Err(_) => return StatusCode::NOT_FOUND.into_response(),
    };
    let mut exp = None;
    let mut filename = None;
    let mut sig = None;
    for kv in req.uri().query().unwrap_or("").split('&') {
        let Some((k, v)) = kv.split_once('=') else {
            continue;
        };
        let v = urlencoding::decode(v).map(|v| v.into_owned()).ok();
        match k {
            "exp" => exp = v.and_then(|v| v.parse::<i64>().ok()),
            "filename" => filename = v,
            "sig" => sig = v,
            _ => {}
        }
    }
    let (Some(exp), Some(filename), Some(sig)) = (exp, filename, sig) else {
        return (StatusCode::FORBIDDEN, "invalid download link\n").into_response();
    };
    match state
        .signer
        .verify(&file, exp, &filename, &sig, state.app.clock.now())
    {
        Ok(()) => {}
        Err(SignedUrlError::Expired) => {
            return (StatusCode::GONE, "this download link has expired\n").into_response()
        }
        Err(SignedUrlError::BadSignature) => {
            return (StatusCode::FORBIDDEN, "invalid download link\n").into_response()
        }
    }
    let full = state.media_dir.join(&file);
    let mut resp = match tower_http::services::ServeFile::new(&full)
        .oneshot(req)
        .await
    {
        Ok(r) => r.map(Body::new),
        Err(e) => match e {},
    };
    let safe_name: String = filename
        .chars()
        .filter(|c| !c.is_control() && *c != '"' && *c != '\\')
        .collect();
    let disposition = format!(
        "attachment; filename=\"{safe_name}\"; filename*=UTF-8''{}",
        urlencoding::encode(&filename)
    );
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        resp.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    resp
}

/// The local server's account routes: `/api/*` and `/media-signed/*`. Serve it with
/// `into_make_service_with_connect_info::<SocketAddr>()` so throttling sees client addresses.
pub fn local_router(app: App, signer: LocalSigner, media_dir: PathBuf) -> Router {
    let state = Arc::new(LocalState {
        app,
        signer,
        media_dir,
    });
    Router::new()
        .route("/api/{*rest}", any(api))
        .route("/media-signed/{*file}", get(media))
        .with_state(state)
}
