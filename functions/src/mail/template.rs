//! Renders the account emails (`verify`, `reset`, `notice`) from the theme's `emails/` templates
//! and the `[email]` strings of its `i18n/<lang>.toml`, into a text + HTML multipart message.
//!
//! The default theme is embedded at compile time (see `build.rs`); the local server may point at
//! a theme folder on disk instead. A language is available as soon as an i18n file has an
//! `[email]` section; a string missing in that language falls back to the default language.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::Message;
use serde::Serialize;

use crate::domain::{Code, Email, Lang};
use crate::ports::OutgoingEmail;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded_theme.rs"));
}

/// The three account emails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailKind {
    /// The signup code.
    Verify,
    /// The password reset code.
    Reset,
    /// "You already have an account" (a signup for a verified address).
    Notice,
}

impl EmailKind {
    pub fn name(self) -> &'static str {
        match self {
            EmailKind::Verify => "verify",
            EmailKind::Reset => "reset",
            EmailKind::Notice => "notice",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read the email theme at {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("i18n file {lang}.toml is not valid TOML: {message}")]
    I18n { lang: String, message: String },
    #[error("the default language `{0}` has no [email] strings")]
    NoDefaultLanguage(String),
    #[error("email template error: {0}")]
    Tera(String),
    #[error("email template `{0}` is missing (need .txt and .html)")]
    MissingTemplate(String),
    #[error("invalid sender or recipient address: {0}")]
    Address(String),
    #[error("cannot build the MIME message: {0}")]
    Mime(String),
}

fn tera_err(e: tera::Error) -> TemplateError {
    // Include the cause chain: tera's top-level message alone rarely says what is wrong.
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    TemplateError::Tera(msg)
}

/// Who the emails come from, and the site they talk about.
#[derive(Debug, Clone)]
pub struct EmailSettings {
    /// `Pressroom <press@example.org>`.
    pub sender: String,
    pub reply_to: Option<String>,
    /// Site title used in subjects and signatures.
    pub site_title: String,
    /// Public origin, for links: `https://press.example.org`.
    pub site_origin: String,
    pub default_lang: String,
}

/// Loaded templates and strings.
pub struct EmailTheme {
    tera: tera::Tera,
    /// lang → flattened `[email]` table (`verify.subject`, `signature`, …).
    strings: HashMap<String, BTreeMap<String, String>>,
}

impl std::fmt::Debug for EmailTheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut langs: Vec<_> = self.strings.keys().collect();
        langs.sort();
        f.debug_struct("EmailTheme")
            .field("languages", &langs)
            .finish()
    }
}

fn flatten(prefix: &str, table: &toml::Table, out: &mut BTreeMap<String, String>) {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(t) => flatten(&key, t, out),
            toml::Value::String(s) => {
                out.insert(key, s.clone());
            }
            other => {
                out.insert(key, other.to_string());
            }
        }
    }
}

fn email_strings(lang: &str, source: &str) -> Result<BTreeMap<String, String>, TemplateError> {
    let doc: toml::Table = source
        .parse()
        .map_err(|e: toml::de::Error| TemplateError::I18n {
            lang: lang.to_owned(),
            message: e.to_string(),
        })?;
    let typography =
        crate::typography::Typography::from_i18n(&doc).map_err(|message| TemplateError::I18n {
            lang: lang.to_owned(),
            message,
        })?;
    let mut out = BTreeMap::new();
    if let Some(toml::Value::Table(email)) = doc.get("email") {
        flatten("", email, &mut out);
    }
    for s in out.values_mut() {
        typography.apply_in_place(s);
    }
    Ok(out)
}

impl EmailTheme {
    /// The default theme, as compiled in.
    pub fn embedded() -> Result<Self, TemplateError> {
        let i18n = embedded::I18N
            .iter()
            .map(|(l, s)| ((*l).to_owned(), (*s).to_owned()));
        let templates = embedded::EMAILS
            .iter()
            .map(|(n, s)| ((*n).to_owned(), (*s).to_owned()));
        Self::build(i18n, templates)
    }

