//! Local download URLs for `pressroom serve`: `/media-signed/{file}?exp=…&filename=…&sig=…`,
//! an HMAC over the file, expiry and download name, checked by [`verify`] before the local
//! server streams the file. Also the local [`Catalog`]: the generator's `videos.json` on disk.

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};

use crate::crypto::{digest_eq, SecretKey};
use crate::ports::{Catalog, CatalogError, CatalogPart, SignError, Signer, VideoCatalog};

/// Path prefix of signed local media URLs.
pub const ROUTE_PREFIX: &str = "/media-signed/";

/// Signs local media URLs with the state folder's secret key.
#[derive(Debug, Clone)]
pub struct LocalSigner {
    key: SecretKey,
}

fn signature(key: &SecretKey, file: &str, exp: i64, filename: &str) -> [u8; 32] {
    key.mac(&[
        b"media",
        file.as_bytes(),
        exp.to_string().as_bytes(),
        filename.as_bytes(),
    ])
}

/// Whether `file` is a safe relative path (no `..`, no root, no empty segments).
pub fn is_safe_relative(file: &str) -> bool {
    !file.is_empty()
        && !file.contains('\\')
        && Path::new(file)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

impl LocalSigner {
    pub fn new(key: SecretKey) -> Self {
        LocalSigner { key }
    }

    /// Checks a signed URL's parts. `file` is the path after [`ROUTE_PREFIX`], percent-decoded.
    pub fn verify(
        &self,
        file: &str,
        exp: i64,
        filename: &str,
        sig: &str,
        now: DateTime<Utc>,
    ) -> Result<(), SignedUrlError> {
        let given = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| SignedUrlError::BadSignature)?;
        let expected = signature(&self.key, file, exp, filename);
        if !digest_eq(&given, &expected) {
            return Err(SignedUrlError::BadSignature);
        }
        if now.timestamp() >= exp {
            return Err(SignedUrlError::Expired);
        }
        if !is_safe_relative(file) {
            return Err(SignedUrlError::BadSignature);
        }
        Ok(())
    }
}

/// Why a signed local URL was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignedUrlError {
    #[error("the download link is invalid")]
    BadSignature,
    #[error("the download link has expired")]
    Expired,
}

#[async_trait]
impl Signer for LocalSigner {
    async fn sign(
        &self,
        file: &str,
        filename: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<String, SignError> {
        if !is_safe_relative(file) {
            return Err(SignError::Failed(format!("unsafe media path `{file}`")));
        }
        let exp = now.timestamp() + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2);
        let sig = URL_SAFE_NO_PAD.encode(signature(&self.key, file, exp, filename));
        let path: Vec<String> = file
            .split('/')
            .map(|s| urlencoding::encode(s).into_owned())
            .collect();
        Ok(format!(
            "{ROUTE_PREFIX}{}?exp={exp}&filename={}&sig={sig}",
            path.join("/"),
            urlencoding::encode(filename)
        ))
    }
}

/// The catalog as a JSON file written by the generator (`public/_pressroom/videos.json`); read
/// on every lookup so a rebuild is picked up without restarting the server.
#[derive(Debug, Clone)]
pub struct FileCatalog {
    path: PathBuf,
}

impl FileCatalog {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileCatalog { path: path.into() }
    }

    pub async fn load(&self) -> Result<VideoCatalog, CatalogError> {
        let bytes = tokio::fs::read(&self.path)
            .await
            .map_err(|e| CatalogError::Unavailable(format!("{}: {e}", self.path.display())))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| CatalogError::Malformed(format!("{}: {e}", self.path.display())))
    }
}

