//! Lambda `recovery`: password reset (POST /api/password-reset, /api/password-reset/confirm).
//! Configuration and the AWS clients it uses (chosen at compile time from its contract flags)
//! are built once at cold start; routes come from `functions::contract::FUNCTIONS`, anything
//! else answers 404.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    functions::lambda_main!("recovery").await
}
