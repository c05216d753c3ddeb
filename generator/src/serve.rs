//! `pressroom serve`: the whole product on one machine, with no setup.
//!
//! Builds the site, serves `public/` on `127.0.0.1:PORT` (directory URLs → `index.html`, the
//! language's 404 page for anything missing), mounts the account functions at `/api/` with their
//! local adapters (SQLite, an outbox folder of `.eml` files, the local media folder behind signed
//! URLs), then watches `content/`, `themes/` and `pressroom.toml`: every change rebuilds the site
//! (debounced), prints how long it took, and reloads the pages open in a browser through a
//! server-sent-events endpoint ([`RELOAD_PATH`]) and a small script injected only here. A rebuild
//! that fails shows its errors over the open pages (which keep the last good site) until the
//! next one succeeds.

use std::convert::Infallible;
use std::io::{self, Write as _};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{to_bytes, Body};
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures_util::stream::{self, Stream, StreamExt as _};
use tokio::sync::watch;
use tower_http::services::ServeDir;

use crate::config::{Config, PasswordPolicy};
use crate::site::{BuildOptions, LiveSite, Update};

/// Server-sent events: one `reload` event after every successful rebuild, one `failed` event
/// (its data the errors, as a JSON string) after every failed one, and on connecting while the
/// last rebuild failed.
pub const RELOAD_PATH: &str = "/__pressroom/reload";

/// Injected before `</body>` of every HTML page served here (never into the built files). A
/// `failed` event shows the errors in a panel over the page (an alert, so screen readers say it).
const RELOAD_SCRIPT: &str = "<script>/* pressroom serve: live reload */(function(){if(!window.EventSource)return;\
var s=new EventSource(\"/__pressroom/reload\");window.__pressroomLiveReload=s;s.addEventListener(\"reload\",function(){location.reload();});\
s.addEventListener(\"failed\",function(e){var d=document.getElementById(\"__pressroom-error\");if(!d){d=document.createElement(\"div\");d.id=\"__pressroom-error\";\
d.setAttribute(\"role\",\"alert\");d.style.cssText=\"position:fixed;inset:auto 0 0 0;max-height:60vh;overflow:auto;z-index:2147483647;margin:0;padding:1rem;\
background:#5c0011;color:#fff;font:14px/1.5 ui-monospace,monospace;white-space:pre-wrap\";document.body.appendChild(d);}\
d.textContent=\"pressroom serve: the last change did not build; this page is the last good version. Fix and save to reload.\\n\\n\"+JSON.parse(e.data);});})();</script>";

/// Largest HTML page the reload script is injected into; larger pages are served untouched.
const MAX_INJECT_BYTES: usize = 16 * 1024 * 1024;

/// How long file events are gathered before one rebuild.
const DEBOUNCE: Duration = Duration::from_millis(60);

/// `pressroom serve` on the command line.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Site root: the folder holding pressroom.toml.
    #[arg(long, default_value = ".", env = "PRESSROOM_ROOT")]
    pub root: PathBuf,
    /// Port on 127.0.0.1 (0: any free port, printed).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Folder for the local accounts database, outbox and keys (relative to --root).
    #[arg(long, default_value = ".pressroom")]
    pub state: PathBuf,
    /// Serve only: don't watch for changes.
    #[arg(long)]
    pub no_watch: bool,
}

/// Runs `pressroom serve` on its own tokio runtime until Ctrl-C.
pub fn main(args: &ServeArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(ServeOptions {
        root: args.root.clone(),
        port: args.port,
        state: args.state.clone(),
        watch: !args.no_watch,
    }))?;
    Ok(())
}

/// What `pressroom serve` was asked for.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Site root (holds `pressroom.toml`, `content/`, `themes/`).
    pub root: PathBuf,
    /// Port on 127.0.0.1; 0 picks a free one (printed).
    pub port: u16,
    /// Local state of the account functions (database, outbox, keys); relative to `root`.
    pub state: PathBuf,
    /// Rebuild and reload on changes.
    pub watch: bool,
}

