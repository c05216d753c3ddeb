//! [`Mailer`] on Amazon SES (API v2): how the account Lambdas deliver codes and notices.
//!
//! Messages go out raw: the multipart/alternative MIME message the core built with lettre
//! ([`OutgoingEmail::mime`]), byte for byte what the local outbox writes. A message without one
//! goes as SES "simple" content (subject, text, HTML, UTF-8) and SES assembles it. The sender,
//! Reply-To
//! and configuration set (bounce and complaint tracking) come from the environment
//! ([`crate::contract::env`]), not from the message, so a template can never spoof the sender.
//! Addresses and codes never reach the log: a failure names the SES error, not the recipient.

use async_trait::async_trait;
use aws_sdk_sesv2::error::DisplayErrorContext;
use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message, RawMessage};
use aws_sdk_sesv2::Client;

use crate::ports::{MailError, Mailer, OutgoingEmail};

/// Where account emails come from, as configured for the deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SesSettings {
    /// Verified SES identity, e.g. `Pressroom <press@example.org>`.
    pub sender: String,
    /// Reply-To for every account email (the press desk), if any.
    pub reply_to: Option<String>,
    /// SES configuration set (event destinations for bounces and complaints), if any.
    pub configuration_set: Option<String>,
}

/// Sends [`OutgoingEmail`]s through SES v2 `SendEmail`.
#[derive(Debug, Clone)]
pub struct SesMailer {
    client: Client,
    settings: SesSettings,
}

/// SES refused or failed to take the message.
#[derive(Debug, thiserror::Error)]
#[error("SES SendEmail failed: {0}")]
pub struct SesFailure(String);

impl SesMailer {
    pub fn new(client: Client, settings: SesSettings) -> Self {
        SesMailer { client, settings }
    }

    pub fn settings(&self) -> &SesSettings {
        &self.settings
    }
}

fn utf8(data: &str) -> Result<Content, MailError> {
    Content::builder()
        .data(data)
        .charset("UTF-8")
        .build()
        .map_err(|e| MailError::Build(e.to_string()))
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), MailError> {
        let content = if email.mime.is_empty() {
            // No prebuilt message: let SES assemble text + HTML itself.
            let message = Message::builder()
                .subject(utf8(&email.subject)?)
                .body(
                    Body::builder()
                        .text(utf8(&email.text)?)
                        .html(utf8(&email.html)?)
                        .build(),
                )
                .build();
            EmailContent::builder().simple(message).build()
        } else {
            // The multipart/alternative message lettre built: the exact bytes the local
            // outbox writes, so what is tested locally is what SES delivers.
            let raw = RawMessage::builder()
                .data(Blob::new(email.mime.clone()))
                .build()
                .map_err(|e| MailError::Build(e.to_string()))?;
            EmailContent::builder().raw(raw).build()
        };
        let reply_to = self
            .settings
            .reply_to
            .clone()
            .or_else(|| email.reply_to.clone());
        let sent = self
            .client
            .send_email()
            .from_email_address(&self.settings.sender)
            .destination(
                Destination::builder()
                    .to_addresses(email.to.as_str())
                    .build(),
            )
            .set_reply_to_addresses(reply_to.map(|r| vec![r]))
            .set_configuration_set_name(self.settings.configuration_set.clone())
            .content(content)
            .send()
            .await;
        match sent {
            Ok(out) => {
                tracing::info!(
                    template = email.template,
                    message_id = out.message_id().unwrap_or("?"),
                    "email handed to SES"
                );
                Ok(())
            }
            Err(e) => Err(MailError::Delivery(Box::new(SesFailure(
                DisplayErrorContext(&e).to_string(),
            )))),
        }
    }
}
