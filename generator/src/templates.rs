//! The theme: tera templates parsed once per build and language (constant translations folded
//! in), the `trans` function and the i18n strings
//! (`themes/<theme>/i18n/<lang>.toml`), localised dates. Template failures become located
//! diagnostics (`themes/<theme>/templates/<name>:line:col`), dug out of tera's error chain.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Datelike, FixedOffset};
use rayon::prelude::*;
use serde_json::Map;
use tera::{Context, Tera, Value};
use walkdir::WalkDir;

use functions::typography::Typography;

use crate::config::Config;
use crate::error::{did_you_mean, Diagnostic};

/// Templates every theme must provide (`search.html` too when search is on).
pub const REQUIRED: &[&str] = &[
    "index.html",
    "transcript.html",
    "topics.html",
    "topic.html",
    "speakers.html",
    "speaker.html",
    "404.html",
    "root.html",
    "atom.xml",
];

/// Strings of every language, flattened to dotted keys, with the language's `[typography]`
/// already applied to them.
#[derive(Debug, Clone, Default)]
pub struct I18n {
    default: String,
    strings: HashMap<String, BTreeMap<String, toml::Value>>,
    files: HashMap<String, PathBuf>,
    typography: HashMap<String, Typography>,
}

impl I18n {
    /// Parses `(lang, path, text)` triples; `default` is the fallback language.
    pub fn parse<'a>(
        default: &str,
        files: impl IntoIterator<Item = (&'a str, PathBuf, &'a str)>,
    ) -> Result<I18n, Vec<Diagnostic>> {
        let mut i18n = I18n {
            default: default.to_string(),
            ..I18n::default()
        };
        let mut errors = Vec::new();
        for (lang, path, text) in files {
            match toml::from_str::<toml::Table>(text) {
                Ok(mut table) => {
                    let typography = match Typography::from_i18n(&table) {
                        Ok(t) => t,
                        Err(message) => {
                            let at = crate::config::find_key(text, "[typography]").unwrap_or(0);
                            errors.push(Diagnostic::at_offset(&path, text, at, message));
                            Typography::default()
                        }
                    };
                    table.remove("typography");
                    let mut flat = BTreeMap::new();
                    flatten("", &toml::Value::Table(table), &mut flat);
                    for value in flat.values_mut() {
                        if let toml::Value::String(s) = value {
                            typography.apply_in_place(s);
                        }
                    }
                    i18n.strings.insert(lang.to_string(), flat);
                    i18n.typography.insert(lang.to_string(), typography);
                }
                Err(e) => errors.push(crate::config::toml_diagnostic(&path, text, 0, &e, &[])),
            }
            i18n.files.insert(lang.to_string(), path);
        }
        if errors.is_empty() {
            Ok(i18n)
        } else {
            Err(errors)
        }
    }

    /// The punctuation spacing of `lang` (none when its file has no `[typography]`).
    pub fn typography(&self, lang: &str) -> &Typography {
        static NONE: std::sync::OnceLock<Typography> = std::sync::OnceLock::new();
        self.typography
            .get(lang)
            .unwrap_or_else(|| NONE.get_or_init(Typography::default))
    }

    /// The value of `key` in `lang`, falling back to the default language.
    pub fn get(&self, lang: &str, key: &str) -> Option<&toml::Value> {
        self.strings
            .get(lang)
            .and_then(|s| s.get(key))
            .or_else(|| self.strings.get(&self.default).and_then(|s| s.get(key)))
    }

    /// Every key of `lang`'s own file (no fallback), sorted.
    pub fn keys_of(&self, lang: &str) -> impl Iterator<Item = &str> {
        self.strings
            .get(lang)
            .into_iter()
            .flat_map(|s| s.keys().map(String::as_str))
    }

    /// Keys present in the default language but missing in `lang`, sorted.
    pub fn missing_keys(&self, lang: &str) -> Vec<String> {
        let empty = BTreeMap::new();
        let theirs = self.strings.get(lang).unwrap_or(&empty);
        self.strings
            .get(&self.default)
            .map(|ours| {
                ours.keys()
                    .filter(|k| !theirs.contains_key(*k))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every key of the default language.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.keys_of(&self.default)
    }

    /// Translates `key` into `lang`, filling `{name}` placeholders from `args`.
    pub fn translate<'v>(
        &self,
        lang: &str,
        key: &str,
        args: impl IntoIterator<Item = (&'v String, &'v Value)>,
    ) -> Result<Value, String> {
        let Some(value) = self.get(lang, key) else {
            let mut message = format!(
                "translation key `{key}` is missing in i18n/{}.toml (the default language, the fallback of every other)",
                self.default
            );
            if let Some(s) = did_you_mean(key, self.keys()) {
                message.push_str(&format!(" (did you mean `{s}`?)"));
            }
            return Err(message);
        };
        match value {
            toml::Value::String(s) if !s.contains('{') => Ok(Value::String(s.clone())),
            toml::Value::String(s) => {
                // one pass: each `{name}` naming an argument becomes its value; any other brace
                // is text
                let args: Vec<(&String, &Value)> = args.into_iter().collect();
                let mut out = String::with_capacity(s.len() + 16);
                let mut rest = s.as_str();
                while let Some(open) = rest.find('{') {
                    out.push_str(&rest[..open]);
                    let after = &rest[open + 1..];
                    let arg = after.find('}').and_then(|close| {
                        let name = &after[..close];
                        args.iter()
                            .find(|(n, _)| n.as_str() == name)
                            .map(|(_, v)| (close, *v))
                    });
                    match arg {
                        Some((close, value)) => {
                            out.push_str(&placeholder_text(value));
                            rest = &after[close + 1..];
                        }
                        None => {
                            out.push('{');
                            rest = after;
                        }
                    }
                }
                out.push_str(rest);
                Ok(Value::String(out))
            }
            other => serde_json::to_value(other).map_err(|e| e.to_string()),
        }
    }

    /// `26 April 2018` / `26 avril 2018`: the pattern `date.format` (placeholders `{day}`,
    /// `{month}`, `{year}`), the twelve names `date.months` and the optional `date.first_day`
    /// (`1er`) come from the i18n files.
    pub fn format_date(&self, lang: &str, date: &DateTime<FixedOffset>) -> Result<String, String> {
        let month = match self.get(lang, "date.months") {
            Some(toml::Value::Array(names)) if names.len() == 12 => names[date.month0() as usize]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            _ => {
                return Err(format!(
                "`date.months` (an array of the twelve month names) is missing in i18n/{lang}.toml"
            ))
            }
        };
        let pattern = match self.get(lang, "date.format") {
            Some(toml::Value::String(s)) => s.as_str(),
            _ => "{day} {month} {year}",
        };
        // French writes the first of the month as an ordinal: "1er avril"
        // (looked up in this language only: an ordinal never falls back to another language)
        let first_day = self.strings.get(lang).and_then(|s| s.get("date.first_day"));
        let day = match (date.day(), first_day) {
            (1, Some(toml::Value::String(first))) => first.clone(),
            (d, _) => d.to_string(),
        };
        Ok(pattern
            .replace("{day}", &day)
            .replace("{month}", &month)
            .replace("{year}", &date.year().to_string()))
    }

    /// Path of a language's file (for errors).
    pub fn file(&self, lang: &str) -> Option<&Path> {
        self.files.get(lang).map(PathBuf::as_path)
    }
}

