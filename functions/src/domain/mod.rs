//! Validated domain types: whatever reaches the handlers' core has been parsed here first.
//!
//! "Parse, don't validate": an [`Email`] is trimmed and lowercased, a [`Password`] satisfied the
//! site's [`PasswordPolicy`], a [`Code`] is six ASCII digits. Their fields are private and the only
//! way in is a constructor that checks, so the rest of the crate never re-checks.

use std::collections::HashSet;
use std::fmt;
use std::sync::OnceLock;

use rand::rngs::OsRng;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// Why an input was refused. Mapped to the API's stable error codes by `handlers`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("not a valid email address")]
    InvalidEmail,
    #[error("password does not meet the policy: {}", rules_list(.0))]
    WeakPassword(Vec<PasswordRule>),
    #[error("a code is six digits")]
    InvalidCode,
    #[error("unknown purpose (expected `signup` or `reset`)")]
    InvalidPurpose,
}

fn rules_list(rules: &[PasswordRule]) -> String {
    rules
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A normalised email address: trimmed, lowercased, one `@`, a dotted domain, at most 254 bytes.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// Parses what a user typed. Deliberately modest (no quoted local parts, no IP literals):
    /// the real proof an address works is the code we send to it.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let email = raw.trim().to_lowercase();
        if email.is_empty() || email.len() > 254 {
            return Err(DomainError::InvalidEmail);
        }
        let (local, domain) = email.split_once('@').ok_or(DomainError::InvalidEmail)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if local_ok && domain_ok {
            Ok(Email(email))
        } else {
            Err(DomainError::InvalidEmail)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before `@`.
    pub fn local_part(&self) -> &str {
        self.0.split_once('@').map(|(l, _)| l).unwrap_or(&self.0)
    }

    /// A form safe for developer logs: `j***@example.org`. Never log the full address.
    pub fn masked(&self) -> String {
        let (local, domain) = self.0.split_once('@').unwrap_or((&self.0, ""));
        let first: String = local.chars().take(1).collect();
        format!("{first}***@{domain}")
    }
}

impl fmt::Debug for Email {
    // Debug output ends up in logs: keep the address out of them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.masked())
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Email {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Email::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// Which password rules the site enforces (`[accounts] password_policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyKind {
    /// At least `min_length` characters, no spaces, upper and lower case, digits and symbols.
    Composition,
    /// NIST SP 800-63B: at least `min_length` characters, anything goes.
    Length,
}

impl std::str::FromStr for PolicyKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "composition" => Ok(PolicyKind::Composition),
            "length" => Ok(PolicyKind::Length),
            other => Err(format!(
                "unknown password policy `{other}` (expected `composition` or `length`)"
            )),
        }
    }
}

/// One password rule; `as_str` is the machine-readable name the API returns in `rules`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PasswordRule {
    MinLength,
    MaxLength,
    NoSpaces,
    Uppercase,
    Lowercase,
    Digit,
    Symbol,
    Common,
    ContainsEmail,
}

impl PasswordRule {
    pub fn as_str(self) -> &'static str {
        match self {
            PasswordRule::MinLength => "min_length",
            PasswordRule::MaxLength => "max_length",
            PasswordRule::NoSpaces => "no_spaces",
            PasswordRule::Uppercase => "uppercase",
            PasswordRule::Lowercase => "lowercase",
            PasswordRule::Digit => "digit",
            PasswordRule::Symbol => "symbol",
            PasswordRule::Common => "common",
            PasswordRule::ContainsEmail => "contains_email",
        }
    }
}

/// Longest password accepted, in characters: bounds the argon2 input and request bodies.
pub const MAX_PASSWORD_CHARS: usize = 256;
/// The shortest `min_length` a site may configure.
pub const MIN_PASSWORD_FLOOR: usize = 8;

/// The site's password policy. Every policy also refuses common passwords, passwords containing
/// the email's local part, and passwords over [`MAX_PASSWORD_CHARS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PasswordPolicy {
    pub kind: PolicyKind,
    pub min_length: usize,
}

impl Default for PasswordPolicy {
    /// The seed's rules: 12 characters with composition.
    fn default() -> Self {
        PasswordPolicy {
            kind: PolicyKind::Composition,
            min_length: 12,
        }
    }
}

impl PasswordPolicy {
    /// A policy with `min_length` raised to at least [`MIN_PASSWORD_FLOOR`].
    pub fn new(kind: PolicyKind, min_length: usize) -> Self {
        PasswordPolicy {
            kind,
            min_length: min_length.clamp(MIN_PASSWORD_FLOOR, MAX_PASSWORD_CHARS),
        }
    }

