//! Download links and the video catalog from the private S3 media bucket (production).
//!
//! [`S3Signer`] presigns a `GetObject` on `videos/{file}` (SigV4 query signing, so the link works
//! in a plain `<a href>` and expires on its own) with `response-content-disposition` set to
//! `attachment`, so browsers save the video under its catalog file name instead of playing it.
//! [`S3Catalog`] reads the catalog `pressroom deploy` uploads to `catalog/videos.json` and keeps
//! it for a short while, so a burst of downloads costs one S3 read, while a new deploy is still
//! seen within a minute.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::Client;
use chrono::{DateTime, Utc};

use crate::contract::catalog::{MEDIA_KEY, MEDIA_PREFIX};
use crate::ports::{Catalog, CatalogError, CatalogPart, SignError, Signer, VideoCatalog};

/// The longest a SigV4 presigned URL may live.
pub const MAX_URL_TTL: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// How long [`S3Catalog`] trusts its copy of the catalog.
pub const CATALOG_CACHE_TTL: Duration = Duration::from_secs(60);

/// Presigns downloads from the media bucket.
#[derive(Debug, Clone)]
pub struct S3Signer {
    client: Client,
    bucket: String,
}

impl S3Signer {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        S3Signer {
            client,
            bucket: bucket.into(),
        }
    }
}

/// `attachment` with both an ASCII fallback and the exact UTF-8 name (RFC 6266 / RFC 5987), so
/// `point-presse-été.mp4` saves as such in modern browsers and as `point-presse-_t_.mp4`
/// elsewhere.
pub fn content_disposition(filename: &str) -> String {
    let fallback: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' && c != '%' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if fallback == filename {
        format!("attachment; filename=\"{filename}\"")
    } else {
        format!(
            "attachment; filename=\"{fallback}\"; filename*=UTF-8''{}",
            urlencoding::encode(filename)
        )
    }
}

#[async_trait]
impl Signer for S3Signer {
    async fn sign(
        &self,
        file: &str,
        filename: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<String, SignError> {
        if ttl.is_zero() || ttl > MAX_URL_TTL {
            return Err(SignError::Failed(format!(
                "a download URL must live between 1 s and 7 days, not {}s",
                ttl.as_secs()
            )));
        }
        if file.is_empty() || file.starts_with('/') || file.split('/').any(|s| s == "..") {
            return Err(SignError::Failed(format!(
                "`{file}` is not a path under the media root"
            )));
        }
        let config = PresigningConfig::builder()
            .start_time(SystemTime::from(now))
            .expires_in(ttl)
            .build()
            .map_err(|e| SignError::Failed(e.to_string()))?;
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(format!("{MEDIA_PREFIX}{file}"))
            .response_content_disposition(content_disposition(filename))
            .presigned(config)
            .await
            .map_err(|e| SignError::Failed(DisplayErrorContext(&e).to_string()))?;
        Ok(request.uri().to_owned())
    }
}

/// A fetched catalog and when it was fetched.
type Cached = (Instant, Arc<VideoCatalog>);

/// The catalog of downloadable videos, read from the media bucket and cached briefly.
#[derive(Debug, Clone)]
pub struct S3Catalog {
    client: Client,
    bucket: String,
    max_age: Duration,
    cached: Arc<Mutex<Option<Cached>>>,
}

impl S3Catalog {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        S3Catalog {
            client,
            bucket: bucket.into(),
            max_age: CATALOG_CACHE_TTL,
            cached: Arc::new(Mutex::new(None)),
        }
    }

    /// Changes how long a fetched catalog is trusted (zero: read S3 every time).
    pub fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    async fn fetch(&self) -> Result<VideoCatalog, CatalogError> {
        let object = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(MEDIA_KEY)
            .send()
            .await
            .map_err(|e| {
                if e.as_service_error().is_some_and(|e| e.is_no_such_key()) {
                    CatalogError::Unavailable(format!(
                        "s3://{}/{MEDIA_KEY} does not exist: publish the site with `pressroom deploy`",
                        self.bucket
                    ))
                } else {
                    CatalogError::Unavailable(DisplayErrorContext(&e).to_string())
                }
            })?;
        let bytes = object
            .body
            .collect()
            .await
            .map_err(|e| CatalogError::Unavailable(format!("reading the catalog: {e}")))?
            .into_bytes();
        serde_json::from_slice(&bytes)
            .map_err(|e| CatalogError::Malformed(format!("s3://{}/{MEDIA_KEY}: {e}", self.bucket)))
    }

    /// The catalog, from the cache while fresh. If S3 fails, a stale copy is better than no
    /// downloads at all, so it is served (with a warning) when there is one.
    pub async fn catalog(&self) -> Result<Arc<VideoCatalog>, CatalogError> {
        let cached = self
            .cached
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some((at, catalog)) = &cached {
            if at.elapsed() < self.max_age {
                return Ok(catalog.clone());
            }
        }
        match self.fetch().await {
            Ok(fresh) => {
                let fresh = Arc::new(fresh);
                *self.cached.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some((Instant::now(), fresh.clone()));
                Ok(fresh)
            }
            Err(CatalogError::Unavailable(reason)) if cached.is_some() => {
                tracing::warn!(%reason, "serving a stale video catalog: S3 read failed");
                Ok(cached.map(|(_, c)| c).unwrap_or_default())
            }
            Err(e) => Err(e),
        }
    }
}

#[async_trait]
impl Catalog for S3Catalog {
    async fn part(&self, video: &str, part: &str) -> Result<Option<CatalogPart>, CatalogError> {
        Ok(self.catalog().await?.part(video, part).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_names_are_quoted_as_is() {
        assert_eq!(
            content_disposition("abc-full.mp4"),
            "attachment; filename=\"abc-full.mp4\""
        );
    }

    #[test]
    fn non_ascii_names_get_a_fallback_and_an_rfc5987_name() {
        assert_eq!(
            content_disposition("point presse été.mp4"),
            "attachment; filename=\"point_presse__t_.mp4\"; \
             filename*=UTF-8''point%20presse%20%C3%A9t%C3%A9.mp4"
        );
    }
}