/// How a placeholder's value reads in a translation: a string as it is, anything else as JSON.
fn placeholder_text(value: &Value) -> Cow<'_, str> {
    match value {
        Value::String(text) => Cow::Borrowed(text),
        other => Cow::Owned(other.to_string()),
    }
}

/// The `trans_arg` filter: a value as a placeholder of a translation prints it
/// ([`placeholder_text`]). A folded `trans` call with placeholders prints its arguments with it
/// (see [`Constant::Placeholders`]).
fn trans_arg(value: &Value, _: &HashMap<String, Value>) -> tera::Result<Value> {
    Ok(Value::String(placeholder_text(value).into_owned()))
}

fn flatten(prefix: &str, value: &toml::Value, out: &mut BTreeMap<String, toml::Value>) {
    match value {
        toml::Value::Table(table) => {
            for (k, v) in table {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        leaf => {
            out.insert(prefix.to_string(), leaf.clone());
        }
    }
}

/// The tera `trans` function bound to one page language.
struct Trans {
    lang: String,
    i18n: Arc<I18n>,
}

impl Trans {
    fn new(lang: &str, i18n: &Arc<I18n>) -> Trans {
        Trans {
            lang: lang.to_string(),
            i18n: Arc::clone(i18n),
        }
    }
}

impl tera::Function for Trans {
    fn call(&self, args: &HashMap<String, Value>) -> tera::Result<Value> {
        let key = match args.get("key") {
            Some(Value::String(k)) => k,
            _ => return Err("trans needs key=\"section.name\"".into()),
        };
        let lang = match args.get("lang") {
            Some(Value::String(l)) => l,
            _ => &self.lang,
        };
        // called dozens of times per page: the placeholders are borrowed, not copied
        let placeholders = args
            .iter()
            .filter(|(name, _)| !matches!(name.as_str(), "key" | "lang"));
        self.i18n
            .translate(lang, key, placeholders)
            .map_err(tera::Error::msg)
    }

    fn is_safe(&self) -> bool {
        false
    }
}

/// The loaded theme.
pub struct Theme {
    /// `themes/<theme>` relative to the site root (for messages).
    pub dir: PathBuf,
    tera: Tera,
    /// Per configured language: the templates with their constant texts in place (see
    /// [`localize`]) and `trans` bound to that language.
    localized: HashMap<String, Tera>,
    sources: HashMap<String, String>,
    /// All languages' strings.
    pub i18n: Arc<I18n>,
}

impl std::fmt::Debug for Theme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Theme").field("dir", &self.dir).finish()
    }
}

impl Theme {
    /// Reads and parses every template and i18n file of the configured theme.
    pub fn load(root: &Path, config: &Config) -> Result<Theme, Vec<Diagnostic>> {
        let dir = PathBuf::from("themes").join(&config.theme);
        let templates_dir = root.join(&dir).join("templates");
        let mut errors = Vec::new();
        let mut sources = HashMap::new();
        for entry in WalkDir::new(&templates_dir).sort_by_file_name() {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    errors.push(Diagnostic::file(
                        dir.join("templates"),
                        format!("cannot read templates: {e}"),
                    ));
                    continue;
                }
            };
            if !entry.file_type().is_file() {
                continue;
            }
            let rel = entry
                .path()
                .strip_prefix(&templates_dir)
                .unwrap_or(entry.path());
            let name = rel.to_string_lossy().replace('\\', "/");
            match std::fs::read_to_string(entry.path()) {
                Ok(text) => {
                    sources.insert(name, text);
                }
                Err(e) => errors.push(Diagnostic::io(
                    &dir.join("templates").join(rel),
                    "read template",
                    &e,
                )),
            }
        }
        let mut required: Vec<&str> = REQUIRED.to_vec();
        if config.search {
            required.push("search.html");
        }
        for name in required {
            if !sources.contains_key(name) {
                errors.push(
                    Diagnostic::file(
                        dir.join("templates"),
                        format!("template `{name}` is missing"),
                    )
                    .with_hint("see themes/README.md for the templates a theme provides"),
                );
            }
        }
        let mut files = Vec::new();
        for language in &config.languages {
            let rel = dir.join("i18n").join(format!("{}.toml", language.code));
            match std::fs::read_to_string(root.join(&rel)) {
                Ok(text) => files.push((language.code.as_str(), rel, text)),
                Err(e) => errors.push(
                    Diagnostic::io(&rel, "read the language's strings", &e).with_hint(
                        "every configured language needs a file of strings in the theme",
                    ),
                ),
            }
        }
        let i18n = I18n::parse(
            &config.default_language,
            files.iter().map(|(l, p, t)| (*l, p.clone(), t.as_str())),
        )
        .map(Arc::new);

        // The templates as written and each language's copy are parsed on every core: for the
        // default theme in two languages the three parses are some 220 million instructions,
        // a tenth of a 1,000-transcript build, and the build cannot go on without them.
        let (tera, localized) = rayon::join(
            || {
                let mut tera = new_tera();
                tera.add_raw_templates(sources.iter().map(|(n, s)| (n.as_str(), s.as_str())))
                    .map(|()| tera)
            },
            || match &i18n {
                Ok(i18n) => config
                    .languages
                    .par_iter()
                    .filter_map(|l| {
                        localize(&sources, i18n, &l.code, &config.page_variables(l))
                            .map(|tera| (l.code.clone(), tera))
                    })
                    .collect(),
                Err(_) => HashMap::new(),
            },
        );
        let tera = tera
            .map_err(|e| errors.push(template_diagnostic(&dir, &sources, &e, None)))
            .ok();
        match (i18n, tera) {
            (Ok(i18n), Some(tera)) if errors.is_empty() => Ok(Theme {
                dir,
                tera,
                localized,
                sources,
                i18n,
            }),
            (Ok(_), _) => Err(errors),
            (Err(more), _) => {
                errors.extend(more);
                Err(errors)
            }
        }
    }

    /// Whether the theme has a template of this name (e.g. `partials/summary.html`).
    pub fn has_template(&self, name: &str) -> bool {
        self.sources.contains_key(name)
    }

    /// Template names under `prefix` (e.g. `account/`), skipping partials starting with `_`.
    pub fn templates_under(&self, prefix: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .sources
            .keys()
            .filter(|n| {
                n.strip_prefix(prefix).is_some_and(|rest| {
                    !rest.starts_with('_') && !rest.contains('/') && rest.ends_with(".html")
                })
            })
            .cloned()
            .collect();
        names.sort();
        names
    }

    /// A renderer for pages in `lang`: that language's templates, with `trans` bound to it.
    pub fn renderer(&self, lang: &str) -> Renderer<'_> {
        let tera = match self.localized.get(lang) {
            Some(tera) => Cow::Borrowed(tera),
            None => {
                let mut tera = self.tera.clone();
                tera.register_function("trans", Trans::new(lang, &self.i18n));
                Cow::Owned(tera)
            }
        };
        Renderer { theme: self, tera }
    }
}

