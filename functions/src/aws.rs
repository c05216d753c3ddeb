//! Cold start of an account Lambda: read the environment once, build the SDK clients it uses
//! once, fetch the code-hashing key from Secrets Manager if it handles codes, and wire the AWS
//! adapters into the handlers. Which clients a function links is decided at compile time from
//! its [`crate::contract::Function`] flags ([`adapters_for`]).
//!
//! Everything here runs once per container, before the first request; handlers only borrow what
//! it built (they never read the environment). A missing or malformed setting stops the cold
//! start with a message naming the variable, so a misconfigured deploy fails loudly in the
//! function's log instead of answering 500s.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use aws_config::{BehaviorVersion, SdkConfig};

use crate::config::Config;
use crate::contract::{env, Function};
use crate::crypto::SecretKey;
use crate::domain::{PasswordPolicy, PolicyKind};
use crate::handlers::App;
use crate::mail::ses::{SesMailer, SesSettings};
use crate::mail::template::EmailTheme;
use crate::ports::{Catalog, Mailer, NotWired, Signer};
use crate::sign::s3::{S3Catalog, S3Signer, MAX_URL_TTL};
use crate::store::dynamo::DynamoStore;

/// A setting the cold start could not use.
#[derive(Debug, thiserror::Error)]
pub enum AwsConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error("could not read the secret {arn}: {reason}")]
    Secret { arn: String, reason: String },
    #[error("the function `{function}` is wired wrong: {reason}")]
    Wiring {
        function: &'static str,
        reason: String,
    },
}

/// The Lambda environment ([`crate::contract::env`]), parsed and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsEnv {
    pub table: String,
    pub media_bucket: String,
    pub ses: SesSettings,
    pub secret_arn: String,
    pub site_origin: String,
    pub password_policy: PolicyKind,
    pub password_min_length: usize,
    pub download_ttl: Duration,
}