    /// Every rule `candidate` breaks, in a stable order (empty when it is acceptable).
    pub fn failures(&self, candidate: &str, email: &Email) -> Vec<PasswordRule> {
        let mut failed = Vec::new();
        let chars = candidate.chars().count();
        if chars < self.min_length {
            failed.push(PasswordRule::MinLength);
        }
        if chars > MAX_PASSWORD_CHARS {
            failed.push(PasswordRule::MaxLength);
        }
        if self.kind == PolicyKind::Composition {
            if candidate.chars().any(char::is_whitespace) {
                failed.push(PasswordRule::NoSpaces);
            }
            if !candidate.chars().any(char::is_uppercase) {
                failed.push(PasswordRule::Uppercase);
            }
            if !candidate.chars().any(char::is_lowercase) {
                failed.push(PasswordRule::Lowercase);
            }
            if !candidate.chars().any(|c| c.is_ascii_digit()) {
                failed.push(PasswordRule::Digit);
            }
            if !candidate
                .chars()
                .any(|c| !c.is_alphanumeric() && !c.is_whitespace())
            {
                failed.push(PasswordRule::Symbol);
            }
        }
        if is_common_password(candidate) {
            failed.push(PasswordRule::Common);
        }
        let local = email.local_part();
        if local.chars().count() >= 3 && candidate.to_lowercase().contains(local) {
            failed.push(PasswordRule::ContainsEmail);
        }
        failed
    }

    /// Accepts `candidate` as a new password for `email`, or lists every rule it breaks.
    pub fn check(&self, candidate: &str, email: &Email) -> Result<Password, DomainError> {
        let failed = self.failures(candidate, email);
        if failed.is_empty() {
            Ok(Password(candidate.to_owned()))
        } else {
            Err(DomainError::WeakPassword(failed))
        }
    }
}

static COMMON_PASSWORDS_TXT: &str = include_str!("common-passwords.txt");

fn common_passwords() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| {
        COMMON_PASSWORDS_TXT
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect()
    })
}

/// Whether `candidate` is on the bundled list of common passwords (case-insensitively).
pub fn is_common_password(candidate: &str) -> bool {
    common_passwords().contains(candidate.to_lowercase().as_str())
}

/// A new password that satisfied the policy. Only [`PasswordPolicy::check`] makes one; `Debug`
/// never prints it.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// A six-digit one-time code.
#[derive(Clone, PartialEq, Eq)]
pub struct Code(String);

impl Code {
    /// A fresh code, uniformly drawn from the operating system's CSPRNG.
    pub fn generate() -> Self {
        let n: u32 = OsRng.gen_range(0..1_000_000);
        Code(format!("{n:06}"))
    }

    /// Parses what the user typed; spaces and dashes (`123 456`, `123-456`) are tolerated.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let digits: String = raw
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect();
        if digits.len() == 6 && digits.chars().all(|c| c.is_ascii_digit()) {
            Ok(Code(digits))
        } else {
            Err(DomainError::InvalidCode)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Code(<redacted>)")
    }
}

/// What a code is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Purpose {
    /// Confirms a new account's address.
    Signup,
    /// Authorises a password reset.
    Reset,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Signup => "signup",
            Purpose::Reset => "reset",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        match raw.trim() {
            "signup" => Ok(Purpose::Signup),
            "reset" => Ok(Purpose::Reset),
            _ => Err(DomainError::InvalidPurpose),
        }
    }
}

/// A language tag as sent by the site (`en`, `fr`, `pt-BR`); normalised to lowercase primary
/// subtag plus optional region. Unknown or malformed input becomes `None` at the edge and the
/// emails fall back to the default language.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Lang(String);