/// The theme's templates for one language, with every constant a page of that language prints
/// already in place (see [`fold_constants`]) and `trans` registered for the rest: the texts of
/// `{{ trans(key="…") }}` and the string fields of `variables` (`{{ lang.code }}`,
/// `{{ site.title }}`), escaped as tera would print them. `None` if the folded templates do not
/// parse, which would be a bug of the folding: [`Theme::renderer`] then falls back to the
/// templates as written.
fn localize(
    sources: &HashMap<String, String>,
    i18n: &Arc<I18n>,
    lang: &str,
    variables: &Map<String, Value>,
) -> Option<Tera> {
    // tera escapes, or not, by the name of the template being rendered, for everything it
    // extends or includes: a text is folded escaped only if every template escapes, and
    // otherwise only if escaping leaves it unchanged
    let escaped = |name: &String| ESCAPED.iter().any(|e| name.ends_with(e));
    let every_template_escapes = sources.keys().all(escaped);
    let printed = |s: &str| {
        let e = escape_html(s);
        (every_template_escapes || e == s).then_some(e)
    };
    // a name that some template binds (`set`, `for`) is not always the page's variable
    let bound = bound_names(sources);
    let text = |constant: Constant| match constant {
        Constant::Trans(key) | Constant::Placeholders(key, _) => match i18n.get(lang, key) {
            Some(toml::Value::String(s)) => printed(s),
            _ => None,
        },
        Constant::Variable(root, field) if !bound.contains(root) => {
            match variables.get(root)?.get(field)? {
                Value::String(s) => printed(s),
                _ => None,
            }
        }
        Constant::Variable(..) => None,
    };
    let folded: Vec<(&str, String)> = sources
        .iter()
        .map(|(name, source)| (name.as_str(), fold_constants(source, text)))
        .collect();
    let mut tera = new_tera();
    tera.add_raw_templates(folded.iter().map(|(n, s)| (*n, s.as_str())))
        .ok()?;
    tera.register_function("trans", Trans::new(lang, i18n));
    Some(tera)
}

/// Names that a `{% set %}`, `{% set_global %}` or `{% for %}` tag of some template binds.
fn bound_names(sources: &HashMap<String, String>) -> HashSet<&str> {
    let mut names = HashSet::new();
    for (_, tag) in sources.values().flat_map(|source| block_tags(source)) {
        let (word, args) = tag.split_once(char::is_whitespace).unwrap_or((tag, ""));
        let targets = match word {
            "set" | "set_global" => args.split('=').next(),
            "for" => args.split(" in ").next(),
            _ => None,
        };
        names.extend(
            targets
                .into_iter()
                .flat_map(|t| t.split(',').map(str::trim)),
        );
    }
    names
}

/// Templates whose output tera escapes, by the end of their name.
const ESCAPED: [&str; 3] = [".html", ".htm", ".xml"];

/// An empty tera with the theme's escaping: the output of [`ESCAPED`] templates is escaped by
/// [`escape_html`].
fn new_tera() -> Tera {
    let mut tera = Tera::default();
    tera.autoescape_on(ESCAPED.to_vec());
    tera.set_escape_fn(escape_html);
    tera.register_filter("trans_arg", trans_arg);
    tera
}