/// Why `pressroom serve` stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The configuration could not be read.
    #[error("{0}")]
    Config(crate::error::BuildErrors),
    /// The first build failed (later failures are printed and the last good site stays up).
    #[error("{0}")]
    Build(crate::error::BuildErrors),
    /// The port could not be bound.
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind {
        /// The port asked for.
        port: u16,
        /// Why.
        source: io::Error,
    },
    /// The account functions could not start (state folder, database, keys).
    #[error("cannot start the account functions: {0}")]
    Functions(#[from] functions::local::LocalError),
    /// The file watcher could not start.
    #[error("cannot watch the site for changes: {0}")]
    Watch(#[from] notify::Error),
    /// Serving failed.
    #[error("server error: {0}")]
    Io(#[from] io::Error),
}

/// Runs the server until Ctrl-C.
pub async fn serve(opts: ServeOptions) -> Result<(), ServeError> {
    let root = opts.root.clone();
    let state_dir = if opts.state.is_absolute() {
        opts.state.clone()
    } else {
        root.join(&opts.state)
    };
    let config = Config::load(&root).map_err(ServeError::Config)?;
    let out = root.join("public");

    let started = Instant::now();
    let (live, report) = LiveSite::build(BuildOptions::new(&root)).map_err(ServeError::Build)?;
    println!(
        "built {} pages in {} ms → {}",
        report.pages,
        started.elapsed().as_millis(),
        out.display()
    );

    let listener =
        tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, opts.port)))
            .await
            .map_err(|source| ServeError::Bind {
                port: opts.port,
                source,
            })?;
    let port = listener.local_addr()?.port();
    let origin = format!("http://127.0.0.1:{port}");

    let kind = match config.accounts.password_policy {
        PasswordPolicy::Composition => functions::domain::PolicyKind::Composition,
        PasswordPolicy::Length => functions::domain::PolicyKind::Length,
    };
    let policy =
        functions::domain::PasswordPolicy::new(kind, config.accounts.password_min_length as usize);
    let (_app, api) = functions::local::local_app(
        &state_dir,
        &root.join(&config.media.dir),
        &out.join(functions::contract::catalog::SITE_PATH),
        &origin,
        policy,
        Some(&root.join("themes").join(&config.theme)),
    )
    .map_err(ServeError::Functions)?;

    let (reload_tx, reload_rx) = watch::channel(Rebuilt::default());
    let languages: Arc<Vec<String>> =
        Arc::new(config.languages.iter().map(|l| l.code.clone()).collect());
    let app = router(&out, languages, reload_rx).merge(api);

    let _watcher = if opts.watch {
        Some(watch_and_rebuild(
            root.clone(),
            state_dir.clone(),
            live,
            config.search,
            reload_tx,
        )?)
    } else {
        None
    };

    println!("serving {origin}/ (Ctrl-C to stop)");
    println!(
        "  accounts: emails go to {} — codes are printed here as they are sent",
        state_dir.join("outbox").display()
    );
    if opts.watch {
        println!(
            "  watching content/, themes/ and pressroom.toml: changes rebuild and reload the page"
        );
    }
    let _ = io::stdout().flush();

    // The functions throttle per client address: hand them the peer address.
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}

/// The static site with directory indexes, per-language 404 pages and the reload endpoint.
fn router(out: &Path, languages: Arc<Vec<String>>, reload: watch::Receiver<Rebuilt>) -> Router {
    let not_found_root = out.to_path_buf();
    let not_found = axum::routing::any(move |req: Request| {
        let root = not_found_root.clone();
        let languages = languages.clone();
        async move { not_found_page(&root, &languages, req.uri().path()).await }
    });
    let files = ServeDir::new(out)
        .append_index_html_on_directories(true)
        .not_found_service(not_found);
    Router::new()
        .route(
            RELOAD_PATH,
            get(move || {
                let rx = reload.clone();
                async move { reload_events(rx) }
            }),
        )
        .fallback_service(files)
        .layer(middleware::from_fn(inject_reload_script))
}

