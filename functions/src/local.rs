//! Wires the local adapters for `pressroom serve`: everything lives in a state folder
//! (`.pressroom/` by default) — `accounts.sqlite3`, `outbox/` of `.eml` files, and `secret.key`
//! (generated once, mode 0600) — so accounts work with no cloud account and no mail server.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::Config;
use crate::crypto::SecretKey;
use crate::domain::PasswordPolicy;
use crate::handlers::App;
use crate::mail::outbox::OutboxMailer;
use crate::mail::template::{EmailTheme, TemplateError};
use crate::ports::StoreError;
use crate::sign::local::{FileCatalog, LocalSigner};
use crate::store::sqlite::SqliteStore;

/// File names inside the state folder.
pub const DATABASE_FILE: &str = "accounts.sqlite3";
pub const OUTBOX_DIR: &str = "outbox";
pub const KEY_FILE: &str = "secret.key";

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: the secret key file is corrupt (expected 64 hex characters); delete it to generate a new one")]
    BadKey { path: PathBuf },
    #[error("site origin `{0}` is not of the form http://host:port")]
    BadOrigin(String),
    #[error("account database: {0}")]
    Store(#[from] StoreError),
    #[error("email theme: {0}")]
    Theme(#[from] TemplateError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LocalError + '_ {
    move |source| LocalError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Reads the key file, or creates it with 256 random bits readable only by the owner.
pub fn load_or_create_key(path: &Path) -> Result<SecretKey, LocalError> {
    match std::fs::read_to_string(path) {
        Ok(text) => hex::decode(text.trim())
            .ok()
            .and_then(SecretKey::new)
            .ok_or_else(|| LocalError::BadKey {
                path: path.to_owned(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = SecretKey::generate();
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            use std::io::Write;
            let mut f = opts.open(path).map_err(io(path))?;
            f.write_all(hex::encode(key.bytes()).as_bytes())
                .map_err(io(path))?;
            Ok(key)
        }
        Err(e) => Err(io(path)(e)),
    }
}

/// Builds the local [`App`] and its router (`/api/*`, `/media-signed/*`).
///
/// `site_origin` is the server's own origin (`http://127.0.0.1:8080`); both `127.0.0.1` and
/// `localhost` with that port are accepted as `Origin`. `theme_dir` (a `themes/<name>/` folder)
/// overrides the embedded default email templates and strings.
pub fn local_app(
    state_dir: &Path,
    media_dir: &Path,
    catalog_path: &Path,
    site_origin: &str,
    policy: PasswordPolicy,
    theme_dir: Option<&Path>,
) -> Result<(App, axum::Router), LocalError> {
    let port: u16 = site_origin
        .trim_end_matches('/')
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .ok_or_else(|| LocalError::BadOrigin(site_origin.to_owned()))?;
    std::fs::create_dir_all(state_dir).map_err(io(state_dir))?;
    let key = load_or_create_key(&state_dir.join(KEY_FILE))?;
    let store = SqliteStore::open(&state_dir.join(DATABASE_FILE))?;
    let outbox_dir = state_dir.join(OUTBOX_DIR);
    let mailer = OutboxMailer::new(&outbox_dir, true).map_err(io(&outbox_dir))?;
    let theme = match theme_dir {
        Some(dir) => EmailTheme::from_dir(dir)?,
        None => EmailTheme::embedded()?,
    };
    let mut config = Config::local(port, policy, "Pressroom", "en");
    if !config.allowed_origins.iter().any(|o| o == site_origin) {
        config
            .allowed_origins
            .push(site_origin.trim_end_matches('/').to_owned());
    }
    theme.validate(&config.email)?;
    let signer = LocalSigner::new(key.clone());
    let app = App::new(
        config,
        key,
        Arc::new(store),
        Arc::new(mailer),
        Arc::new(signer.clone()),
        Arc::new(FileCatalog::new(catalog_path)),
        Arc::new(theme),
    );
    let router = crate::http::local_router(app.clone(), signer, media_dir.to_owned());
    Ok((app, router))
}

/// Opens the local account database in `state_dir` (for `pressroom downloads export`).
pub fn open_store(state_dir: &Path) -> Result<SqliteStore, LocalError> {
    Ok(SqliteStore::open(&state_dir.join(DATABASE_FILE))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_is_created_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE);
        let k1 = load_or_create_key(&path).unwrap();
        let k2 = load_or_create_key(&path).unwrap();
        assert_eq!(k1.bytes(), k2.bytes());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "nope").unwrap();
        assert!(matches!(
            load_or_create_key(&path),
            Err(LocalError::BadKey { .. })
        ));
    }

    #[test]
    fn local_app_lays_out_the_state_folder() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join(".pressroom");
        let (app, _router) = local_app(
            &state,
            &dir.path().join("media"),
            &dir.path().join("videos.json"),
            "http://127.0.0.1:8080",
            PasswordPolicy::default(),
            None,
        )
        .unwrap();
        assert!(state.join(DATABASE_FILE).exists());
        assert!(state.join(OUTBOX_DIR).is_dir());
        assert!(state.join(KEY_FILE).exists());
        assert!(app
            .config
            .allowed_origins
            .contains(&"http://localhost:8080".to_owned()));
    }
}
