//! `pressroom check`: everything a build verifies, without publishing anything, plus what is
//! left to translate — i18n keys missing per language and transcripts without a version in
//! some language — so the press office sees the state of the site before it goes out.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;

use crate::error::BuildErrors;
use crate::site::{BuildOptions, Site};

/// What `check` found on a site that builds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Pages that would be rendered.
    pub pages: usize,
    /// Per language: i18n keys present in the default language but missing in this one.
    pub missing_keys: BTreeMap<String, Vec<String>>,
    /// Per language: transcripts that exist in another language but not in this one.
    pub untranslated: BTreeMap<String, Vec<Gap>>,
    /// Per language: keys of the topics with no name in it in `content/topics.toml`.
    pub unnamed_topics: BTreeMap<String, Vec<String>>,
}

/// A transcript missing in one language.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Gap {
    /// The source file of an existing version.
    pub source: PathBuf,
    /// What to write so the new file is linked to it: the same path under this language's
    /// folder (the default translation key), or, when the key was set by hand, that key.
    pub write: String,
}

impl CheckReport {
    /// True when everything is translated.
    pub fn is_complete(&self) -> bool {
        self.missing_keys.values().all(Vec::is_empty)
            && self.untranslated.values().all(Vec::is_empty)
            && self.unnamed_topics.values().all(Vec::is_empty)
    }
}

/// Loads and renders the site in memory (never touching the output folder) and reports.
pub fn check(options: &BuildOptions) -> Result<CheckReport, BuildErrors> {
    let options = BuildOptions {
        progress: false,
        ..options.clone()
    };
    let (site, output) = Site::load_and_render(&options)?;
    let mut report = CheckReport {
        pages: output.pages,
        ..CheckReport::default()
    };
    let mut versions: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for t in &site.transcripts {
        versions
            .entry(&t.translation_key)
            .or_default()
            .insert(&t.lang);
    }
    for language in &site.config.languages {
        let code = &language.code;
        report
            .missing_keys
            .insert(code.clone(), site.theme.i18n.missing_keys(code));
        let mut missing: Vec<Gap> = Vec::new();
        let mut seen = BTreeSet::new();
        for t in &site.transcripts {
            let key = t.translation_key.as_str();
            if !versions[key].contains(code.as_str()) && seen.insert(key) {
                // the default key is the file's path inside its language folder
                let default_key = t.source.ends_with(key);
                missing.push(Gap {
                    source: t.source.clone(),
                    write: if default_key {
                        format!("content/{code}/{key}")
                    } else {
                        format!("content/{code}/….md with translation_key = \"{key}\"")
                    },
                });
            }
        }
        missing.sort();
        report.untranslated.insert(code.clone(), missing);
        report
            .unnamed_topics
            .insert(code.clone(), site.topics.unnamed(code));
    }
    Ok(report)
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "ok: {} pages build without errors", self.pages)?;
        for (lang, keys) in &self.missing_keys {
            let heading = format!(
                "{lang}: {} i18n key(s) missing (the default language's text is used):",
                keys.len()
            );
            list(f, &heading, keys, |k| k.clone())?;
        }
        for (lang, gaps) in &self.untranslated {
            let heading = match gaps.len() {
                1 => format!("{lang}: 1 transcript has no {lang} version; write"),
                n => format!("{lang}: {n} transcripts have no {lang} version; write"),
            };
            list(f, &heading, gaps, |g| {
                format!("{}  (from {})", g.write, g.source.display())
            })?;
        }
        for (lang, keys) in &self.unnamed_topics {
            let heading = match keys.len() {
                1 => format!("{lang}: 1 topic has no {lang} name in content/topics.toml (another language's is shown):"),
                n => format!("{lang}: {n} topics have no {lang} name in content/topics.toml (another language's is shown):"),
            };
            list(f, &heading, keys, |k| format!("[{k}] {lang} = \"…\""))?;
        }
        if self.is_complete() {
            writeln!(f, "every language is complete")?;
        }
        Ok(())
    }
}

/// `heading`, then one indented line per item; nothing at all when there are no items.
fn list<T>(
    f: &mut fmt::Formatter<'_>,
    heading: &str,
    items: &[T],
    line: impl Fn(&T) -> String,
) -> fmt::Result {
    if items.is_empty() {
        return Ok(());
    }
    writeln!(f, "{heading}")?;
    for item in items {
        writeln!(f, "  {}", line(item))?;
    }
    Ok(())
}
