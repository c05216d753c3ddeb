//! Figures for the account functions: argon2 hash time, requests/s and p99 latency of
//! `GET /api/me` and of a failed login through the local server on 127.0.0.1, the size of each
//! Lambda binary as deployed (the `lambda-release` profile) and its time from process start to
//! ready.
//!
//! A benchmark, not a timed test: it asserts correctness (every `me` answers 200) but no
//! timing. `cargo bench -p tests --bench functions_bench` measures in earnest (build the
//! Lambdas first: `cargo build --profile lambda-release -p functions --bins`); under `cargo test` it runs a
//! few iterations of each part so the harness itself cannot rot.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use functions::crypto::SecretKey;
use functions::handlers::App;
use functions::mail::outbox::OutboxMailer;
use functions::mail::template::EmailTheme;
use functions::sign::local::{FileCatalog, LocalSigner};
use functions::store::sqlite::SqliteStore;

const PASSWORD: &str = "Brussels-Summit-2018!";

struct Mode {
    /// `cargo bench` (measure) rather than `cargo test` (smoke).
    full: bool,
    load_for: Duration,
    hashes: usize,
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let full = std::env::args().any(|a| a == "--bench");
    let mode = Mode {
        full,
        load_for: if full {
            Duration::from_secs(5)
        } else {
            Duration::from_millis(300)
        },
        hashes: if full { 20 } else { 2 },
    };
    println!(
        "# functions bench ({})",
        if full { "full" } else { "smoke" }
    );
    argon2_time(&mode).await?;
    local_server_load(&mode).await?;
    lambda_binaries(&mode)?;
    Ok(())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

async fn argon2_time(mode: &Mode) -> anyhow::Result<()> {
    let mut hash_times = Vec::new();
    let mut verify_times = Vec::new();
    for _ in 0..mode.hashes {
        let start = Instant::now();
        let phc = functions::crypto::hash_password(PASSWORD)
            .map_err(|e| anyhow::anyhow!("argon2: {e}"))?;
        hash_times.push(start.elapsed());
        let start = Instant::now();
        assert!(functions::crypto::verify_password(PASSWORD, &phc));
        verify_times.push(start.elapsed());
    }
    hash_times.sort();
    verify_times.sort();
    println!(
        "argon2id hash: median {} (p90 {}); verify: median {} over {} runs",
        ms(percentile(&hash_times, 0.5)),
        ms(percentile(&hash_times, 0.9)),
        ms(percentile(&verify_times, 0.5)),
        mode.hashes
    );
    Ok(())
}

/// The local server exactly as `pressroom serve` mounts it, on SQLite + outbox, port 0.
async fn start_local_server(dir: &Path) -> anyhow::Result<(SocketAddr, App)> {
    let key = SecretKey::generate();
    let store = SqliteStore::open(&dir.join("accounts.sqlite3"))?;
    let mailer = OutboxMailer::new(dir.join("outbox"), false)?;
    std::fs::write(dir.join("videos.json"), r#"{"videos":{}}"#)?;
    let signer = LocalSigner::new(key.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let config = functions::config::Config::local(
        addr.port(),
        functions::domain::PasswordPolicy::default(),
        "Pressroom",
        "en",
    );
    let app = App::new(
        config,
        key,
        Arc::new(store),
        Arc::new(mailer),
        Arc::new(signer.clone()),
        Arc::new(FileCatalog::new(dir.join("videos.json"))),
        Arc::new(EmailTheme::embedded()?),
    );
    let router = functions::http::local_router(app.clone(), signer, dir.join("media"));
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    Ok((addr, app))
}

/// A verified account and its session cookie, made through the store (no email round trip).
async fn signed_in(base: &str, app: &App) -> anyhow::Result<String> {
    let email = functions::domain::Email::parse("bench@example.org")?;
    let now = chrono::Utc::now();
    let phc =
        functions::crypto::hash_password(PASSWORD).map_err(|e| anyhow::anyhow!("argon2: {e}"))?;
    app.store
        .upsert_unverified_account(&functions::ports::Account {
            email: email.clone(),
            password_hash: phc,
            verified: false,
            lang: None,
            created_at: now,
            verified_at: None,
            newsletter_consent_at: None,
        })
        .await?;
    app.store.mark_verified(&email, now).await?;
    let response = reqwest::Client::new()
        .post(format!("{base}/api/login"))
        .header("origin", base)
        .json(&serde_json::json!({"email": "bench@example.org", "password": PASSWORD}))
        .send()
        .await?;
    anyhow::ensure!(
        response.status() == 200,
        "login failed: {}",
        response.status()
    );
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("__Host-pressroom_session="))
        .ok_or_else(|| anyhow::anyhow!("no session cookie"))?;
    Ok(cookie.split(';').next().unwrap_or_default().to_owned())
}

struct Load {
    latencies: Vec<Duration>,
    statuses: std::collections::BTreeMap<u16, usize>,
    elapsed: Duration,
}

/// `workers` keep-alive clients send `request` back to back for `for_`.
async fn load<F>(workers: usize, for_: Duration, request: F) -> anyhow::Result<Load>
where
    F: Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync + 'static,
{
    let request = Arc::new(request);
    let start = Instant::now();
    let deadline = start + for_;
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let request = request.clone();
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut latencies = Vec::new();
            let mut statuses = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                let response = request(&client).send().await?;
                let status = response.status().as_u16();
                response.bytes().await?;
                latencies.push(t.elapsed());
                statuses.push(status);
            }
            Ok::<_, reqwest::Error>((latencies, statuses))
        }));
    }
    let mut all = Load {
        latencies: Vec::new(),
        statuses: Default::default(),
        elapsed: Duration::ZERO,
    };
    for task in tasks {
        let (latencies, statuses) = task.await??;
        all.latencies.extend(latencies);
        for s in statuses {
            *all.statuses.entry(s).or_default() += 1;
        }
    }
    all.elapsed = start.elapsed();
    all.latencies.sort();
    Ok(all)
}

