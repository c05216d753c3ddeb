//! Implementations of [`crate::ports::Mailer`]: an outbox folder of `.eml` files locally, SES
//! for Lambda.

#[cfg(feature = "local")]
pub mod outbox;
pub mod ses;
pub mod template;
