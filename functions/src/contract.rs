//! Names shared by the account functions, the infrastructure template (`infra/template.yaml`)
//! and `pressroom deploy`.
//!
//! Anything that both the code and the template must spell the same way lives here, and a test
//! in `infra/` (see `tests/`) reads the template and asserts it matches these constants, so code
//! and infrastructure cannot drift apart.

/// Environment variables read once at cold start by every Lambda.
pub mod env {
    /// DynamoDB table holding accounts, codes, sessions, throttles and the download log.
    pub const TABLE: &str = "PRESSROOM_TABLE";
    /// Verified SES sender, e.g. `Pressroom <press@example.org>`.
    pub const SENDER: &str = "PRESSROOM_SENDER";
    /// Reply-To address for account emails.
    pub const REPLY_TO: &str = "PRESSROOM_REPLY_TO";
    /// SES configuration set used for sending (bounces, complaints).
    pub const SES_CONFIGURATION_SET: &str = "PRESSROOM_SES_CONFIGURATION_SET";
    /// Private bucket holding the broadcast videos and the published catalog.
    pub const MEDIA_BUCKET: &str = "PRESSROOM_MEDIA_BUCKET";
    /// ARN of the Secrets Manager secret holding the keys (code hashing key).
    pub const SECRET_ARN: &str = "PRESSROOM_SECRET_ARN";
    /// Public origin of the site, e.g. `https://press.example.org`; state-changing requests must
    /// carry it in `Origin`.
    pub const SITE_ORIGIN: &str = "PRESSROOM_SITE_ORIGIN";
    /// Password policy: `composition` (the seed's rules) or `length` (NIST SP 800-63B).
    pub const PASSWORD_POLICY: &str = "PRESSROOM_PASSWORD_POLICY";
    /// Minimum password length for the chosen policy.
    pub const PASSWORD_MIN_LENGTH: &str = "PRESSROOM_PASSWORD_MIN_LENGTH";
    /// Lifetime of a signed download URL, in seconds.
    pub const DOWNLOAD_TTL_SECONDS: &str = "PRESSROOM_DOWNLOAD_TTL_SECONDS";
}

/// DynamoDB single-table design: every item has a string partition key and sort key.
pub mod table {
    pub const PARTITION_KEY: &str = "pk";
    pub const SORT_KEY: &str = "sk";
    /// Epoch seconds; DynamoDB TTL deletes expired codes and sessions (late: expiry is also
    /// enforced on every read).
    pub const TTL_ATTRIBUTE: &str = "expires_at";
}

/// Where the published catalog of downloadable videos lives.
pub mod catalog {
    /// Path of the catalog inside the built site (`public/`), written by the generator.
    pub const SITE_PATH: &str = "_pressroom/videos.json";
    /// Key of the catalog in the media bucket, uploaded by `pressroom deploy`, read by the
    /// download function.
    pub const MEDIA_KEY: &str = "catalog/videos.json";
    /// Prefix of video objects in the media bucket: `videos/{file}`.
    pub const MEDIA_PREFIX: &str = "videos/";
}

/// One Lambda function, the API routes it serves and the AWS services it uses. IAM is granted
/// per function from these flags (checked by `tests/infra.rs`), and each binary links only the
/// SDK clients its flags name (`crate::aws::lambda_app`), so they are also what it is built with.
/// Every function uses the table.
#[derive(Debug, Clone, Copy)]
pub struct Function {
    /// Binary name in `functions/src/bin/` and logical id stem in the template.
    pub name: &'static str,
    /// `(method, path)` pairs, paths under `/api/`.
    pub routes: &'static [(&'static str, &'static str)],
    /// Whether the function issues or checks one-time codes, and so reads the code-hashing key
    /// from the secret at cold start. Only these are granted `secretsmanager:GetSecretValue`.
    pub uses_code_key: bool,
    /// Whether the function sends email (codes, notices) through SES: `ses:SendEmail`.
    pub uses_mail: bool,
    /// Whether the function reads the catalog and presigns downloads from the media bucket:
    /// `s3:GetObject`.
    pub uses_media: bool,
}