/// `/{lang}/404.html` for paths under a language, else `/404.html`; always status 404.
async fn not_found_page(out: &Path, languages: &[String], path: &str) -> Response {
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    let candidates = languages
        .iter()
        .filter(|l| l.as_str() == first)
        .map(|l| out.join(l).join("404.html"))
        .chain(std::iter::once(out.join("404.html")));
    for file in candidates {
        if let Ok(html) = tokio::fs::read(&file).await {
            return (
                StatusCode::NOT_FOUND,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                html,
            )
                .into_response();
        }
    }
    (StatusCode::NOT_FOUND, "not found").into_response()
}

/// The outcome of the latest rebuild, as the open pages hear of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rebuilt {
    /// Counts rebuilds, successful or not.
    pub generation: u64,
    /// The errors, when it failed.
    pub errors: Option<String>,
}

fn reload_events(
    rx: watch::Receiver<Rebuilt>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let events = reload_generations(rx).map(|rebuilt| {
        let event = match &rebuilt.errors {
            None => Event::default()
                .event("reload")
                .data(rebuilt.generation.to_string()),
            Some(errors) => Event::default()
                .event("failed")
                .json_data(errors)
                .unwrap_or_default(),
        };
        Ok(event)
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}

/// The rebuilds a newly connected page must hear of: those after it connected, and first the
/// latest if it failed (the page was loaded from the last good site and must say so). A clone of
/// the router's receiver has "seen" only the value the router started with; without marking the
/// current one seen, a page connecting after any rebuild would be told to reload at once,
/// reload, reconnect, and so on forever.
fn reload_generations(mut rx: watch::Receiver<Rebuilt>) -> impl Stream<Item = Rebuilt> {
    let current = rx.borrow_and_update().clone();
    let failing = current.errors.is_some().then_some(current);
    stream::iter(failing).chain(stream::unfold(rx, |mut rx| async move {
        rx.changed().await.ok()?;
        let rebuilt = rx.borrow_and_update().clone();
        Some((rebuilt, rx))
    }))
}

/// Adds [`RELOAD_SCRIPT`] to HTML responses; everything else passes through untouched.
async fn inject_reload_script(req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    let is_html = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if !is_html {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_INJECT_BYTES).await else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "page too large").into_response();
    };
    let html = inject(&bytes);
    parts.headers.remove(header::CONTENT_LENGTH);
    parts
        .headers
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Response::from_parts(parts, Body::from(html))
}

/// `html` with the reload script before the last `</body>` (or at the end).
fn inject(html: &[u8]) -> Vec<u8> {
    let needle = b"</body>";
    let at = html
        .windows(needle.len())
        .rposition(|w| w.eq_ignore_ascii_case(needle))
        .unwrap_or(html.len());
    let mut out = Vec::with_capacity(html.len() + RELOAD_SCRIPT.len());
    out.extend_from_slice(&html[..at]);
    out.extend_from_slice(RELOAD_SCRIPT.as_bytes());
    out.extend_from_slice(&html[at..]);
    out
}