    /// No templates and no languages: the theme of a Lambda that sends no email
    /// ([`crate::contract::Function::uses_mail`]), so it neither parses the templates at cold
    /// start nor links the template engine. Rendering with it fails (no template).
    pub fn none() -> Self {
        EmailTheme {
            tera: tera::Tera::default(),
            strings: HashMap::new(),
        }
    }

    /// A theme folder on disk (`themes/<name>/`, with `emails/` and `i18n/`). Files it lacks are
    /// taken from the embedded default theme.
    pub fn from_dir(dir: &Path) -> Result<Self, TemplateError> {
        let mut i18n: BTreeMap<String, String> = embedded::I18N
            .iter()
            .map(|(l, s)| ((*l).to_owned(), (*s).to_owned()))
            .collect();
        let mut templates: BTreeMap<String, String> = embedded::EMAILS
            .iter()
            .map(|(n, s)| ((*n).to_owned(), (*s).to_owned()))
            .collect();
        let read_dir = |sub: &str| -> Result<Vec<std::path::PathBuf>, TemplateError> {
            let path = dir.join(sub);
            if !path.is_dir() {
                return Ok(Vec::new());
            }
            let entries = std::fs::read_dir(&path).map_err(|source| TemplateError::Io {
                path: path.display().to_string(),
                source,
            })?;
            Ok(entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect())
        };
        let read = |p: &Path| {
            std::fs::read_to_string(p).map_err(|source| TemplateError::Io {
                path: p.display().to_string(),
                source,
            })
        };
        for p in read_dir("i18n")? {
            if p.extension().and_then(|e| e.to_str()) == Some("toml") {
                if let Some(stem) = p.file_stem().and_then(|s| s.to_str()) {
                    i18n.insert(stem.to_owned(), read(&p)?);
                }
            }
        }
        for p in read_dir("emails")? {
            if let Some(name) = p.file_name().and_then(|s| s.to_str()) {
                templates.insert(name.to_owned(), read(&p)?);
            }
        }
        Self::build(i18n.into_iter(), templates.into_iter())
    }

    fn build(
        i18n: impl Iterator<Item = (String, String)>,
        templates: impl Iterator<Item = (String, String)>,
    ) -> Result<Self, TemplateError> {
        let mut strings = HashMap::new();
        for (lang, src) in i18n {
            let s = email_strings(&lang, &src)?;
            if !s.is_empty() {
                strings.insert(lang, s);
            }
        }
        let mut tera = tera::Tera::default();
        let templates: Vec<(String, String)> = templates.collect();
        tera.add_raw_templates(templates.iter().map(|(n, s)| (n.as_str(), s.as_str())))
            .map_err(tera_err)?;
        for kind in [EmailKind::Verify, EmailKind::Reset, EmailKind::Notice] {
            for ext in ["txt", "html"] {
                let name = format!("{}.{ext}", kind.name());
                if !tera.get_template_names().any(|n| n == name) {
                    return Err(TemplateError::MissingTemplate(name));
                }
            }
        }
        Ok(EmailTheme { tera, strings })
    }

    /// Languages with `[email]` strings.
    pub fn languages(&self) -> Vec<&str> {
        let mut l: Vec<&str> = self.strings.keys().map(String::as_str).collect();
        l.sort_unstable();
        l
    }