#[async_trait]
impl Catalog for FileCatalog {
    async fn part(&self, video: &str, part: &str) -> Result<Option<CatalogPart>, CatalogError> {
        Ok(self.load().await?.part(video, part).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn signer() -> LocalSigner {
        LocalSigner::new(SecretKey::new(vec![9; 32]).unwrap())
    }

    fn parse(url: &str) -> (String, i64, String, String) {
        let rest = url.strip_prefix(ROUTE_PREFIX).unwrap();
        let (path, query) = rest.split_once('?').unwrap();
        let mut exp = 0;
        let mut filename = String::new();
        let mut sig = String::new();
        for kv in query.split('&') {
            let (k, v) = kv.split_once('=').unwrap();
            let v = urlencoding::decode(v).unwrap().into_owned();
            match k {
                "exp" => exp = v.parse().unwrap(),
                "filename" => filename = v,
                "sig" => sig = v,
                _ => panic!("unexpected {k}"),
            }
        }
        (
            urlencoding::decode(path).unwrap().into_owned(),
            exp,
            filename,
            sig,
        )
    }

    #[tokio::test]
    async fn signed_url_verifies_until_it_expires() {
        let now = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
        let url = signer()
            .sign(
                "abc/full.mp4",
                "abc-full.mp4",
                Duration::from_secs(300),
                now,
            )
            .await
            .unwrap();
        let (file, exp, filename, sig) = parse(&url);
        assert_eq!(file, "abc/full.mp4");
        assert_eq!(exp, 1_700_000_300);
        let s = signer();
        assert_eq!(s.verify(&file, exp, &filename, &sig, now), Ok(()));
        let later = now + chrono::Duration::seconds(300);
        assert_eq!(
            s.verify(&file, exp, &filename, &sig, later),
            Err(SignedUrlError::Expired)
        );
    }

    #[tokio::test]
    async fn tampering_is_detected() {
        let now = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
        let url = signer()
            .sign(
                "abc/full.mp4",
                "abc-full.mp4",
                Duration::from_secs(300),
                now,
            )
            .await
            .unwrap();
        let (file, exp, filename, sig) = parse(&url);
        let s = signer();
        let bad = Err(SignedUrlError::BadSignature);
        assert_eq!(s.verify("abc/other.mp4", exp, &filename, &sig, now), bad);
        assert_eq!(s.verify(&file, exp + 3600, &filename, &sig, now), bad);
        assert_eq!(s.verify(&file, exp, "evil.exe", &sig, now), bad);
        assert_eq!(s.verify(&file, exp, &filename, "AAAA", now), bad);
        assert_eq!(s.verify(&file, exp, &filename, "%%%", now), bad);
        let other = LocalSigner::new(SecretKey::new(vec![1; 32]).unwrap());
        assert_eq!(other.verify(&file, exp, &filename, &sig, now), bad);
    }

    #[tokio::test]
    async fn unsafe_paths_are_never_signed() {
        let now = Utc::now();
        for bad in ["../secret", "/etc/passwd", "a/../../b", "", "a\\..\\b"] {
            assert!(
                signer()
                    .sign(bad, "x", Duration::from_secs(60), now)
                    .await
                    .is_err(),
                "{bad:?}"
            );
        }
    }

    #[tokio::test]
    async fn file_catalog_finds_listed_parts_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("videos.json");
        let cat = FileCatalog::new(&path);
        assert!(matches!(
            cat.part("v", "full").await,
            Err(CatalogError::Unavailable(_))
        ));
        std::fs::write(
            &path,
            r#"{"videos": {"v1": {"title": "T", "parts": {"full": {"file": "v1/full.mp4", "filename": "v1-full.mp4", "start": null, "end": null}, "q1": {"file": "v1/q1.mp4", "filename": "v1-q1.mp4", "start": 0, "end": 581}}}}}"#,
        )
        .unwrap();
        assert_eq!(
            cat.part("v1", "q1").await.unwrap().unwrap().end,
            Some(581.0)
        );
        assert!(cat.part("v1", "q2").await.unwrap().is_none());
        assert!(cat.part("v2", "full").await.unwrap().is_none());
        std::fs::write(&path, "{").unwrap();
        assert!(matches!(
            cat.part("v1", "full").await,
            Err(CatalogError::Malformed(_))
        ));
    }
}