impl AwsEnv {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, AwsConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` (the environment, or a map in tests). Empty values count
    /// as unset, as CloudFormation writes `""` for an omitted optional parameter.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, AwsConfigError> {
        let optional = |name: &'static str| lookup(name).filter(|v| !v.trim().is_empty());
        let required = |name: &'static str| optional(name).ok_or(AwsConfigError::Missing(name));
        let invalid = |name: &'static str, reason: String| AwsConfigError::Invalid { name, reason };

        let password_policy = match optional(env::PASSWORD_POLICY) {
            Some(raw) => raw
                .parse::<PolicyKind>()
                .map_err(|e| invalid(env::PASSWORD_POLICY, e))?,
            None => PolicyKind::Composition,
        };
        let password_min_length = match optional(env::PASSWORD_MIN_LENGTH) {
            Some(raw) => raw.trim().parse::<usize>().map_err(|e| {
                invalid(
                    env::PASSWORD_MIN_LENGTH,
                    format!("`{raw}` is not a number: {e}"),
                )
            })?,
            None => 12,
        };
        let download_ttl = match optional(env::DOWNLOAD_TTL_SECONDS) {
            Some(raw) => {
                let secs = raw.trim().parse::<u64>().map_err(|e| {
                    invalid(
                        env::DOWNLOAD_TTL_SECONDS,
                        format!("`{raw}` is not a number: {e}"),
                    )
                })?;
                let ttl = Duration::from_secs(secs);
                if secs == 0 || ttl > MAX_URL_TTL {
                    return Err(invalid(
                        env::DOWNLOAD_TTL_SECONDS,
                        format!("{secs} s: a signed URL lives between 1 s and 7 days"),
                    ));
                }
                ttl
            }
            None => Duration::from_secs(300),
        };
        let site_origin = required(env::SITE_ORIGIN)?.trim_end_matches('/').to_owned();
        if !(site_origin.starts_with("https://") || site_origin.starts_with("http://")) {
            return Err(invalid(
                env::SITE_ORIGIN,
                format!("`{site_origin}` is not an origin like https://press.example.org"),
            ));
        }
        let sender = required(env::SENDER)?;
        if !sender.contains('@') {
            return Err(invalid(
                env::SENDER,
                "expected an address like `Pressroom <press@example.org>`".to_owned(),
            ));
        }
        Ok(AwsEnv {
            table: required(env::TABLE)?,
            media_bucket: required(env::MEDIA_BUCKET)?,
            ses: SesSettings {
                sender,
                reply_to: optional(env::REPLY_TO),
                configuration_set: optional(env::SES_CONFIGURATION_SET),
            },
            secret_arn: required(env::SECRET_ARN)?,
            site_origin,
            password_policy,
            password_min_length,
            download_ttl,
        })
    }

    pub fn password_policy(&self) -> PasswordPolicy {
        PasswordPolicy::new(self.password_policy, self.password_min_length)
    }
}

/// The AWS implementations of the ports, sharing one SDK configuration. A port the function does
/// not use is [`NotWired`] (see [`adapters_for`]).
#[derive(Clone)]
pub struct AwsAdapters {
    pub store: DynamoStore,
    pub mailer: Arc<dyn Mailer>,
    pub signer: Arc<dyn Signer>,
    pub catalog: Arc<dyn Catalog>,
    pub code_key: SecretKey,
}

/// The SDK configuration of the running Lambda (region and credentials from its environment).
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// Fetches the code-hashing key: the secret's string (as generated by the template: 64
/// alphanumerics) or binary value, at least [`SecretKey::MIN_LEN`] bytes.
pub async fn code_key(
    client: &aws_sdk_secretsmanager::Client,
    arn: &str,
) -> Result<SecretKey, AwsConfigError> {
    let failed = |reason: String| AwsConfigError::Secret {
        arn: arn.to_owned(),
        reason,
    };
    let out = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| failed(aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string()))?;
    let bytes = match (out.secret_string(), out.secret_binary()) {
        (Some(text), _) => text.trim().as_bytes().to_vec(),
        (None, Some(blob)) => blob.as_ref().to_vec(),
        (None, None) => return Err(failed("the secret has no value".to_owned())),
    };
    let len = bytes.len();
    SecretKey::new(bytes).ok_or_else(|| {
        failed(format!(
            "the key is {len} bytes; at least {} are needed",
            SecretKey::MIN_LEN
        ))
    })
}

/// Every adapter wired, with a given S3 client (path-style addressing for an S3-compatible test
/// server): what the AWS tests run the flows on.
pub async fn adapters_with_s3(
    settings: &AwsEnv,
    sdk: &SdkConfig,
    s3: aws_sdk_s3::Client,
) -> Result<AwsAdapters, AwsConfigError> {
    wire::<true, true, true>("all", settings, sdk, || s3).await
}

/// The adapters of one Lambda, `function`, with the ports its contract flags name:
/// `CODE_KEY` reads the code-hashing key from Secrets Manager
/// ([`crate::contract::Function::uses_code_key`]; without it the key is an ephemeral random one
/// that no route of the function uses), `MAIL` sends through SES (`uses_mail`), `MEDIA` signs
/// and reads the catalog on S3 (`uses_media`); the others are [`NotWired`].
///
/// The flags are const generics, not values, so that a client a function does not use is not
/// merely left idle but absent from its binary (the dead branch, and with it that SDK, is
/// removed at compile time). [`crate::lambda_main!`] passes them from the contract; a mismatch
/// with `function`'s flags is refused here.
pub async fn adapters_for<const CODE_KEY: bool, const MAIL: bool, const MEDIA: bool>(
    function: &'static Function,
    settings: &AwsEnv,
    sdk: &SdkConfig,
) -> Result<AwsAdapters, AwsConfigError> {
    let wanted = (
        function.uses_code_key,
        function.uses_mail,
        function.uses_media,
    );
    if wanted != (CODE_KEY, MAIL, MEDIA) {
        return Err(AwsConfigError::Wiring {
            function: function.name,
            reason: format!(
                "built with (code key, mail, media) = {:?}, the contract says {wanted:?}",
                (CODE_KEY, MAIL, MEDIA)
            ),
        });
    }
    wire::<CODE_KEY, MAIL, MEDIA>(function.name, settings, sdk, || {
        aws_sdk_s3::Client::new(sdk)
    })
    .await
}

async fn wire<const CODE_KEY: bool, const MAIL: bool, const MEDIA: bool>(
    function: &'static str,
    settings: &AwsEnv,
    sdk: &SdkConfig,
    s3: impl FnOnce() -> aws_sdk_s3::Client,
) -> Result<AwsAdapters, AwsConfigError> {
    let not_wired = Arc::new(NotWired { function });
    // Boxed, not awaited in the branch: an `.await` in a branch that is dead for this function
    // still compiles its future into this async fn's state machine, and with it the Secrets
    // Manager client; a future built in a dead branch is removed with the branch.
    let fetch_key: Pin<Box<dyn Future<Output = Result<SecretKey, AwsConfigError>> + Send>> =
        if CODE_KEY {
            let secrets = aws_sdk_secretsmanager::Client::new(sdk);
            let arn = settings.secret_arn.clone();
            Box::pin(async move { code_key(&secrets, &arn).await })
        } else {
            Box::pin(std::future::ready(Ok(SecretKey::generate())))
        };
    let code_key = fetch_key.await?;
    let mailer: Arc<dyn Mailer> = if MAIL {
        Arc::new(SesMailer::new(
            aws_sdk_sesv2::Client::new(sdk),
            settings.ses.clone(),
        ))
    } else {
        not_wired.clone()
    };
    let (signer, catalog): (Arc<dyn Signer>, Arc<dyn Catalog>) = if MEDIA {
        let s3 = s3();
        (
            Arc::new(S3Signer::new(s3.clone(), &settings.media_bucket)),
            Arc::new(S3Catalog::new(s3, &settings.media_bucket)),
        )
    } else {
        (not_wired.clone(), not_wired)
    };
    Ok(AwsAdapters {
        store: DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), &settings.table),
        mailer,
        signer,
        catalog,
        code_key,
    })
}

/// Everything the Lambda `function` needs, built once per container from its environment: the
/// handlers' [`Config`], its SDK clients ([`adapters_for`]), the code key if it uses one, and, if
/// it sends email, the embedded email theme (checked to render in every language before the first
/// request).
pub async fn lambda_app<const CODE_KEY: bool, const MAIL: bool, const MEDIA: bool>(
    function: &'static Function,
) -> anyhow::Result<App> {
    let config = Config::from_env().context("reading the function's settings")?;
    let settings = AwsEnv::from_env().context("reading the function's AWS resources")?;
    let theme = if MAIL {
        let theme = EmailTheme::embedded().context("loading the email templates")?;
        theme
            .validate(&config.email)
            .context("checking the email templates")?;
        theme
    } else {
        EmailTheme::none()
    };
    let sdk = sdk_config().await;
    let aws = adapters_for::<CODE_KEY, MAIL, MEDIA>(function, &settings, &sdk).await?;
    Ok(App::new(
        config,
        aws.code_key,
        Arc::new(aws.store),
        aws.mailer,
        aws.signer,
        aws.catalog,
        Arc::new(theme),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    const FULL: &[(&str, &str)] = &[
        (env::TABLE, "pressroom"),
        (env::SENDER, "Pressroom <press@example.org>"),
        (env::REPLY_TO, ""),
        (env::SES_CONFIGURATION_SET, "pressroom"),
        (env::MEDIA_BUCKET, "media"),
        (
            env::SECRET_ARN,
            "arn:aws:secretsmanager:eu-west-3:1:secret:k",
        ),
        (env::SITE_ORIGIN, "https://press.example.org/"),
        (env::PASSWORD_POLICY, "length"),
        (env::PASSWORD_MIN_LENGTH, "15"),
        (env::DOWNLOAD_TTL_SECONDS, "600"),
    ];

    #[test]
    fn reads_the_template_environment() {
        let settings = AwsEnv::from_lookup(lookup(FULL)).unwrap();
        assert_eq!(settings.site_origin, "https://press.example.org");
        assert_eq!(settings.ses.reply_to, None, "empty means unset");
        assert_eq!(settings.ses.configuration_set.as_deref(), Some("pressroom"));
        assert_eq!(settings.password_policy, PolicyKind::Length);
        assert_eq!(settings.password_min_length, 15);
        assert_eq!(settings.download_ttl, Duration::from_secs(600));
    }

    #[test]
    fn names_the_variable_that_is_missing_or_wrong() {
        let without_table: Vec<_> = FULL
            .iter()
            .copied()
            .filter(|(k, _)| *k != env::TABLE)
            .collect();
        let err = AwsEnv::from_lookup(lookup(&without_table)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable PRESSROOM_TABLE is not set"
        );

        let mut week_and_a_day = FULL.to_vec();
        week_and_a_day.retain(|(k, _)| *k != env::DOWNLOAD_TTL_SECONDS);
        week_and_a_day.push((env::DOWNLOAD_TTL_SECONDS, "691200"));
        let err = AwsEnv::from_lookup(lookup(&week_and_a_day)).unwrap_err();
        assert!(
            err.to_string().contains("PRESSROOM_DOWNLOAD_TTL_SECONDS"),
            "{err}"
        );

        let mut bad_policy = FULL.to_vec();
        bad_policy.retain(|(k, _)| *k != env::PASSWORD_POLICY);
        bad_policy.push((env::PASSWORD_POLICY, "strong"));
        let err = AwsEnv::from_lookup(lookup(&bad_policy)).unwrap_err();
        assert!(err.to_string().contains("unknown password policy"), "{err}");
    }

    #[tokio::test]
    async fn a_function_gets_only_the_ports_of_its_contract() {
        let settings = AwsEnv::from_lookup(lookup(FULL)).unwrap();
        let sdk = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .build();
        let session = Function::get("session");
        let wrong = adapters_for::<false, true, false>(session, &settings, &sdk).await;
        assert!(
            matches!(
                wrong,
                Err(AwsConfigError::Wiring {
                    function: "session",
                    ..
                })
            ),
            "a binary built with other ports than its contract's is refused"
        );
        let aws = adapters_for::<false, false, false>(session, &settings, &sdk)
            .await
            .unwrap();
        let now = chrono::Utc::now();
        let ttl = Duration::from_secs(60);
        assert!(matches!(
            aws.signer.sign("v/full.mp4", "v-full.mp4", ttl, now).await,
            Err(crate::ports::SignError::NotWired("session"))
        ));
        assert!(matches!(
            aws.catalog.part("v", "full").await,
            Err(crate::ports::CatalogError::NotWired("session"))
        ));
        let email = crate::ports::OutgoingEmail {
            to: crate::domain::Email::parse("jane@example.org").unwrap(),
            from: "Pressroom <press@example.org>".to_owned(),
            reply_to: None,
            subject: "s".to_owned(),
            text: "t".to_owned(),
            html: "h".to_owned(),
            mime: Vec::new(),
            dev_code: None,
            template: "notice",
        };
        assert!(matches!(
            aws.mailer.send(&email).await,
            Err(crate::ports::MailError::NotWired("session"))
        ));
    }
}
