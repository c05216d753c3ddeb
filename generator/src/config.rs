//! Site configuration (`pressroom.toml`): what the press office may set, with defaults, parsed
//! strictly (unknown keys are errors with a did-you-mean hint) and validated once so the rest of
//! the build can trust it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::{did_you_mean, BuildErrors, Diagnostic};

/// File name of the configuration, at the site root.
pub const CONFIG_FILE: &str = "pressroom.toml";

/// `Ok` when `base_url` is an http(s) origin (with no path, query or fragment; a trailing `/` is
/// reported on its own), else what is wrong with it.
fn origin_only(base_url: &str) -> Result<(), String> {
    let url = url::Url::parse(base_url).map_err(|e| format!("`{base_url}` is not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("`{base_url}` must start with https:// or http://"));
    }
    if !matches!(url.path(), "" | "/") {
        return Err(format!(
            "`{base_url}` has a path (`{}`): a site cannot be served from a subfolder",
            url.path()
        ));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(format!("`{base_url}` must be just an origin"));
    }
    Ok(())
}

/// The whole `pressroom.toml`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Site title, shown in the header and in feeds.
    pub title: String,
    /// Public origin of the site (the pages link to `/…` from its root), without trailing
    /// slash, e.g. `https://press.example.org`.
    pub base_url: String,
    /// Language of `/` and of fallbacks: the code of one of `languages`.
    pub default_language: String,
    /// Folder name under `themes/`.
    #[serde(default = "default_theme")]
    pub theme: String,
    /// Transcripts per page on home, topic and speaker pages.
    #[serde(default = "default_paginate")]
    pub paginate: usize,
    /// Whether the search page and index are built.
    #[serde(default = "default_true")]
    pub search: bool,
    /// The site languages, in switcher order; each has a `content/{code}/` folder.
    pub languages: Vec<Language>,
    /// Where broadcast videos, posters and previews live.
    #[serde(default)]
    pub media: Media,
    /// Account rules mirrored by the account screens.
    #[serde(default)]
    pub accounts: Accounts,
}

/// One site language.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Language {
    /// BCP 47 code, also the URL prefix and the `content/` folder name, e.g. `fr`.
    pub code: String,
    /// Name in the language itself, shown in the switcher, e.g. `Français`.
    pub name: String,
    /// Writing direction.
    #[serde(default)]
    pub dir: Direction,
}

/// Writing direction of a language.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Left to right.
    #[default]
    Ltr,
    /// Right to left.
    Rtl,
}

/// `[media]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Media {
    /// Folder (relative to the site root) holding `{video-id}/{part}.mp4`, `poster.jpg`, `preview.mp4`.
    #[serde(default = "default_media_dir")]
    pub dir: PathBuf,
}

impl Default for Media {
    fn default() -> Self {
        Self {
            dir: default_media_dir(),
        }
    }
}

/// `[accounts]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Accounts {
    /// `composition` (length, no spaces, upper and lower case, digits, symbols) or `length` only.
    #[serde(default)]
    pub password_policy: PasswordPolicy,
    /// Minimum password length.
    #[serde(default = "default_password_min_length")]
    pub password_min_length: u32,
}

impl Default for Accounts {
    fn default() -> Self {
        Self {
            password_policy: PasswordPolicy::default(),
            password_min_length: default_password_min_length(),
        }
    }
}

/// Password rules.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PasswordPolicy {
    /// At least `password_min_length` characters, no spaces, upper and lower case, digits, symbols.
    #[default]
    Composition,
    /// NIST SP 800-63B: length only.
    Length,
}

fn default_theme() -> String {
    "default".into()
}
fn default_paginate() -> usize {
    10
}
fn default_true() -> bool {
    true
}
fn default_media_dir() -> PathBuf {
    PathBuf::from("content/media")
}
fn default_password_min_length() -> u32 {
    12
}