impl Function {
    /// The function named `name`, if there is one.
    pub fn named(name: &str) -> Option<&'static Function> {
        FUNCTIONS.iter().find(|f| f.name == name)
    }

    /// The function named `name`, at compile time: `const F: &Function = Function::get("session");`
    /// fails to compile when there is no such function. (A binary uses it to choose its adapters
    /// as const generics.)
    pub const fn get(name: &str) -> &'static Function {
        let mut i = 0;
        while i < FUNCTIONS.len() {
            if const_str_eq(FUNCTIONS[i].name, name) {
                return &FUNCTIONS[i];
            }
            i += 1;
        }
        panic!("no function of that name in contract::FUNCTIONS")
    }
}

const fn const_str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Every function, grouped so each gets least-privilege IAM.
pub const FUNCTIONS: &[Function] = &[
    Function {
        name: "registration",
        routes: &[
            ("POST", "/api/signup"),
            ("POST", "/api/verify"),
            ("POST", "/api/resend"),
        ],
        uses_code_key: true,
        uses_mail: true,
        uses_media: false,
    },
    Function {
        name: "session",
        routes: &[
            ("POST", "/api/login"),
            ("POST", "/api/logout"),
            ("GET", "/api/me"),
        ],
        uses_code_key: false,
        uses_mail: false,
        uses_media: false,
    },
    Function {
        name: "recovery",
        routes: &[
            ("POST", "/api/password-reset"),
            ("POST", "/api/password-reset/confirm"),
        ],
        uses_code_key: true,
        uses_mail: true,
        uses_media: false,
    },
    Function {
        name: "newsletter",
        routes: &[("POST", "/api/newsletter")],
        uses_code_key: false,
        uses_mail: false,
        uses_media: false,
    },
    Function {
        name: "download",
        routes: &[("GET", "/api/download")],
        uses_code_key: false,
        uses_mail: false,
        uses_media: true,
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Routes that issue or check one-time codes, and so need the code-hashing key.
    const CODE_ROUTES: &[&str] = &[
        "/api/signup",
        "/api/verify",
        "/api/resend",
        "/api/password-reset",
        "/api/password-reset/confirm",
    ];

    #[test]
    fn exactly_the_functions_with_code_routes_read_the_code_key() {
        for f in FUNCTIONS {
            let has_code_route = f.routes.iter().any(|(_, p)| CODE_ROUTES.contains(p));
            assert_eq!(f.uses_code_key, has_code_route, "{}", f.name);
        }
    }

    /// Routes that send email: a code (signup, resend, reset) or a notice (signup on a verified
    /// address).
    const MAIL_ROUTES: &[&str] = &["/api/signup", "/api/resend", "/api/password-reset"];

    #[test]
    fn exactly_the_functions_with_mail_routes_send_mail() {
        for f in FUNCTIONS {
            let has_mail_route = f.routes.iter().any(|(_, p)| MAIL_ROUTES.contains(p));
            assert_eq!(f.uses_mail, has_mail_route, "{}", f.name);
        }
    }

    #[test]
    fn exactly_the_download_function_uses_the_media_bucket() {
        for f in FUNCTIONS {
            let downloads = f.routes.iter().any(|(_, p)| *p == "/api/download");
            assert_eq!(f.uses_media, downloads, "{}", f.name);
        }
    }

    #[test]
    fn functions_are_found_by_name() {
        assert_eq!(Function::named("download").unwrap().routes.len(), 1);
        assert!(Function::named("nope").is_none());
        const SESSION: &Function = Function::get("session");
        assert_eq!(SESSION.name, "session");
        for f in FUNCTIONS {
            assert_eq!(Function::get(f.name).routes, f.routes);
        }
    }
}