/// What [`fold_constants`] may replace by its text.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Constant<'s> {
    /// `{{ trans(key="k") }}`: no placeholders, no `lang`.
    Trans(&'s str),
    /// `{{ trans(key="k", n=p.n, …) }}`: placeholders whose values are variables (`name`,
    /// `name.field…`), no `lang`. Its text is the translation with its `{n}` placeholders still
    /// in; folding keeps each as `{{ p.n | trans_arg }}`, so only the values are left to render.
    Placeholders(&'s str, Vec<(&'s str, &'s str)>),
    /// `{{ root.field }}`, outside macros (whose arguments may shadow the page's variables).
    Variable(&'s str, &'s str),
}

/// Replaces each constant expression of a template (a whole `{{ … }}` without whitespace
/// control, see [`Constant`]) by `text(constant)`, the string it would print; for a call with
/// placeholders, the string around them, each placeholder left to print its value (see
/// [`fill_placeholders`]). A page has some thirty translations (labels, navigation, headings)
/// and fifteen `lang.code`-like fields that are the same on every page of a language, and a
/// dozen translations whose placeholders are variables; evaluating the constant parts once per
/// language instead of once per page took 8 %, another 7 %, then 3 % off a build's CPU time.
///
/// Left to run at render time, so they behave exactly as written: a constant `text` does not
/// know (a missing key fails the render, naming the template and line), a text with a brace
/// that is no placeholder or a line break (it could read as tera syntax, or move the lines of
/// later errors), an argument the text does not use, and anything inside `{% raw %}` or a
/// `{# comment #}`.
fn fold_constants(source: &str, text: impl Fn(Constant) -> Option<String>) -> String {
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    let mut macros = 0usize;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let tail = &rest[open..];
        let close = match tail.as_bytes().get(1) {
            Some(b'{') => "}}",
            Some(b'#') => "#}",
            Some(b'%') => "%}",
            _ => {
                out.push('{');
                rest = &tail[1..];
                continue;
            }
        };
        let Some(len) = tail[2..].find(close).map(|i| i + 2 + close.len()) else {
            out.push_str(tail);
            return out;
        };
        let tag = &tail[..len];
        let inner = &tag[2..len - 2];
        if close == "%}" {
            let name = tag_name(inner);
            if name == "raw" {
                // everything up to the end of the raw block is text
                let after = &tail[len..];
                let stop = raw_end(after).unwrap_or(after.len());
                out.push_str(tag);
                out.push_str(&after[..stop]);
                rest = &after[stop..];
                continue;
            }
            match name.split_whitespace().next() {
                Some("macro") => macros += 1,
                Some("endmacro") => macros = macros.saturating_sub(1),
                _ => {}
            }
        }
        let folded = (close == "}}")
            .then(|| constant_of(inner))
            .flatten()
            .filter(|c| macros == 0 || !matches!(c, Constant::Variable(..)))
            .and_then(|c| {
                let args = match &c {
                    Constant::Placeholders(_, args) => args.clone(),
                    _ => Vec::new(),
                };
                fill_placeholders(&text(c)?, &args)
            });
        match folded {
            Some(t) => out.push_str(&t),
            None => out.push_str(tag),
        }
        rest = &tail[len..];
    }
    out.push_str(rest);
    out
}

/// The constant that the inside of a `{{ … }}` is, if it is one as a whole.
fn constant_of(inner: &str) -> Option<Constant<'_>> {
    if inner.starts_with('-') || inner.ends_with('-') {
        return None;
    }
    let expression = inner.trim();
    if let Some(call) = expression.strip_prefix("trans(key=") {
        let call = call.strip_suffix(')')?;
        let quote = call.chars().next().filter(|q| matches!(q, '"' | '\''))?;
        let (key, rest) = call[1..].split_once(quote)?;
        let key_ok = !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !key_ok {
            return None;
        }
        if rest.is_empty() {
            return Some(Constant::Trans(key));
        }
        // `, name=path, …`: each value a variable, so the call has no other effect
        let args = rest
            .strip_prefix(',')?
            .split(',')
            .map(|arg| {
                let (name, value) = arg.split_once('=')?;
                let (name, value) = (name.trim(), value.trim());
                let path = value.split('.').all(is_identifier);
                (is_identifier(name) && !matches!(name, "key" | "lang") && path)
                    .then_some((name, value))
            })
            .collect::<Option<Vec<_>>>()?;
        return Some(Constant::Placeholders(key, args));
    }
    let (root, field) = expression.split_once('.')?;
    (is_identifier(root) && is_identifier(field)).then_some(Constant::Variable(root, field))
}

/// What a folded constant of `text` puts in the template: the text itself, with each `{name}`
/// of `args` (name, variable) as `{{ variable | trans_arg }}`. `None`, to leave the expression
/// as written, when a brace is left that is no such placeholder (it could read as tera syntax),
/// when an argument is never used (the call would still evaluate it, and fail if it is not
/// defined), or on a line break (it would move the lines of later errors).
fn fill_placeholders(text: &str, args: &[(&str, &str)]) -> Option<String> {
    if text.contains(['\n', '\r']) {
        return None;
    }
    let mut out = String::with_capacity(text.len() + 32 * args.len());
    let mut used = vec![false; args.len()];
    let mut rest = text;
    while let Some(open) = rest.find(['{', '}']) {
        let after = rest[open..].strip_prefix('{')?;
        let close = after.find('}')?;
        let i = args.iter().position(|(name, _)| *name == &after[..close])?;
        used[i] = true;
        out.push_str(&rest[..open]);
        out.push_str("{{ ");
        out.push_str(args[i].1);
        out.push_str(" | trans_arg }}");
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    used.iter().all(|&u| u).then_some(out)
}

/// A tera variable name: a letter or `_`, then letters, digits or `_`.
fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The inside of a `{% … %}` tag without its whitespace control: `raw` for `{%- raw -%}`.
fn tag_name(inner: &str) -> &str {
    inner.trim_matches(|c: char| c == '-' || c.is_whitespace())
}

/// Where the `{% endraw %}` tag ending a raw block starts in `text`.
fn raw_end(text: &str) -> Option<usize> {
    block_tags(text)
        .find(|(_, name)| *name == "endraw")
        .map(|(at, _)| at)
}

/// Each `{% … %}` tag of `text`: where it starts, and its inside without whitespace control
/// ([`tag_name`]). A tag is looked for at every `{%`, even one inside another tag's text, as
/// tera finds `{% endraw %}` anywhere in a raw block; the scan ends at a `{%` with no `%}`.
fn block_tags(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut from = 0;
    std::iter::from_fn(move || {
        let at = from + text[from..].find("{%")?;
        let close = text[at..].find("%}")?;
        from = at + 2;
        Some((at, tag_name(&text[at + 2..at + close])))
    })
}

/// Renders templates for one language.
pub struct Renderer<'a> {
    theme: &'a Theme,
    tera: Cow<'a, Tera>,
}

