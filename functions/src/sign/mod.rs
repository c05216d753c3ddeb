//! Implementations of [`crate::ports::Signer`] and [`crate::ports::Catalog`]: HMAC-signed local
//! URLs and a JSON file locally, S3 presigned URLs and the catalog in the media bucket for Lambda.

#[cfg(feature = "local")]
pub mod local;
pub mod s3;
