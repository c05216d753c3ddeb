//! Settings of the account functions, read once: from the environment at a Lambda's cold start
//! ([`Config::from_env`]) or from the site config by the local server ([`Config::local`]).
//! Nothing else in the crate reads the environment.

use std::time::Duration;

use crate::contract::env;
use crate::domain::{PasswordPolicy, PolicyKind};
use crate::mail::template::EmailSettings;

/// Optional: site title used in emails (default `Pressroom`).
pub const ENV_SITE_TITLE: &str = "PRESSROOM_SITE_TITLE";
/// Optional: default email language (default `en`).
pub const ENV_DEFAULT_LANGUAGE: &str = "PRESSROOM_DEFAULT_LANGUAGE";

/// Default lifetime of a signed download URL.
pub const DEFAULT_DOWNLOAD_TTL: Duration = Duration::from_secs(5 * 60);

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {message}")]
    Invalid { name: &'static str, message: String },
}

/// Everything the handlers need to know about the site.
#[derive(Debug, Clone)]
pub struct Config {
    /// Origins accepted in the `Origin` header of state-changing requests (exact match).
    pub allowed_origins: Vec<String>,
    pub policy: PasswordPolicy,
    pub download_ttl: Duration,
    pub email: EmailSettings,
    /// Signup, resend and reset never answer faster than this, so their timing does not tell
    /// whether an address has an account (sending an email takes time; not sending does not).
    pub response_floor: Duration,
}

fn origin_of(url: &str) -> String {
    // `https://press.example.org/some/path` → `https://press.example.org`
    let trimmed = url.trim().trim_end_matches('/');
    match trimmed.find("://") {
        Some(i) => match trimmed[i + 3..].find('/') {
            Some(j) => trimmed[..i + 3 + j].to_owned(),
            None => trimmed.to_owned(),
        },
        None => trimmed.to_owned(),
    }
}

impl Config {
    /// For Lambda: reads `contract::env` once at cold start.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// [`Config::from_env`] with an injectable lookup (tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |name: &'static str| {
            get(name)
                .filter(|v| !v.trim().is_empty())
                .ok_or(ConfigError::Missing(name))
        };
        let site_origin = origin_of(&required(env::SITE_ORIGIN)?);
        let kind: PolicyKind = match get(env::PASSWORD_POLICY) {
            Some(v) if !v.trim().is_empty() => {
                v.parse().map_err(|message| ConfigError::Invalid {
                    name: env::PASSWORD_POLICY,
                    message,
                })?
            }
            _ => PolicyKind::Composition,
        };
        let min_length = match get(env::PASSWORD_MIN_LENGTH) {
            Some(v) if !v.trim().is_empty() => {
                v.trim().parse().map_err(|e| ConfigError::Invalid {
                    name: env::PASSWORD_MIN_LENGTH,
                    message: format!("{e}"),
                })?
            }
            _ => 12,
        };
        let download_ttl = match get(env::DOWNLOAD_TTL_SECONDS) {
            Some(v) if !v.trim().is_empty() => {
                Duration::from_secs(v.trim().parse().map_err(|e| ConfigError::Invalid {
                    name: env::DOWNLOAD_TTL_SECONDS,
                    message: format!("{e}"),
                })?)
            }
            _ => DEFAULT_DOWNLOAD_TTL,
        };
        let sender = required(env::SENDER)?;
        let reply_to = get(env::REPLY_TO).filter(|v| !v.trim().is_empty());
        Ok(Config {
            allowed_origins: vec![site_origin.clone()],
            policy: PasswordPolicy::new(kind, min_length),
            download_ttl,
            email: EmailSettings {
                sender,
                reply_to,
                site_title: get(ENV_SITE_TITLE).unwrap_or_else(|| "Pressroom".into()),
                site_origin,
                default_lang: get(ENV_DEFAULT_LANGUAGE).unwrap_or_else(|| "en".into()),
            },
            response_floor: Duration::from_millis(400),
        })
    }

    /// For the local server on `port`: accepts `http://127.0.0.1:PORT` and `http://localhost:PORT`.
    pub fn local(port: u16, policy: PasswordPolicy, site_title: &str, default_lang: &str) -> Self {
        let origin = format!("http://127.0.0.1:{port}");
        Config {
            allowed_origins: vec![origin.clone(), format!("http://localhost:{port}")],
            policy,
            download_ttl: DEFAULT_DOWNLOAD_TTL,
            email: EmailSettings {
                sender: format!("{site_title} <press@localhost.localdomain>"),
                reply_to: None,
                site_title: site_title.to_owned(),
                site_origin: origin,
                default_lang: default_lang.to_owned(),
            },
            response_floor: Duration::from_millis(150),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn reads_the_contract_variables() {
        let c = Config::from_lookup(lookup(&[
            (env::SITE_ORIGIN, "https://press.example.org/"),
            (env::SENDER, "Pressroom <press@example.org>"),
            (env::REPLY_TO, "desk@example.org"),
            (env::PASSWORD_POLICY, "length"),
            (env::PASSWORD_MIN_LENGTH, "15"),
            (env::DOWNLOAD_TTL_SECONDS, "120"),
        ]))
        .unwrap();
        assert_eq!(c.allowed_origins, vec!["https://press.example.org"]);
        assert_eq!(c.policy, PasswordPolicy::new(PolicyKind::Length, 15));
        assert_eq!(c.download_ttl, Duration::from_secs(120));
        assert_eq!(c.email.reply_to.as_deref(), Some("desk@example.org"));
    }

    #[test]
    fn missing_or_invalid_variables_are_named() {
        let e = Config::from_lookup(lookup(&[(env::SENDER, "a@b.org")])).unwrap_err();
        assert!(e.to_string().contains(env::SITE_ORIGIN));
        let e = Config::from_lookup(lookup(&[
            (env::SITE_ORIGIN, "https://x.org"),
            (env::SENDER, "a@b.org"),
            (env::PASSWORD_POLICY, "strict"),
        ]))
        .unwrap_err();
        assert!(e.to_string().contains(env::PASSWORD_POLICY));
    }

    #[test]
    fn local_accepts_both_loopback_names() {
        let c = Config::local(8080, PasswordPolicy::default(), "Pressroom", "en");
        assert_eq!(
            c.allowed_origins,
            vec!["http://127.0.0.1:8080", "http://localhost:8080"]
        );
    }
}