/// Watches the site sources; each debounced batch of changes updates the site (only the pages
/// an edited transcript appears on, or a full build) and bumps the reload generation. After a
/// partial update the search index is rebuilt in the background. Returns the watcher, which must
/// be kept alive.
fn watch_and_rebuild(
    root: PathBuf,
    state_dir: PathBuf,
    mut live: LiveSite,
    search: bool,
    reload: watch::Sender<Rebuilt>,
) -> Result<notify::RecommendedWatcher, notify::Error> {
    use notify::{RecursiveMode, Watcher as _};
    let (tx, rx) = std::sync::mpsc::channel::<notify::Result<notify::Event>>();
    let mut watcher = notify::recommended_watcher(tx)?;
    for dir in ["content", "themes"] {
        let p = root.join(dir);
        if p.exists() {
            watcher.watch(&p, RecursiveMode::Recursive)?;
        }
    }
    // Watch the root non-recursively for pressroom.toml (editors replace files by renaming).
    watcher.watch(&root, RecursiveMode::NonRecursive)?;

    let indexer = search
        .then(|| search_indexer(root.join("public")))
        .transpose()?;
    std::thread::Builder::new()
        .name("pressroom-watch".into())
        .spawn(move || {
            let mut generation = 0u64;
            while let Ok(first) = rx.recv() {
                let mut changed: Vec<PathBuf> = Vec::new();
                collect(&root, &state_dir, first, &mut changed);
                // Debounce: gather what else arrives in the next moments (a save is many events).
                let until = Instant::now() + DEBOUNCE;
                while let Some(left) = until.checked_duration_since(Instant::now()) {
                    match rx.recv_timeout(left) {
                        Ok(ev) => collect(&root, &state_dir, ev, &mut changed),
                        Err(_) => break,
                    }
                }
                if changed.is_empty() {
                    continue;
                }
                changed.sort();
                changed.dedup();
                let started = Instant::now();
                match live.update(&changed) {
                    Ok(Update::Full(report)) => {
                        generation += 1;
                        println!(
                            "rebuilt {} pages in {} ms after {} ({} changed)",
                            report.pages,
                            started.elapsed().as_millis(),
                            describe(&root, &changed),
                            changed.len()
                        );
                        let _ = reload.send(Rebuilt {
                            generation,
                            errors: None,
                        });
                    }
                    Ok(Update::Pages { pages, elapsed }) => {
                        generation += 1;
                        println!(
                            "updated {pages} page{} in {} ms after {}{}",
                            if pages == 1 { "" } else { "s" },
                            elapsed.as_millis(),
                            describe(&root, &changed),
                            if indexer.is_some() {
                                "; search index updating in the background"
                            } else {
                                ""
                            }
                        );
                        let _ = reload.send(Rebuilt {
                            generation,
                            errors: None,
                        });
                        if let Some(indexer) = &indexer {
                            let _ = indexer.send(());
                        }
                    }
                    Err(errors) => {
                        generation += 1;
                        eprintln!("rebuild failed; still serving the last good site:\n{errors}");
                        let _ = reload.send(Rebuilt {
                            generation,
                            errors: Some(errors.to_string()),
                        });
                    }
                }
                let _ = io::stdout().flush();
            }
        })
        .map_err(notify::Error::io)?;
    Ok(watcher)
}

/// A thread that re-indexes the site for search whenever asked, coalescing requests that
/// arrive while it works; returns the channel to ask on.
fn search_indexer(out: PathBuf) -> Result<std::sync::mpsc::Sender<()>, notify::Error> {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("pressroom-search".into())
        .spawn(move || {
            while rx.recv().is_ok() {
                while rx.try_recv().is_ok() {}
                match crate::search::index_dir(&out, |_| {}) {
                    Ok(stats) => println!(
                        "search index updated: {} pages in {} ms",
                        stats.pages,
                        stats.elapsed.as_millis()
                    ),
                    Err(e) => eprintln!("search index not updated: {e}"),
                }
                let _ = io::stdout().flush();
            }
        })
        .map_err(notify::Error::io)?;
    Ok(tx)
}

/// Keeps the events that touch the site's sources (not `public/`, the state folder, editor
/// temp files, or anything outside `content/`, `themes/` and `pressroom.toml`).
fn collect(
    root: &Path,
    state_dir: &Path,
    event: notify::Result<notify::Event>,
    changed: &mut Vec<PathBuf>,
) {
    let Ok(event) = event else { return };
    if matches!(event.kind, notify::EventKind::Access(_)) {
        return;
    }
    for path in event.paths {
        if is_source(root, state_dir, &path) {
            changed.push(path);
        }
    }
}