fn report(name: &str, load: &Load) {
    println!(
        "{name}: {} requests in {:.1} s = {:.0} req/s; p50 {}, p99 {}; statuses {:?}",
        load.latencies.len(),
        load.elapsed.as_secs_f64(),
        load.latencies.len() as f64 / load.elapsed.as_secs_f64(),
        ms(percentile(&load.latencies, 0.5)),
        ms(percentile(&load.latencies, 0.99)),
        load.statuses
    );
}

async fn local_server_load(mode: &Mode) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (addr, app) = start_local_server(dir.path()).await?;
    let base = format!("http://{addr}");
    let cookie = signed_in(&base, &app).await?;

    let url = format!("{base}/api/me");
    let me = load(4, mode.load_for, move |c| {
        c.get(&url).header("cookie", cookie.clone())
    })
    .await?;
    report("GET /api/me (4 keep-alive clients)", &me);
    anyhow::ensure!(
        me.statuses.keys().all(|s| *s == 200),
        "`me` must answer 200 to a signed-in client: {:?}",
        me.statuses
    );

    let url = format!("{base}/api/login");
    let origin = base.clone();
    let failed = load(4, mode.load_for, move |c| {
        c.post(&url).header("origin", origin.clone()).json(
            &serde_json::json!({"email": "bench@example.org", "password": "Wrong-Password-1!"}),
        )
    })
    .await?;
    report(
        "POST /api/login, wrong password (4 keep-alive clients; 401 = verified, 429 = throttled)",
        &failed,
    );
    anyhow::ensure!(
        failed.statuses.keys().all(|s| *s == 401 || *s == 429),
        "a wrong password must be refused: {:?}",
        failed.statuses
    );
    Ok(())
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// Size of each Lambda as deployed (`lambda-release` profile), and its time from `exec` to its first poll of the Lambda
/// runtime API (a fake one on 127.0.0.1) — i.e. cold-start work done, ready for an event.
fn lambda_binaries(mode: &Mode) -> anyhow::Result<()> {
    let release = target_dir().join("lambda-release");
    let moto = tests::moto::Moto::start();
    let runtime = tokio::runtime::Handle::current();
    let arn = tokio::task::block_in_place(|| {
        runtime.block_on(async {
            let sdk = moto.sdk_config().await;
            aws_sdk_secretsmanager::Client::new(&sdk)
                .create_secret()
                .name("bench-code-key")
                .secret_string("b".repeat(64))
                .send()
                .await
                .map(|out| out.arn().unwrap_or_default().to_owned())
                .map_err(anyhow::Error::from)
        })
    })?;
    for function in functions::contract::FUNCTIONS {
        let binary = release.join(function.name);
        if !binary.exists() {
            anyhow::ensure!(
                !mode.full,
                "{} is missing: run `cargo build --profile lambda-release -p functions --bins` first",
                binary.display()
            );
            println!("{}: not built (smoke run; skipped)", function.name);
            continue;
        }
        let size = std::fs::metadata(&binary)?.len();
        let ready = tokio::task::block_in_place(|| {
            runtime.block_on(time_to_ready(&binary, moto.endpoint(), &arn))
        })?;
        println!(
            "lambda {}: {} bytes = {:.2} MB = {:.2} MiB (stripped, lambda-release), start to ready {}",
            function.name,
            size,
            size as f64 / 1e6,
            size as f64 / 1_048_576.0,
            ms(ready)
        );
    }
    Ok(())
}

async fn time_to_ready(binary: &Path, moto: &str, secret_arn: &str) -> anyhow::Result<Duration> {
    use functions::contract::env;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let runtime_api = listener.local_addr()?.to_string();
    let start = Instant::now();
    let mut child = Command::new(binary)
        .env("AWS_LAMBDA_RUNTIME_API", &runtime_api)
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        .env("AWS_ENDPOINT_URL", moto)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env(env::TABLE, "bench")
        .env(env::SENDER, "Pressroom <press@example.org>")
        .env(env::MEDIA_BUCKET, "bench")
        .env(env::SECRET_ARN, secret_arn)
        .env(env::SITE_ORIGIN, "https://press.example.org")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let accepted = tokio::time::timeout(Duration::from_secs(10), listener.accept()).await;
    let elapsed = start.elapsed();
    let _ = child.kill();
    let output = child.wait_with_output()?;
    match accepted {
        // The runtime client connects only once the cold start has built the app.
        Ok(Ok(_)) => Ok(elapsed),
        _ => anyhow::bail!(
            "{} never polled the runtime API; it printed:\n{}",
            binary.display(),
            String::from_utf8_lossy(&output.stderr)
        ),
    }
}