impl Config {
    /// The variables that every page in `language` gets from the configuration, as templates
    /// see them: `site` (title, base URL, default language, languages, search) and `lang`.
    /// The build puts them in every page's context; the theme folds their texts into its
    /// templates (see `templates::localize`), so both must come from here.
    pub fn page_variables(&self, language: &Language) -> serde_json::Map<String, Value> {
        let mut vars = serde_json::Map::new();
        vars.insert(
            "site".into(),
            json!({
                "title": self.title,
                "base_url": self.base_url,
                "default_language": self.default_language,
                "languages": self.languages,
                "search": self.search,
            }),
        );
        vars.insert("lang".into(), json!(language));
        vars
    }

    /// Reads, parses and validates `ROOT/pressroom.toml`.
    pub fn load(root: &Path) -> Result<Config, BuildErrors> {
        let path = root.join(CONFIG_FILE);
        let source = std::fs::read_to_string(&path).map_err(|e| {
            BuildErrors::one(
                Diagnostic::io(Path::new(CONFIG_FILE), "read the site configuration", &e)
                    .with_hint("run pressroom from the site folder or pass --root DIR"),
            )
        })?;
        let config = Self::parse(&source)?;
        let theme = root.join("themes").join(&config.theme);
        if !theme.is_dir() {
            let available = list_dirs(&root.join("themes"));
            let mut d = Diagnostic::at_offset(
                CONFIG_FILE,
                &source,
                key_offset(&source, "theme"),
                format!(
                    "theme `{}` does not exist (no folder themes/{0})",
                    config.theme
                ),
            );
            d = d.with_hint(
                match did_you_mean(&config.theme, available.iter().map(|s| s.as_str())) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("available themes: {}", available.join(", ")),
                },
            );
            return Err(BuildErrors::one(d));
        }
        Ok(config)
    }

    /// Parses and validates the text of a `pressroom.toml` (no file-system checks).
    pub fn parse(source: &str) -> Result<Config, BuildErrors> {
        let config: Config = toml::from_str(source)
            .map_err(|e| BuildErrors::one(toml_diagnostic(CONFIG_FILE, source, 0, &e, TABLES)))?;
        config.validate(source)?;
        Ok(config)
    }

    fn validate(&self, source: &str) -> Result<(), BuildErrors> {
        let mut errors = Vec::new();
        let at = |needle: &str| {
            let offset = if needle.starts_with('"') {
                source.find(needle).unwrap_or(0)
            } else {
                key_offset(source, needle)
            };
            crate::error::line_col(source, offset)
        };
        if self.languages.is_empty() {
            errors.push(
                Diagnostic::file(CONFIG_FILE, "no language configured")
                    .with_hint("add [[languages]] code = \"en\" name = \"English\""),
            );
        }
        let mut seen = std::collections::HashSet::new();
        for language in &self.languages {
            let (line, col) = at(&format!("\"{}\"", language.code));
            if !seen.insert(language.code.as_str()) {
                errors.push(
                    Diagnostic::at(
                        CONFIG_FILE,
                        line,
                        col,
                        format!("language `{}` is configured twice", language.code),
                    )
                    .with_hint("each [[languages]] code must be unique"),
                );
            }
            let valid = !language.code.is_empty()
                && language
                    .code
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-');
            if !valid {
                errors.push(
                    Diagnostic::at(
                        CONFIG_FILE,
                        line,
                        col,
                        format!("language code `{}` is not a BCP 47 tag", language.code),
                    )
                    .with_hint("use letters, digits and `-` only, e.g. `fr` or `pt-BR`"),
                );
            }
        }
        if self.language(&self.default_language).is_none() {
            let (line, col) = at("default_language");
            let codes: Vec<&str> = self.languages.iter().map(|l| l.code.as_str()).collect();
            errors.push(
                Diagnostic::at(
                    CONFIG_FILE,
                    line,
                    col,
                    format!(
                        "default language `{}` is not among the configured languages",
                        self.default_language
                    ),
                )
                .with_hint(format!("use one of: {}", codes.join(", "))),
            );
        }
        if self.paginate == 0 {
            let (line, col) = at("paginate");
            errors.push(
                Diagnostic::at(CONFIG_FILE, line, col, "paginate must be at least 1")
                    .with_hint("set paginate = 10"),
            );
        }
        if self.base_url.ends_with('/') {
            let (line, col) = at("base_url");
            errors.push(
                Diagnostic::at(CONFIG_FILE, line, col, "base_url must not end with `/`").with_hint(
                    format!(
                        "write base_url = \"{}\"",
                        self.base_url.trim_end_matches('/')
                    ),
                ),
            );
        }
        if let Err(why) = origin_only(&self.base_url) {
            let (line, col) = at("base_url");
            errors.push(
                Diagnostic::at(CONFIG_FILE, line, col, format!("base_url {why}")).with_hint(
                    "write the origin the site is served from, e.g. \
                     base_url = \"https://press.example.org\"; the site must sit at its root, \
                     as every page links to /app.….css, /en/ and so on",
                ),
            );
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(BuildErrors::new(errors))
        }
    }

    /// The configured language with this code.
    pub fn language(&self, code: &str) -> Option<&Language> {
        self.languages.iter().find(|l| l.code == code)
    }

    /// The default language (validated to exist).
    pub fn default_lang(&self) -> &Language {
        self.language(&self.default_language)
            .unwrap_or(&self.languages[0])
    }

    /// A configuration for tests: English (default) and French, paginate 2.
    pub fn default_for_test() -> Config {
        Config {
            title: "Test".into(),
            base_url: "http://example.test".into(),
            default_language: "en".into(),
            theme: default_theme(),
            paginate: 2,
            search: false,
            languages: vec![
                Language {
                    code: "en".into(),
                    name: "English".into(),
                    dir: Direction::Ltr,
                },
                Language {
                    code: "fr".into(),
                    name: "Français".into(),
                    dir: Direction::Ltr,
                },
            ],
            media: Media::default(),
            accounts: Accounts::default(),
        }
    }
}