impl Renderer<'_> {
    /// Renders `template` with `context` into the bytes of the file; a failure names the
    /// template file and line. (Bytes, not a `String`: tera writes UTF-8 already, and checking
    /// every page again on the way to the disk would only cost time.)
    pub fn render(&self, template: &str, context: &Context) -> Result<Vec<u8>, Diagnostic> {
        let mut out = Vec::with_capacity(16 * 1024);
        self.tera
            .render_to(template, context, &mut out)
            .map_err(|e| self.located(template, &e))?;
        Ok(out)
    }

    /// [`Self::render`] for a fragment kept as text (a cached card).
    pub fn render_string(&self, template: &str, context: &Context) -> Result<String, Diagnostic> {
        self.tera
            .render(template, context)
            .map_err(|e| self.located(template, &e))
    }

    /// A failure rendering `template`, located in the theme's sources.
    fn located(&self, template: &str, error: &tera::Error) -> Diagnostic {
        template_diagnostic(&self.theme.dir, &self.theme.sources, error, Some(template))
    }
}

/// HTML escaping for template output: pulldown-cmark's, the same as the markdown of a transcript
/// gets (`&`, `<`, `>`, `"` and `'`, found by a SIMD scan). Unlike tera's own, `/` is left alone
/// so URLs stay readable (`/en/topics/` rather than `&#x2F;en&#x2F;topics&#x2F;`); it needs no
/// escaping in HTML.
pub fn escape_html(input: &str) -> String {
    let mut out = String::with_capacity(input.len() + input.len() / 8);
    pulldown_cmark_escape::escape_html(&mut out, input).expect("a String takes any text");
    out
}

