//! Shared harness for the end-to-end tests: starting real servers on 127.0.0.1 (the AWS-API
//! server, the local Pressroom server) and the account flows run against every backend.
pub mod flows;
pub mod moto;