/// The keys of one table of a TOML file, for hints about unknown keys.
pub(crate) struct Table {
    /// How the table is written: `[accounts]`, `[[languages]]`, or `""` for the top level.
    pub header: &'static str,
    pub keys: &'static [&'static str],
}

/// The tables of `pressroom.toml` and their keys.
const TABLES: &[Table] = &[
    Table {
        header: "",
        keys: &[
            "title",
            "base_url",
            "default_language",
            "theme",
            "paginate",
            "search",
            "languages",
            "media",
            "accounts",
        ],
    },
    Table {
        header: "[[languages]]",
        keys: &["code", "name", "dir"],
    },
    Table {
        header: "[media]",
        keys: &["dir"],
    },
    Table {
        header: "[accounts]",
        keys: &["password_policy", "password_min_length"],
    },
];

/// Byte offset of the line assigning `key` (`key = …`), skipping comments; 0 when absent.
fn key_offset(source: &str, key: &str) -> usize {
    find_key(source, key).unwrap_or(0)
}

/// Byte offset of the first line of TOML `source` that assigns `key` (`key = …`) or, for a key
/// written as a table header (`[video]`, `[[video.parts]]`), opens that table.
pub(crate) fn find_key(source: &str, key: &str) -> Option<usize> {
    find_line(source, |line| match line.strip_prefix(key) {
        Some(_) if key.starts_with('[') => true,
        Some(rest) => rest.trim_start().starts_with('='),
        None => false,
    })
}

/// Byte offset, past its indentation, of the first line of `source` whose text (without that
/// indentation) satisfies `wanted`.
pub(crate) fn find_line(source: &str, wanted: impl Fn(&str) -> bool) -> Option<usize> {
    let mut offset = 0;
    for line in source.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if wanted(trimmed) {
            return Some(offset + (line.len() - trimmed.len()));
        }
        offset += line.len();
    }
    None
}

