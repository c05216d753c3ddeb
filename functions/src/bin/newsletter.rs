//! Lambda `newsletter`: newsletter consent (POST /api/newsletter).
//! Configuration and AWS clients are built once at cold start; routes come from
//! `functions::contract::FUNCTIONS`, anything else answers 404.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    functions::http::lambda_main("newsletter").await
}