fn is_source(root: &Path, state_dir: &Path, path: &Path) -> bool {
    if path.starts_with(state_dir) {
        return false;
    }
    let Ok(rel) = path.strip_prefix(root) else {
        return false;
    };
    let name = rel.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    if name.starts_with('.')
        || name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".tmp")
    {
        return false;
    }
    match rel.components().next() {
        Some(Component::Normal(first)) => {
            first == "content" || first == "themes" || rel == Path::new(crate::config::CONFIG_FILE)
        }
        _ => false,
    }
}

fn describe(root: &Path, changed: &[PathBuf]) -> String {
    let first = changed[0]
        .strip_prefix(root)
        .unwrap_or(&changed[0])
        .display()
        .to_string();
    if changed.len() == 1 {
        first
    } else {
        format!("{first} and {} more", changed.len() - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(generation: u64) -> Rebuilt {
        Rebuilt {
            generation,
            errors: None,
        }
    }

    #[tokio::test]
    async fn a_page_is_told_to_reload_only_for_rebuilds_after_it_connected() {
        let (tx, rx) = watch::channel(Rebuilt::default());
        tx.send(ok(1)).unwrap(); // a rebuild before the page connected
        let mut generations = Box::pin(reload_generations(rx.clone()));
        let early = tokio::time::timeout(Duration::from_millis(50), generations.next()).await;
        assert!(
            early.is_err(),
            "no reload for a rebuild the page has already seen"
        );
        tx.send(ok(2)).unwrap();
        assert_eq!(generations.next().await, Some(ok(2)));
    }

    #[tokio::test]
    async fn a_page_opened_while_the_last_rebuild_failed_is_told_at_once() {
        let failed = Rebuilt {
            generation: 3,
            errors: Some("content/en/x.md:2:1: missing field `date`".into()),
        };
        let (tx, rx) = watch::channel(failed.clone());
        let mut heard = Box::pin(reload_generations(rx.clone()));
        assert_eq!(heard.next().await, Some(failed));
        let early = tokio::time::timeout(Duration::from_millis(50), heard.next()).await;
        assert!(early.is_err(), "the failure is told once");
        tx.send(ok(4)).unwrap();
        assert_eq!(heard.next().await, Some(ok(4)));
    }

    #[test]
    fn the_reload_script_goes_before_the_closing_body() {
        let out = String::from_utf8(inject(b"<html><body><p>x</p></body></html>")).unwrap();
        assert!(out.ends_with(&format!("<p>x</p>{RELOAD_SCRIPT}</body></html>")));
    }

    #[test]
    fn pages_without_a_body_get_the_script_at_the_end() {
        let out = String::from_utf8(inject(b"<p>x</p>")).unwrap();
        assert_eq!(out, format!("<p>x</p>{RELOAD_SCRIPT}"));
    }

    #[test]
    fn only_site_sources_trigger_a_rebuild() {
        let root = Path::new("/site");
        let state = Path::new("/site/.pressroom");
        assert!(is_source(root, state, Path::new("/site/content/en/a.md")));
        assert!(is_source(
            root,
            state,
            Path::new("/site/themes/default/static/app.css")
        ));
        assert!(is_source(root, state, Path::new("/site/pressroom.toml")));
        assert!(!is_source(
            root,
            state,
            Path::new("/site/public/en/index.html")
        ));
        assert!(!is_source(
            root,
            state,
            Path::new("/site/.pressroom/outbox/1.eml")
        ));
        assert!(!is_source(
            root,
            state,
            Path::new("/site/content/en/.a.md.swp")
        ));
        assert!(!is_source(root, state, Path::new("/site/README.md")));
        assert!(!is_source(
            root,
            state,
            Path::new("/elsewhere/content/a.md")
        ));
    }
}