fn list_dirs(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Turns a toml error into a located diagnostic. `base` is the byte offset of the toml text in
/// `file_source` (front matter starts after the opening `+++`); `tables` (the file's tables and
/// their keys) feed the hints about unknown keys.
pub(crate) fn toml_diagnostic(
    path: impl Into<PathBuf>,
    file_source: &str,
    base: usize,
    error: &toml::de::Error,
    tables: &[Table],
) -> Diagnostic {
    let offset = base + error.span().map_or(0, |s| s.start);
    let message = error.message().trim().replace('\n', " ");
    let mut d = Diagnostic::at_offset(path, file_source, offset, message.clone());
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let field = rest.split('`').next().unwrap_or_default();
        d.message = format!("unknown field `{field}`");
        // toml lists the keys of the table the field is in: "…, expected `a`, `b` or `c`"
        d = d.with_hint(unknown_key_hint(field, &expected_names(rest), tables));
    } else if let Some(rest) = message.strip_prefix("missing field `") {
        let field = rest.split('`').next().unwrap_or_default();
        d.message = format!("missing field `{field}`");
        d = d.with_hint(format!("add `{field} = …`; see the reference in README.md"));
    } else if let Some((_, rest)) = message.split_once("unknown variant `") {
        let value = rest.split('`').next().unwrap_or_default();
        let listed = expected_names(rest);
        d = d.with_hint(match did_you_mean(value, listed.iter().copied()) {
            Some(s) => format!("did you mean `{s}`?"),
            None => "use one of the values listed".into(),
        });
    } else if ["datetime", "date-time", "invalid date", "invalid time"]
        .iter()
        .any(|m| message.contains(m))
    {
        d = d.with_hint(
            "write a real date, the local time and its UTC offset, unquoted: \
             date = 2018-04-26T10:30:00+02:00",
        );
    } else if let Some((_, expected)) = message
        .strip_prefix("invalid type: ")
        .and_then(|m| m.split_once(", expected "))
    {
        // the syntax is fine: the value is of the wrong kind
        let example = match expected {
            e if e.contains("sequence") => "a list in brackets, e.g. topics = [\"russia\"]",
            e if e.contains("string") => "text in quotes, e.g. title = \"Press point\"",
            e if e.contains("map") || e.contains("struct") => {
                "a table, e.g. { name = \"…\", role = \"…\" }"
            }
            _ => "a value of the kind the reference in README.md gives",
        };
        d = d.with_hint(format!("this needs {expected}: write {example}"));
    } else {
        d = d.with_hint("fix the TOML syntax at this position");
    }
    d
}

/// The names toml lists after "expected" in a message: "…, expected `a`, `b` or `c`" →
/// `[a, b, c]`; empty when there is no list.
fn expected_names(message: &str) -> Vec<&str> {
    message
        .split_once(", expected ")
        .map_or("", |(_, list)| list)
        .split('`')
        .skip(1)
        .step_by(2)
        .collect()
}