/// Digs through tera's error chain for the template name, the line, and the root message.
fn template_diagnostic(
    theme_dir: &Path,
    sources: &HashMap<String, String>,
    error: &tera::Error,
    rendering: Option<&str>,
) -> Diagnostic {
    let mut chain = vec![error.to_string()];
    let mut source = std::error::Error::source(error);
    while let Some(e) = source {
        chain.push(e.to_string());
        source = e.source();
    }
    // the innermost template named in the chain
    let mut template = rendering.map(str::to_string);
    for message in &chain {
        for (i, part) in message.split('\'').enumerate() {
            if i % 2 == 1 && sources.contains_key(part) {
                template = Some(part.to_string());
            }
        }
    }
    let root_message = chain.last().cloned().unwrap_or_default();
    // parse errors carry ` --> line:col`
    let mut position = chain.iter().find_map(|m| {
        let after = m.split("--> ").nth(1)?;
        let mut nums = after
            .split(|c: char| !c.is_ascii_digit())
            .filter(|s| !s.is_empty());
        Some((nums.next()?.parse().ok()?, nums.next()?.parse().ok()?))
    });
    // render errors name a variable, function or key in backticks, a filter or test in quotes
    // (`Filter 'nofilter' not found`): find it in the sources
    if position.is_none() {
        let quoted = |quote: char| {
            root_message
                .split(quote)
                .enumerate()
                .filter(|(i, s)| i % 2 == 1 && !s.is_empty() && !sources.contains_key(*s))
                .map(|(_, s)| s)
        };
        let needles: Vec<&str> = quoted('`').chain(quoted('\'')).collect();
        let mut candidates: Vec<&String> = template.iter().collect();
        let mut others: Vec<&String> = sources.keys().collect();
        others.sort();
        candidates.extend(others);
        'search: for needle in &needles {
            for name in &candidates {
                if let Some(text) = sources.get(name.as_str()) {
                    if let Some(offset) = text.find(needle) {
                        position = Some(crate::error::line_col(text, offset));
                        template = Some(name.to_string());
                        break 'search;
                    }
                }
            }
        }
    }
    let path = match &template {
        Some(name) => theme_dir.join("templates").join(name),
        None => theme_dir.join("templates"),
    };
    // a parse error's reason is its `= expected …` line, below the ` --> line:col` and the
    // quoted source (both already in the position)
    let reason = root_message
        .lines()
        .find_map(|l| l.trim().strip_prefix("= "))
        .or_else(|| root_message.lines().next())
        .unwrap_or_default()
        .trim();
    let message = if chain.len() > 1 {
        format!("{}: {reason}", chain[0].trim_end_matches('.'))
    } else {
        reason.to_string()
    };
    let (line, col) = position.unwrap_or((0, 0));
    let hint = if root_message.contains("translation key") {
        "add the key to the theme's i18n files (at least the default language)"
    } else if root_message.contains("not found in context") {
        "check the variable against the context documented in themes/README.md"
    } else {
        "fix the template"
    };
    Diagnostic::at(path, line, col, message).with_hint(hint)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

    fn i18n() -> I18n {
        I18n::parse(
            "en",
            [
                ("en", PathBuf::from("en.toml"), "[nav]\nhome = \"Home\"\npage = \"Page {n} of {total}\"\n[date]\nmonths = [\"January\",\"February\",\"March\",\"April\",\"May\",\"June\",\"July\",\"August\",\"September\",\"October\",\"November\",\"December\"]\n"),
                ("fr", PathBuf::from("fr.toml"), "[nav]\nhome = \"Accueil\"\n[date]\nfirst_day = \"1er\"\nmonths = [\"janvier\",\"février\",\"mars\",\"avril\",\"mai\",\"juin\",\"juillet\",\"août\",\"septembre\",\"octobre\",\"novembre\",\"décembre\"]\n"),
            ],
        )
        .unwrap()
    }

    #[test]
    fn translates_with_fallback_and_placeholders() {
        let i = i18n();
        let none = HashMap::new();
        assert_eq!(i.translate("fr", "nav.home", &none).unwrap(), "Accueil");
        let mut args = HashMap::new();
        args.insert("n".to_string(), Value::from(2));
        args.insert("total".to_string(), Value::from("5"));
        // missing in French: falls back to English
        assert_eq!(i.translate("fr", "nav.page", &args).unwrap(), "Page 2 of 5");
        let e = i.translate("fr", "nav.hom", &none).unwrap_err();
        assert!(
            e.contains("`nav.hom` is missing") && e.contains("did you mean `nav.home`?"),
            "{e}"
        );
    }

    #[test]
    fn escaping_keeps_slashes() {
        assert_eq!(
            escape_html("/en/?a=1&b=\"<'>"),
            "/en/?a=1&amp;b=&quot;&lt;&#39;&gt;"
        );
        assert_eq!(escape_html("Élysée « <b> » ’"), "Élysée « &lt;b&gt; » ’");
        assert_eq!(escape_html(""), "");
        assert_eq!(escape_html("&"), "&amp;");
    }

    /// The vendored tera (`generator/vendor/README.md`) borrows name segments without `~` and
    /// still unescapes those with one: each kind of lookup, in the context and in a loop.
    #[test]
    fn dotted_and_bracketed_names_find_their_values() {
        let context = Context::from_value(serde_json::json!({
            "page": {"title": "Briefing", "parts": [{"key": "full"}], "with/slash": "a/b", "tilde~": "t"},
        }))
        .unwrap();
        let source = "{{ page.title }}|{{ page.parts.0.key }}|{{ page['with/slash'] }}|\
            {{ page['tilde~'] }}|{% for p in page.parts %}{{ p.key }}{% endfor %}|\
            {{ page.missing | default(value='none') }}";
        let out = Tera::one_off(source, &context, false).unwrap();
        assert_eq!(out, "Briefing|full|a/b|t|full|none");
    }

    #[test]
    fn placeholders_fill_in_one_pass() {
        let i = I18n::parse(
            "en",
            [(
                "en",
                PathBuf::from("en.toml"),
                "a = \"{n} of {total} {unknown} {n}{ }\"\nb = \"{x\"\n",
            )],
        )
        .unwrap();
        let mut args = HashMap::new();
        args.insert("n".to_string(), Value::from(2));
        // a value that looks like a placeholder is text, not filled again
        args.insert("total".to_string(), Value::from("{n}"));
        assert_eq!(
            i.translate("en", "a", &args).unwrap(),
            "2 of {n} {unknown} 2{ }"
        );
        assert_eq!(i.translate("en", "b", &args).unwrap(), "{x");
    }

    #[test]
    fn lists_missing_keys() {
        assert_eq!(i18n().missing_keys("fr"), vec!["nav.page".to_string()]);
        assert!(i18n().missing_keys("en").is_empty());
    }

    #[test]
    fn localised_dates() {
        let d = DateTime::parse_from_rfc3339("2018-04-26T10:30:00+02:00").unwrap();
        assert_eq!(i18n().format_date("en", &d).unwrap(), "26 April 2018");
        assert_eq!(i18n().format_date("fr", &d).unwrap(), "26 avril 2018");
        let first = DateTime::parse_from_rfc3339("2018-04-01T10:30:00+02:00").unwrap();
        assert_eq!(i18n().format_date("fr", &first).unwrap(), "1er avril 2018");
        assert_eq!(i18n().format_date("en", &first).unwrap(), "1 April 2018");
    }

    /// Rendering `page.html` of `theme` in French fails on line 2, on the key `nav.missing`.
    fn assert_fails_on_the_missing_key_of_line_2(theme: &Theme) {
        let d = theme
            .renderer("fr")
            .render("page.html", &Context::new())
            .unwrap_err();
        let s = d.to_string();
        assert!(s.starts_with("themes/t/templates/page.html:2:"), "{s}");
        assert!(
            s.contains("translation key `nav.missing` is missing"),
            "{s}"
        );
    }

    #[test]
    fn template_errors_name_the_template_and_line() {
        let sources = [("page.html", "<p>\n{{ trans(key=\"nav.missing\") }}</p>")];
        assert_fails_on_the_missing_key_of_line_2(&theme_of(&sources, false));
    }

    /// A theme of `sources` over [`i18n`] (with a few more strings), with or without the
    /// per-language folded templates.
    fn theme_of(sources: &[(&str, &str)], folded: bool) -> Theme {
        let sources: HashMap<String, String> = sources
            .iter()
            .map(|(n, s)| (n.to_string(), s.to_string()))
            .collect();
        let i18n = I18n::parse(
            "en",
            [
                ("en", PathBuf::from("en.toml"), "[nav]\nhome = \"Home\"\nbrand = \"<Tom & \\\"Jerry\\\">\"\nbraces = \"{{ oops }}\"\nonly_en = \"English only\"\npage = \"Page {n} of {total} & more\"\nhello = \"Hi {name}\"\nodd = \"{n} and {other}\"\n"),
                ("fr", PathBuf::from("fr.toml"), "[nav]\nhome = \"Accueil\"\nbrand = \"L'équipe\"\nbraces = \"{{ oups }}\"\npage = \"{total} pages, voici l'{n}\"\nhello = \"Salut {name}, {name}\"\n"),
            ],
        )
        .unwrap();
        let i18n = Arc::new(i18n);
        let mut tera = new_tera();
        tera.add_raw_templates(sources.iter().map(|(n, s)| (n.as_str(), s.as_str())))
            .unwrap();
        let localized = if folded {
            ["en", "fr"]
                .iter()
                .map(|l| {
                    let tera = localize(&sources, &i18n, l, &variables(l)).unwrap();
                    (l.to_string(), tera)
                })
                .collect()
        } else {
            HashMap::new()
        };
        Theme {
            dir: PathBuf::from("themes/t"),
            tera,
            localized,
            sources,
            i18n,
        }
    }

    /// The variables every page in `lang` has, in these tests.
    fn variables(lang: &str) -> Map<String, Value> {
        let vars = serde_json::json!({
            "site": {
                "title": "Tom & <Jerry>", "base_url": "https://example.org", "search": true,
                "code": "S", "langs": [{"code": "de"}, {"code": "it"}],
            },
            "lang": {"code": lang, "dir": "ltr", "braces": "{{ x }}", "rank": 1, "ratio": 2.0, "none": null},
        });
        vars.as_object().unwrap().clone()
    }

    /// `name` of `theme` rendered in `lang` with [`variables`] for context, or the error.
    fn try_render(theme: &Theme, lang: &str, name: &str) -> Result<String, String> {
        let context = Context::from_value(Value::Object(variables(lang))).unwrap();
        match theme.renderer(lang).render(name, &context) {
            Ok(bytes) => Ok(String::from_utf8(bytes).unwrap()),
            Err(d) => Err(d.to_string()),
        }
    }

    /// `name` of `theme` rendered in `lang` with [`variables`] for context.
    fn render(theme: &Theme, lang: &str, name: &str) -> String {
        try_render(theme, lang, name).unwrap()
    }

    /// The folded theme of `sources`, once each of `names` has rendered in each of `langs`
    /// exactly as the templates as written do.
    fn folded_as_written(sources: &[(&str, &str)], langs: &[&str], names: &[&str]) -> Theme {
        let (folded, runtime) = (theme_of(sources, true), theme_of(sources, false));
        for lang in langs {
            for name in names {
                assert_eq!(
                    try_render(&folded, lang, name),
                    try_render(&runtime, lang, name),
                    "{lang} {name}"
                );
            }
        }
        folded
    }

    #[test]
    fn constant_translations_are_folded_into_the_templates_and_render_the_same() {
        let page = "<a>{{ trans(key=\"nav.home\") }}</a>|{{ trans(key='nav.brand') }}|{{ trans(key=\"nav.only_en\") }}|{{ trans(key=\"nav.braces\") }}|\n  {{- trans(key=\"nav.home\") }}|{% raw %}{{ trans(key=\"nav.home\") }}{% endraw %}|{# {{ trans(key=\"nav.home\") }} #}|{{ trans(key=\"nav.home\", lang=\"en\") }}";
        let sources = [
            ("page.html", page),
            ("plain.txt", "{{ trans(key=\"nav.brand\") }}"),
        ];
        let folded = folded_as_written(&sources, &["en", "fr"], &["page.html", "plain.txt"]);
        // what is folded is gone from the template; what is left runs at render time
        let text = fold_constants(page, |c| match c {
            Constant::Trans(k) => match folded.i18n.get("fr", k) {
                Some(toml::Value::String(s)) => Some(escape_html(s)),
                _ => None,
            },
            Constant::Variable(..) | Constant::Placeholders(..) => None,
        });
        assert_eq!(
            text,
            "<a>Accueil</a>|L&#39;équipe|English only|{{ trans(key=\"nav.braces\") }}|\n  {{- trans(key=\"nav.home\") }}|{% raw %}{{ trans(key=\"nav.home\") }}{% endraw %}|{# {{ trans(key=\"nav.home\") }} #}|{{ trans(key=\"nav.home\", lang=\"en\") }}"
        );
        assert_eq!(
            render(&folded, "en", "page.html"),
            "<a>Home</a>|&lt;Tom &amp; &quot;Jerry&quot;&gt;|English only|{{ oops }}|Home|{{ trans(key=\"nav.home\") }}||Home"
        );
        // a .txt template is not escaped, folded or not
        assert_eq!(render(&folded, "en", "plain.txt"), "<Tom & \"Jerry\">");
    }

    #[test]
    fn an_included_partial_is_escaped_as_the_page_that_includes_it() {
        // tera escapes by the name of the page rendered, not of the partial: folding must not
        // decide by the partial's own name
        let sources = [
            ("page.html", "<p>{% include \"part.txt\" %}</p>"),
            (
                "part.txt",
                "{{ trans(key=\"nav.brand\") }}|{{ trans(key=\"nav.home\") }}",
            ),
            ("mail.txt", "{% include \"part.html\" %}"),
            ("part.html", "{{ trans(key=\"nav.brand\") }}"),
        ];
        let folded = folded_as_written(&sources, &["en"], &["page.html", "mail.txt"]);
        assert_eq!(
            render(&folded, "en", "page.html"),
            "<p>&lt;Tom &amp; &quot;Jerry&quot;&gt;|Home</p>"
        );
    }

    #[test]
    fn page_variables_that_never_change_are_folded_and_render_the_same() {
        let page = "<html lang=\"{{ lang.code }}\" dir=\"{{lang.dir}}\"><title>{{ site.title }}</title>{{ site.base_url }}|{{ lang.braces }}|{{ lang.rank }}|{{- lang.code }}|{{ site.title | upper }}|{{ lang.missing }}|{% raw %}{{ lang.code }}{% endraw %}";
        let sources = [("page.html", page)];
        let folded = folded_as_written(&sources, &["en", "fr"], &["page.html"]);
        let html = "<html lang=\"fr\" dir=\"ltr\"><title>Tom &amp; &lt;Jerry&gt;</title>https://example.org|";
        let kept = "{{ lang.braces }}|{{ lang.rank }}|{{- lang.code }}|{{ site.title | upper }}|{{ lang.missing }}|{% raw %}{{ lang.code }}{% endraw %}";
        let tera = &folded.localized["fr"];
        let template = tera.get_template("page.html").unwrap();
        // tera keeps no source: the folded text shows in the parsed template's text nodes
        let text: String = template
            .ast
            .iter()
            .filter_map(|node| match node {
                tera::ast::Node::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect();
        assert!(text.starts_with(html), "{text}");
        let fold = fold_constants(page, |c| match c {
            Constant::Variable(root, field) => {
                variables("fr")[root][field].as_str().map(escape_html)
            }
            Constant::Trans(_) | Constant::Placeholders(..) => None,
        });
        assert_eq!(fold, format!("{html}{kept}"));
        // folding goes on after the end of a raw block
        let after_raw = "{% raw %}{{ lang.code }}{%- endraw %}{{ lang.code }}";
        let fold = fold_constants(after_raw, |_| Some("fr".into()));
        assert_eq!(fold, "{% raw %}{{ lang.code }}{%- endraw %}fr");
    }

    #[test]
    fn a_variable_that_a_template_binds_or_a_macro_reads_is_not_folded() {
        let bound = [
            (
                "loop.html",
                "{{ lang.code }}{% for lang in site.langs %}[{{ lang.code }}]{% endfor %}",
            ),
            (
                "set.html",
                "{{ site.code }}|{% set site = lang %}{{ site.code }}",
            ),
        ];
        let folded = folded_as_written(&bound, &["en", "fr"], &["loop.html", "set.html"]);
        assert_eq!(render(&folded, "en", "loop.html"), "en[de][it]");
        assert_eq!(render(&folded, "en", "set.html"), "S|en");
        // a macro's arguments may shadow the page's variables: what it reads stays as written
        let macros =
            "{% macro m(lang) %}{{ trans(key=\"nav.home\") }}{{ lang.code }}{% endmacro m %}";
        let sources = [
            ("macros.html", macros),
            (
                "page.html",
                "{% import \"macros.html\" as mac %}{{ lang.code }}|{{ mac::m(lang=site) }}",
            ),
        ];
        let folded = folded_as_written(&sources, &["en"], &["page.html"]);
        assert_eq!(render(&folded, "en", "page.html"), "en|HomeS");
        let fold = fold_constants(macros, |c| match c {
            Constant::Trans(_) => Some("Home".into()),
            Constant::Variable(..) => Some("en".into()),
            Constant::Placeholders(..) => None,
        });
        assert_eq!(
            fold,
            "{% macro m(lang) %}Home{{ lang.code }}{% endmacro m %}"
        );
    }

    #[test]
    fn translations_with_placeholders_are_folded_around_their_values() {
        let page = "{{ trans(key=\"nav.page\", n=lang.rank, total=site.title) }}|{% for l in site.langs %}{{ trans(key=\"nav.hello\", name=l.code) }}{% endfor %}|{{ trans(key='nav.hello', name=lang.ratio) }}|{{ trans(key=\"nav.hello\", name=lang.none) }}|{{ trans(key=\"nav.hello\", name=site.langs) }}|{{ trans(key=\"nav.hello\", name=site.search) }}|{{ trans(key=\"nav.odd\", n=lang.rank) }}|{{ trans(key=\"nav.hello\", name=\"x\") }}|{{ trans(key=\"nav.hello\", name=lang.code, lang=\"fr\") }}";
        let sources = [
            ("page.html", page),
            (
                "plain.txt",
                "{{ trans(key=\"nav.page\", n=lang.rank, total=site.title) }}",
            ),
            // an argument the text never uses is still evaluated by the call: here it fails
            (
                "unused.html",
                "{{ trans(key=\"nav.home\", n=nothing.here) }}",
            ),
            (
                "missing.html",
                "{{ trans(key=\"nav.hello\", name=nothing.here) }}",
            ),
        ];
        let names = ["page.html", "plain.txt", "unused.html", "missing.html"];
        let folded = folded_as_written(&sources, &["en", "fr"], &names);
        assert_eq!(
            render(&folded, "en", "page.html"),
            "Page 1 of Tom &amp; &lt;Jerry&gt; &amp; more|Hi deHi it|Hi 2.0|Hi null|Hi [{&quot;code&quot;:&quot;de&quot;},{&quot;code&quot;:&quot;it&quot;}]|Hi true|1 and {other}|Hi x|Salut en, en"
        );
        assert_eq!(
            render(&folded, "en", "plain.txt"),
            "Page 1 of Tom & <Jerry> & more"
        );
        assert!(try_render(&folded, "fr", "unused.html").is_err());
        assert!(try_render(&folded, "en", "missing.html").is_err());
        // what is folded: the text around the placeholders, escaped; the values print at render
        let text = |c: Constant| match c {
            Constant::Trans(k) | Constant::Placeholders(k, _) => match folded.i18n.get("fr", k) {
                Some(toml::Value::String(s)) => Some(escape_html(s)),
                _ => None,
            },
            Constant::Variable(..) => None,
        };
        assert_eq!(
            fold_constants(page, text),
            "{{ site.title | trans_arg }} pages, voici l&#39;{{ lang.rank | trans_arg }}|{% for l in site.langs %}Salut {{ l.code | trans_arg }}, {{ l.code | trans_arg }}{% endfor %}|Salut {{ lang.ratio | trans_arg }}, {{ lang.ratio | trans_arg }}|Salut {{ lang.none | trans_arg }}, {{ lang.none | trans_arg }}|Salut {{ site.langs | trans_arg }}, {{ site.langs | trans_arg }}|Salut {{ site.search | trans_arg }}, {{ site.search | trans_arg }}|{{ trans(key=\"nav.odd\", n=lang.rank) }}|{{ trans(key=\"nav.hello\", name=\"x\") }}|{{ trans(key=\"nav.hello\", name=lang.code, lang=\"fr\") }}"
        );
        assert_eq!(
            fold_constants("{{ trans(key=\"nav.home\", n=nothing.here) }}", text),
            "{{ trans(key=\"nav.home\", n=nothing.here) }}"
        );
    }

    #[test]
    fn a_missing_key_is_left_to_fail_at_render_time_with_its_line() {
        let sources = [(
            "page.html",
            "<p>{{ trans(key=\"nav.home\") }}\n{{ trans(key=\"nav.missing\") }}</p>",
        )];
        assert_fails_on_the_missing_key_of_line_2(&theme_of(&sources, true));
    }

    #[test]
    fn an_unknown_filter_is_found_in_its_template() {
        let sources = [("f.html", "<p>\n  {{ \"x\" | nofilter }}</p>")];
        let theme = theme_of(&sources, false);
        let d = theme
            .renderer("en")
            .render("f.html", &Context::new())
            .unwrap_err();
        assert_eq!((d.line, d.column), (2, 12), "{d}");
        assert!(d.path.ends_with("templates/f.html"), "{d}");
        assert!(d.message.ends_with("Filter 'nofilter' not found"), "{d}");
    }

    #[test]
    fn parse_errors_have_positions() {
        let mut sources = HashMap::new();
        sources.insert(
            "bad.html".to_string(),
            "<p>\n\n  {{ oops( }}</p>".to_string(),
        );
        let e = Tera::default()
            .add_raw_templates(sources.iter().map(|(n, s)| (n.as_str(), s.as_str())))
            .unwrap_err();
        let d = template_diagnostic(Path::new("themes/t"), &sources, &e, None);
        assert_eq!(d.path, PathBuf::from("themes/t/templates/bad.html"));
        assert_eq!(d.line, 3, "{d}");
        assert_eq!(
            d.message,
            "Failed to parse 'bad.html': expected an identifier (must start with a-z)"
        );
    }
}