    /// The language to use for `requested`: itself, its primary subtag, or the default.
    pub fn resolve<'a>(&'a self, requested: Option<&'a Lang>, default: &'a str) -> &'a str {
        if let Some(l) = requested {
            if self.strings.contains_key(l.as_str()) {
                return l.as_str();
            }
            if self.strings.contains_key(l.primary()) {
                return l.primary();
            }
        }
        default
    }

    /// Checks the default language exists and every template renders with it.
    pub fn validate(&self, settings: &EmailSettings) -> Result<(), TemplateError> {
        if !self.strings.contains_key(&settings.default_lang) {
            return Err(TemplateError::NoDefaultLanguage(
                settings.default_lang.clone(),
            ));
        }
        let to = Email::parse("check@example.org").expect("valid literal");
        for lang in self.languages() {
            let lang = Lang::parse(lang);
            for kind in [EmailKind::Verify, EmailKind::Reset, EmailKind::Notice] {
                let code = Code::parse("000000").expect("valid literal");
                self.render(settings, kind, &to, lang.as_ref(), Some(&code))?;
            }
        }
        Ok(())
    }

    /// Renders one email for `to` in `lang` (falling back to the default language).
    pub fn render(
        &self,
        settings: &EmailSettings,
        kind: EmailKind,
        to: &Email,
        lang: Option<&Lang>,
        code: Option<&Code>,
    ) -> Result<OutgoingEmail, TemplateError> {
        let lang = self.resolve(lang, &settings.default_lang).to_owned();
        let empty = BTreeMap::new();
        let fallback = self.strings.get(&settings.default_lang).unwrap_or(&empty);
        let chosen = self.strings.get(&lang).unwrap_or(fallback);
        let origin = settings.site_origin.trim_end_matches('/');
        let screen = match kind {
            EmailKind::Verify => "verify",
            EmailKind::Reset => "reset",
            EmailKind::Notice => "signin",
        };
        let url = format!("{origin}/{lang}/account/{screen}/");
        let vars = [
            ("{site}", settings.site_title.as_str()),
            ("{minutes}", "30"),
            ("{url}", url.as_str()),
        ];
        // `t`: the general [email] strings overlaid by [email.<kind>], placeholders filled.
        let mut t: BTreeMap<String, String> = BTreeMap::new();
        let prefix = format!("{}.", kind.name());
        for source in [fallback, chosen] {
            for (k, v) in source {
                let key = if let Some(rest) = k.strip_prefix(&prefix) {
                    rest
                } else if !k.contains('.') {
                    k.as_str()
                } else {
                    continue;
                };
                let mut value = v.clone();
                for (name, val) in vars {
                    value = value.replace(name, val);
                }
                t.insert(key.to_owned(), value);
            }
        }
        let subject = t.get("subject").cloned().unwrap_or_default();
        let code_str = code.map(|c| c.as_str().to_owned()).unwrap_or_default();
        #[derive(Serialize)]
        struct Ctx<'a> {
            t: &'a BTreeMap<String, String>,
            subject: &'a str,
            code: &'a str,
            code_spaced: String,
            url: &'a str,
            site: &'a str,
            lang: &'a str,
            dir: &'a str,
        }
        let ctx = Ctx {
            t: &t,
            subject: &subject,
            code: &code_str,
            code_spaced: code_str
                .chars()
                .map(|c| format!("{c} "))
                .collect::<String>(),
            url: &url,
            site: &settings.site_title,
            lang: &lang,
            dir: if ["ar", "he", "fa", "ur"].contains(&lang.split('-').next().unwrap_or("")) {
                "rtl"
            } else {
                "ltr"
            },
        };
        let ctx = tera::Context::from_serialize(&ctx).map_err(tera_err)?;
        let text = self
            .tera
            .render(&format!("{}.txt", kind.name()), &ctx)
            .map_err(tera_err)?;
        let html = self
            .tera
            .render(&format!("{}.html", kind.name()), &ctx)
            .map_err(tera_err)?;

        let from: Mailbox = settings
            .sender
            .parse()
            .map_err(|e| TemplateError::Address(format!("sender: {e}")))?;
        let to_box: Mailbox = to
            .as_str()
            .parse()
            .map_err(|e| TemplateError::Address(format!("recipient: {e}")))?;
        let mut builder = Message::builder().from(from).to(to_box).subject(&subject);
        if let Some(r) = &settings.reply_to {
            let r: Mailbox = r
                .parse()
                .map_err(|e| TemplateError::Address(format!("reply-to: {e}")))?;
            builder = builder.reply_to(r);
        }
        let message = builder
            .multipart(
                MultiPart::alternative()
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_PLAIN)
                            .body(text.clone()),
                    )
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_HTML)
                            .body(html.clone()),
                    ),
            )
            .map_err(|e| TemplateError::Mime(e.to_string()))?;
        Ok(OutgoingEmail {
            to: to.clone(),
            from: settings.sender.clone(),
            reply_to: settings.reply_to.clone(),
            subject,
            text,
            html,
            mime: message.formatted(),
            dev_code: code.map(|c| c.as_str().to_owned()),
            template: kind.name(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> EmailSettings {
        EmailSettings {
            sender: "Pressroom <press@example.org>".into(),
            reply_to: Some("desk@example.org".into()),
            site_title: "Pressroom".into(),
            site_origin: "https://press.example.org".into(),
            default_lang: "en".into(),
        }
    }

    fn to() -> Email {
        Email::parse("jane@example.org").unwrap()
    }

    #[test]
    fn embedded_theme_has_english_and_french_and_renders_everything() {
        let theme = EmailTheme::embedded().unwrap();
        assert!(theme.languages().contains(&"en"));
        assert!(theme.languages().contains(&"fr"));
        theme.validate(&settings()).unwrap();
    }

    #[test]
    fn code_is_in_text_and_html_in_the_chosen_language() {
        let theme = EmailTheme::embedded().unwrap();
        let code = Code::parse("042917").unwrap();
        let fr = Lang::parse("fr-CA");
        let m = theme
            .render(
                &settings(),
                EmailKind::Verify,
                &to(),
                fr.as_ref(),
                Some(&code),
            )
            .unwrap();
        assert!(m.text.contains("042917"));
        assert!(m.html.contains("042917"));
        assert!(m.subject.contains("vérification"), "{}", m.subject);
        assert!(m.text.contains("30 minutes"));
        assert!(m.html.contains("lang=\"fr\""));
        assert!(m
            .text
            .contains("https://press.example.org/fr/account/verify/"));
        let mime = String::from_utf8_lossy(&m.mime);
        assert!(mime.contains("multipart/alternative"));
        assert!(mime.contains("Reply-To: desk@example.org"));
        assert_eq!(m.dev_code.as_deref(), Some("042917"));
        // French spacing: `[typography]` turned the translator's spaces into no-break ones
        for mark in [" ;", " :", " ?", " !", "« ", " »"] {
            assert!(!m.text.contains(mark), "{mark:?} in {}", m.text);
        }
        assert!(m.text.contains("\u{202f};"), "{}", m.text);
    }

    #[test]
    fn unknown_language_falls_back_to_default() {
        let theme = EmailTheme::embedded().unwrap();
        let xx = Lang::parse("xx");
        let m = theme
            .render(
                &settings(),
                EmailKind::Reset,
                &to(),
                xx.as_ref(),
                Some(&Code::generate()),
            )
            .unwrap();
        assert_eq!(m.subject, "Reset your Pressroom password");
        let n = theme
            .render(&settings(), EmailKind::Notice, &to(), None, None)
            .unwrap();
        assert!(n.text.contains("/en/account/signin/"));
        assert!(n.dev_code.is_none());
    }

    #[test]
    fn html_escapes_strings() {
        let theme = EmailTheme::embedded().unwrap();
        let mut s = settings();
        s.site_title = "<b>Press</b>".into();
        let m = theme
            .render(&s, EmailKind::Notice, &to(), None, None)
            .unwrap();
        assert!(!m.html.contains("<b>Press</b>"));
        assert!(m.html.contains("&lt;b&gt;Press&lt;&#x2F;b&gt;") || m.html.contains("&lt;b&gt;"));
    }

    #[test]
    fn theme_dir_overrides_and_adds_languages() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("i18n")).unwrap();
        std::fs::write(
            dir.path().join("i18n/de.toml"),
            "[email.verify]\nsubject = \"Ihr Code für {site}\"\n",
        )
        .unwrap();
        let theme = EmailTheme::from_dir(dir.path()).unwrap();
        let de = Lang::parse("de");
        let m = theme
            .render(
                &settings(),
                EmailKind::Verify,
                &to(),
                de.as_ref(),
                Some(&Code::generate()),
            )
            .unwrap();
        assert_eq!(m.subject, "Ihr Code für Pressroom");
        // Strings the new language lacks come from the default language.
        assert!(m.text.contains("This code expires in 30 minutes."));
    }
}