impl Lang {
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        let mut parts = raw.splitn(2, ['-', '_']);
        let primary = parts.next()?.to_ascii_lowercase();
        if !(2..=3).contains(&primary.len()) || !primary.chars().all(|c| c.is_ascii_alphabetic()) {
            return None;
        }
        match parts.next() {
            None => Some(Lang(primary)),
            Some(region)
                if (2..=8).contains(&region.len())
                    && region.chars().all(|c| c.is_ascii_alphanumeric()) =>
            {
                Some(Lang(format!("{primary}-{region}")))
            }
            Some(_) => Some(Lang(primary)),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `pt-br` → `pt`.
    pub fn primary(&self) -> &str {
        self.0.split('-').next().unwrap_or(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(s: &str) -> Email {
        Email::parse(s).unwrap()
    }

    #[test]
    fn email_is_trimmed_and_lowercased() {
        let e = email("  Jane.Doe@Example.ORG ");
        assert_eq!(e.as_str(), "jane.doe@example.org");
        assert_eq!(e.local_part(), "jane.doe");
        assert_eq!(e.masked(), "j***@example.org");
        assert!(!format!("{e:?}").contains("jane.doe"));
    }

    #[test]
    fn email_rejects_malformed() {
        for bad in [
            "",
            "jane",
            "jane@",
            "@example.org",
            "jane@example",
            "ja ne@example.org",
            "jane@@example.org",
            "jane@exa mple.org",
            ".jane@example.org",
            "ja..ne@example.org",
            "jane@-example.org",
            "jane@example..org",
        ] {
            assert_eq!(Email::parse(bad), Err(DomainError::InvalidEmail), "{bad:?}");
        }
        let long = format!("{}@example.org", "a".repeat(65));
        assert!(Email::parse(&long).is_err());
    }

    #[test]
    fn composition_policy_reports_each_rule() {
        let p = PasswordPolicy::default();
        let e = email("jane@example.org");
        assert!(p.check("Tr0ub4dor&3-Horse", &e).is_ok());
        assert_eq!(p.failures("Sh0rt!a", &e), vec![PasswordRule::MinLength]);
        assert_eq!(
            p.failures("With Space 123!", &e),
            vec![PasswordRule::NoSpaces]
        );
        assert_eq!(
            p.failures("alllowercase123!", &e),
            vec![PasswordRule::Uppercase]
        );
        assert_eq!(
            p.failures("ALLUPPERCASE123!", &e),
            vec![PasswordRule::Lowercase]
        );
        assert_eq!(p.failures("NoDigitsHere!!x", &e), vec![PasswordRule::Digit]);
        assert_eq!(
            p.failures("NoSymbols12345x", &e),
            vec![PasswordRule::Symbol]
        );
        assert_eq!(
            p.failures("abc", &e),
            vec![
                PasswordRule::MinLength,
                PasswordRule::Uppercase,
                PasswordRule::Digit,
                PasswordRule::Symbol
            ]
        );
    }

    #[test]
    fn length_policy_accepts_anything_long_enough() {
        let p = PasswordPolicy::new(PolicyKind::Length, 10);
        let e = email("jane@example.org");
        assert!(p.check("correct horse battery", &e).is_ok());
        assert!(p.check("ééééééééééé", &e).is_ok());
        assert_eq!(p.failures("short one", &e), vec![PasswordRule::MinLength]);
    }

    #[test]
    fn min_length_has_a_floor() {
        assert_eq!(PasswordPolicy::new(PolicyKind::Length, 3).min_length, 8);
    }

    #[test]
    fn common_passwords_are_refused_case_insensitively() {
        let p = PasswordPolicy::new(PolicyKind::Length, 8);
        let e = email("jane@example.org");
        assert!(is_common_password("password"));
        assert!(is_common_password("PassWord"));
        assert!(is_common_password("iloveyou"));
        assert_eq!(p.failures("PASSWORD1", &e), vec![PasswordRule::Common]);
        assert!(!is_common_password("Tr0ub4dor&3-Horse"));
        assert!(common_passwords().len() > 5000);
    }

    #[test]
    fn password_containing_local_part_is_refused() {
        let p = PasswordPolicy::default();
        let e = email("jane.doe@example.org");
        assert_eq!(
            p.failures("MyJane.Doe!2024x", &e),
            vec![PasswordRule::ContainsEmail]
        );
    }

    #[test]
    fn length_is_capped() {
        let p = PasswordPolicy::new(PolicyKind::Length, 8);
        let e = email("jane@example.org");
        let long = "x".repeat(MAX_PASSWORD_CHARS + 1);
        assert_eq!(p.failures(&long, &e), vec![PasswordRule::MaxLength]);
        assert!(p.check(&"y".repeat(MAX_PASSWORD_CHARS), &e).is_ok());
    }

    #[test]
    fn codes_are_six_digits() {
        for _ in 0..200 {
            let c = Code::generate();
            assert_eq!(c.as_str().len(), 6);
            assert!(c.as_str().chars().all(|c| c.is_ascii_digit()));
        }
        assert_eq!(Code::parse(" 123 456 ").unwrap().as_str(), "123456");
        assert_eq!(Code::parse("123-456").unwrap().as_str(), "123456");
        for bad in ["12345", "1234567", "12a456", "", "１２３４５６"] {
            assert!(Code::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn purpose_and_lang_parse() {
        assert_eq!(Purpose::parse("reset"), Ok(Purpose::Reset));
        assert!(Purpose::parse("admin").is_err());
        assert_eq!(Lang::parse("FR").unwrap().as_str(), "fr");
        assert_eq!(Lang::parse("pt_BR").unwrap().as_str(), "pt-BR");
        assert_eq!(Lang::parse("pt-BR").unwrap().primary(), "pt");
        assert!(Lang::parse("../../etc").is_none());
        assert!(Lang::parse("").is_none());
    }
}
