//! The local [`Mailer`]: writes each email as an `.eml` file into an outbox folder (open it with
//! any mail client) and prints one line to stderr with the code, so a developer running
//! `pressroom serve` can sign up without a mail server. Only for local use: the code line is a
//! deliberate convenience that a delivering mailer must never imitate.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;

use crate::ports::{MailError, Mailer, OutgoingEmail};

/// Writes `.eml` files to a folder.
#[derive(Debug)]
pub struct OutboxMailer {
    dir: PathBuf,
    /// Print the `✉ code for j***@example.org: 123456` line (on for `pressroom serve`, off in tests).
    announce: bool,
    seq: AtomicU64,
}

impl OutboxMailer {
    /// An outbox in `dir` (created if missing).
    pub fn new(dir: impl Into<PathBuf>, announce: bool) -> std::io::Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        Ok(OutboxMailer {
            dir,
            announce,
            seq: AtomicU64::new(0),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[async_trait]
impl Mailer for OutboxMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), MailError> {
        let now = chrono::Utc::now();
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        // Sortable by time, unique within the process, no personal data in the name.
        let name = format!(
            "{}-{:06}-{seq:04}-{}.eml",
            now.format("%Y%m%dT%H%M%S"),
            now.timestamp_subsec_micros(),
            email.template
        );
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let path = self.dir.join(&name);
        let bytes = email.mime.clone();
        // Write then rename, so a reader never sees half a message.
        tokio::fs::write(&tmp, bytes)
            .await
            .map_err(|e| MailError::Delivery(Box::new(e)))?;
        tokio::fs::rename(&tmp, &path)
            .await
            .map_err(|e| MailError::Delivery(Box::new(e)))?;
        if self.announce {
            match &email.dev_code {
                Some(code) => eprintln!(
                    "✉ {} code for {}: {code}  ({})",
                    email.template,
                    email.to.masked(),
                    path.display()
                ),
                None => eprintln!(
                    "✉ {} email for {}  ({})",
                    email.template,
                    email.to.masked(),
                    path.display()
                ),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Code, Email};
    use crate::mail::template::{EmailKind, EmailSettings, EmailTheme};

    #[tokio::test]
    async fn writes_one_eml_per_message() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = OutboxMailer::new(dir.path().join("outbox"), false).unwrap();
        let settings = EmailSettings {
            sender: "Pressroom <press@example.org>".into(),
            reply_to: None,
            site_title: "Pressroom".into(),
            site_origin: "http://127.0.0.1:8080".into(),
            default_lang: "en".into(),
        };
        let theme = EmailTheme::embedded().unwrap();
        let to = Email::parse("jane@example.org").unwrap();
        for _ in 0..2 {
            let m = theme
                .render(
                    &settings,
                    EmailKind::Verify,
                    &to,
                    None,
                    Some(&Code::parse("123456").unwrap()),
                )
                .unwrap();
            outbox.send(&m).await.unwrap();
        }
        let files: Vec<_> = std::fs::read_dir(outbox.dir()).unwrap().collect();
        assert_eq!(files.len(), 2);
        let body = std::fs::read_to_string(files[0].as_ref().unwrap().path()).unwrap();
        assert!(body.contains("To: jane@example.org"));
        assert!(body.contains("123456"));
    }
}
