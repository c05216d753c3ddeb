//! Implementations of [`crate::ports::Store`]: SQLite for `pressroom serve` and tests, DynamoDB
//! for Lambda.

pub mod dynamo;
#[cfg(feature = "local")]
pub mod sqlite;