/// What to do about `field`, unknown in the table whose keys are `expected`: move it to the
/// table it belongs to, or fix its spelling.
fn unknown_key_hint(field: &str, expected: &[&str], tables: &[Table]) -> String {
    let same_keys =
        |t: &&Table| t.keys.len() == expected.len() && t.keys.iter().all(|k| expected.contains(k));
    let here = tables.iter().find(same_keys);
    let homes: Vec<&Table> = tables
        .iter()
        .filter(|t| t.keys.contains(&field) && !same_keys(t))
        .collect();
    if let Some(home) = homes.first() {
        if home.header.is_empty() {
            return format!(
                "`{field}` is a top-level key, and every key after a `[table]` header belongs to \
                 that table: move `{field} = …` above the first header"
            );
        }
        let headers: Vec<String> = homes.iter().map(|t| format!("`{}`", t.header)).collect();
        let this = match here {
            Some(t) if !t.header.is_empty() => format!("`{}`", t.header),
            Some(_) => "the top level".to_string(),
            None => "this table".to_string(),
        };
        return format!(
            "`{field}` is a key of {}, not of {this}: move `{field} = …` under that header",
            headers.join(" or ")
        );
    }
    let all: Vec<&str> = tables.iter().flat_map(|t| t.keys.iter().copied()).collect();
    let candidates = if expected.is_empty() { &all } else { expected };
    match did_you_mean(field, candidates.iter().copied()) {
        Some(s) => format!("did you mean `{s}`?"),
        None => "remove it; see the reference in README.md".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = r#"
title = "Pressroom"
base_url = "http://127.0.0.1:8080"
default_language = "en"
paginate = 5
[[languages]]
code = "en"
name = "English"
dir = "ltr"
[[languages]]
code = "fr"
name = "Français"
[media]
dir = "content/media"
[accounts]
password_policy = "length"
password_min_length = 15
"#;

    #[test]
    fn parses_the_documented_keys() {
        let c = Config::parse(VALID).unwrap();
        assert_eq!(c.languages.len(), 2);
        assert_eq!(c.languages[1].dir, Direction::Ltr);
        assert_eq!(c.accounts.password_policy, PasswordPolicy::Length);
        assert_eq!(c.accounts.password_min_length, 15);
        assert_eq!(c.default_lang().code, "en");
    }

    #[test]
    fn unknown_key_is_located_with_a_hint() {
        let e = Config::parse(&VALID.replace("paginate", "pagniate")).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("pressroom.toml:5:1: unknown field `pagniate`"),
            "{text}"
        );
        assert!(text.contains("did you mean `paginate`?"), "{text}");
    }

    #[test]
    fn a_top_level_key_written_under_a_table_says_to_move_it() {
        // an author appends `search = false` at the end of the file, which is inside [accounts]
        let source = format!("{VALID}search = false\n");
        let text = Config::parse(&source).unwrap_err().to_string();
        assert!(text.contains("unknown field `search`"), "{text}");
        assert!(
            text.contains("move `search = …` above the first header"),
            "{text}"
        );
        assert!(!text.contains("did you mean `search`"), "{text}");

        // a typo inside a table is matched against that table's keys
        let source = format!("{VALID}password_min_lenght = 14\n");
        let text = Config::parse(&source).unwrap_err().to_string();
        assert!(
            text.contains("did you mean `password_min_length`?"),
            "{text}"
        );
    }

    #[test]
    fn a_table_key_written_elsewhere_names_its_table() {
        // a language's key written at the top level
        let source = VALID.replace("paginate = 5\n", "paginate = 5\ncode = \"de\"\n");
        let text = Config::parse(&source).unwrap_err().to_string();
        assert!(text.contains("unknown field `code`"), "{text}");
        assert!(
            text.contains(
                "`code` is a key of `[[languages]]`, not of the top level: move `code = …` under that header"
            ),
            "{text}"
        );
        assert!(!text.contains("above the first header"), "{text}");

        // an [accounts] key written under [media]
        let source = VALID.replace(
            "dir = \"content/media\"\n",
            "dir = \"content/media\"\npassword_policy = \"length\"\n",
        );
        let text = Config::parse(&source).unwrap_err().to_string();
        assert!(
            text.contains("`password_policy` is a key of `[accounts]`, not of `[media]`"),
            "{text}"
        );
    }

    #[test]
    fn default_language_must_be_configured() {
        let source = format!(
            "# the default_language is used for /\n{}",
            VALID.replace("default_language = \"en\"", "default_language = \"de\"")
        );
        let e = Config::parse(&source).unwrap_err();
        // located on the assignment, not on the comment
        assert!(
            e.to_string()
                .contains("pressroom.toml:5:1: default language `de`"),
            "{e}"
        );
    }

    #[test]
    fn base_url_must_be_an_http_origin() {
        for (base_url, says) in [
            ("example.org", "is not a URL"),
            ("ftp://example.org", "must start with https:// or http://"),
            ("https://example.org/press", "has a path (`/press`)"),
            ("https://example.org?x=1", "must be just an origin"),
        ] {
            let source = VALID.replace("http://127.0.0.1:8080", base_url);
            let e = Config::parse(&source).unwrap_err().to_string();
            assert!(
                e.contains("pressroom.toml:3:1: base_url"),
                "{base_url}: {e}"
            );
            assert!(e.contains(says), "{base_url}: {e}");
            assert!(
                e.contains("base_url = \"https://press.example.org\""),
                "{e}"
            );
        }
        for base_url in ["https://press.example.org", "http://127.0.0.1:8080"] {
            Config::parse(&VALID.replace("http://127.0.0.1:8080", base_url)).unwrap();
        }
    }

    #[test]
    fn duplicate_codes_and_bad_dir_are_rejected() {
        let e = Config::parse(&VALID.replace("code = \"fr\"", "code = \"en\"")).unwrap_err();
        assert!(e.to_string().contains("configured twice"), "{e}");
        let e = Config::parse(&VALID.replace("dir = \"ltr\"", "dir = \"up\"")).unwrap_err();
        assert!(e.to_string().contains("unknown variant `up`"), "{e}");
    }
}
