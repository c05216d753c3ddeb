//! Pressroom account functions: the handlers behind `/api/`, the adapters they run on
//! (SQLite or DynamoDB, an outbox folder or SES, a local or S3 signer) and one binary per Lambda.
//!
//! The local adapters and the axum router exist only with the `local` feature (`pressroom serve`,
//! the tests); the Lambdas are built without it and link none of them.

pub mod aws;
pub mod config;
pub mod contract;
pub mod crypto;
pub mod domain;
pub mod export;
pub mod handlers;
pub mod http;
#[cfg(feature = "local")]
pub mod local;
pub mod mail;
pub mod ports;
pub mod sign;
pub mod store;
pub mod typography;
