//! Content loading: a transcript file is TOML front matter between `+++` lines followed by a
//! markdown body. This module parses and validates the front matter into a [`Transcript`] with
//! located errors (file, line, column, hint) and loads `content/topics.toml`. It reads nothing
//! itself: `site` hands it file texts.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Datelike, FixedOffset};
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::config::{toml_diagnostic, Table};
use crate::error::{did_you_mean, Diagnostic};
use crate::markdown::{format_timecode, parse_timecode, slugify};

/// Path of the topic list, relative to the site root.
pub const TOPICS_FILE: &str = "content/topics.toml";

/// Kind of briefing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    PressConference,
    Doorstep,
    Speech,
    Remarks,
    Statement,
    Interview,
}

/// How faithful the text is to what was said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Delivery {
    AsDelivered,
    CheckAgainstDelivery,
    Transcript,
}

/// The front matter as written (see README.md, "Authoring").
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FrontMatter {
    title: String,
    date: Spanned<toml::value::Datetime>,
    kind: Kind,
    #[serde(default)]
    speakers: Vec<Spanned<SpeakerFm>>,
    location: Option<String>,
    event: Option<String>,
    delivery: Option<Delivery>,
    #[serde(default)]
    topics: Vec<Spanned<String>>,
    summary: Option<String>,
    #[serde(default)]
    draft: bool,
    translation_key: Option<String>,
    slug: Option<Spanned<String>>,
    video: Option<VideoFm>,
}

/// The tables of the front matter and their keys, for hints about unknown keys.
const TABLES: &[Table] = &[
    Table {
        header: "",
        keys: &[
            "title",
            "date",
            "kind",
            "speakers",
            "location",
            "event",
            "delivery",
            "topics",
            "summary",
            "draft",
            "translation_key",
            "slug",
            "video",
        ],
    },
    Table {
        header: "[[speakers]]",
        keys: &["name", "role", "key"],
    },
    Table {
        header: "[video]",
        keys: &["id", "duration", "poster", "parts"],
    },
    Table {
        header: "[[video.parts]]",
        keys: &["key", "title", "start", "end"],
    },
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SpeakerFm {
    name: String,
    role: String,
    key: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VideoFm {
    id: Spanned<String>,
    duration: Spanned<String>,
    poster: Option<String>,
    #[serde(default)]
    parts: Vec<Spanned<PartFm>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PartFm {
    key: String,
    title: Option<String>,
    start: Option<Time>,
    end: Option<Time>,
}

/// A time in a video: seconds, or `"HH:MM:SS"`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Time {
    Seconds(u32),
    Text(String),
}

/// A speaker of a transcript.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Speaker {
    /// Identity across languages: the `key` field, or the slug of the name.
    pub key: String,
    /// Name as written in this language.
    pub name: String,
    /// Role in this language.
    pub role: String,
}

/// A broadcast video attached to a transcript.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Video {
    /// Folder name in the media folder and in the catalog.
    pub id: String,
    /// Length in seconds.
    pub duration: u32,
    /// Poster file name in `media.dir/{id}/`, when given.
    pub poster: Option<String>,
    /// Downloadable parts; `full` is the whole video.
    pub parts: Vec<Part>,
}

/// A downloadable part of a video.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Part {
    /// `full` or a clip key (also the file stem `{id}/{key}.mp4`).
    pub key: String,
    /// Title shown to journalists.
    pub title: Option<String>,
    /// Start in seconds (None for `full`).
    pub start: Option<u32>,
    /// End in seconds (None for `full`).
    pub end: Option<u32>,
}

impl Part {
    /// `HH:MM:SS` of the start.
    pub fn start_display(&self) -> Option<String> {
        self.start.map(format_timecode)
    }
    /// `HH:MM:SS` of the end.
    pub fn end_display(&self) -> Option<String> {
        self.end.map(format_timecode)
    }
}

/// One transcript in one language, validated.
#[derive(Debug, Clone)]
pub struct Transcript {
    /// Source file, relative to the site root (`content/en/2018/x.md`).
    pub source: PathBuf,
    /// The file's text, kept for error positions; only its front matter once the site has
    /// taken the body to render it ([`Transcript::take_source`]).
    pub text: String,
    /// Byte offset of the markdown body in `text`.
    pub body_offset: usize,
    /// Language code (the `content/{lang}/` folder).
    pub lang: String,
    /// Last URL segment.
    pub slug: String,
    /// Same key in two languages = translations of each other.
    pub translation_key: String,
    /// When it was delivered, in its own offset.
    pub date: DateTime<FixedOffset>,
    pub title: String,
    pub kind: Kind,
    pub delivery: Option<Delivery>,
    pub speakers: Vec<Speaker>,
    pub location: Option<String>,
    pub event: Option<String>,
    /// Topic keys, validated against `content/topics.toml`.
    pub topics: Vec<String>,
    pub summary: Option<String>,
    pub draft: bool,
    pub video: Option<Video>,
}

impl Transcript {
    /// Takes the file's whole text out, leaving a copy of its front matter, which later
    /// diagnostics point into: the site renders the body from the text it gets and frees it
    /// right after, so the markdown of a whole site is never in memory beside its HTML.
    pub fn take_source(&mut self) -> String {
        let front_matter = self.text[..self.body_offset].to_owned();
        std::mem::replace(&mut self.text, front_matter)
    }

    /// `/{lang}/transcripts/{yyyy}/{mm}/{dd}/{slug}/`, the date taken in the transcript's offset.
    pub fn url(&self) -> String {
        transcript_url(&self.lang, &self.date, &self.slug)
    }

    /// A diagnostic at the front-matter line that sets the first of `keys` the author wrote
    /// (`slug`, `[video]`…), or at the file's first line when they wrote none of them.
    pub fn field_diagnostic(&self, keys: &[&str], message: impl Into<String>) -> Diagnostic {
        let front_matter = &self.text[..self.body_offset];
        match keys
            .iter()
            .find_map(|k| crate::config::find_key(front_matter, k))
        {
            Some(offset) => Diagnostic::at_offset(self.source.clone(), &self.text, offset, message),
            None => Diagnostic::at(self.source.clone(), 1, 1, message),
        }
    }
}

/// The URL rule for transcripts.
pub fn transcript_url(lang: &str, date: &DateTime<FixedOffset>, slug: &str) -> String {
    // by hand rather than `format!`, whose padding took some 1,900 instructions a URL, and
    // a build asks for each transcript's URL about eight times
    let digits = |out: &mut String, n: u32, width: u32| {
        for p in (0..width).rev() {
            out.push(char::from(b'0' + (n / 10u32.pow(p) % 10) as u8));
        }
    };
    let mut url = String::with_capacity(lang.len() + slug.len() + 27);
    url.push('/');
    url.push_str(lang);
    url.push_str("/transcripts/");
    match u32::try_from(date.year()) {
        Ok(year) if year <= 9999 => digits(&mut url, year, 4),
        // a year of five digits or before year 0, padded as `format!` pads it
        _ => url.push_str(&format!("{:04}", date.year())),
    }
    url.push('/');
    digits(&mut url, date.month(), 2);
    url.push('/');
    digits(&mut url, date.day(), 2);
    url.push('/');
    url.push_str(slug);
    url.push('/');
    url
}

/// Topic names per language, from `content/topics.toml` (`[russia] en = "Russia"  fr = "Russie"`).
#[derive(Debug, Clone, Default)]
pub struct Topics {
    names: BTreeMap<String, BTreeMap<String, String>>,
    /// The file could not be read: every key passes, so its one error is not buried under an
    /// "unknown topic" for each topic of each transcript.
    unreadable: bool,
}

impl Topics {
    /// Stands in for a topics file that could not be read or parsed (whose error the build
    /// reports): it takes every key as known.
    pub fn unreadable() -> Topics {
        Topics {
            names: BTreeMap::new(),
            unreadable: true,
        }
    }

    /// Parses the text of `content/topics.toml`.
    pub fn parse(source: &str) -> Result<Topics, Diagnostic> {
        let names: BTreeMap<String, BTreeMap<String, String>> =
            toml::from_str(source).map_err(|e| toml_diagnostic(TOPICS_FILE, source, 0, &e, &[]))?;
        for key in names.keys() {
            if slugify(key) != *key {
                let offset = source.find(&format!("[{key}]")).unwrap_or(0);
                return Err(Diagnostic::at_offset(
                    TOPICS_FILE,
                    source,
                    offset,
                    format!("topic key `{key}` is not URL-safe"),
                )
                .with_hint(format!("use `{}`", slugify(key))));
            }
        }
        Ok(Topics {
            names,
            unreadable: false,
        })
    }

    /// True when the key is defined (or the file could not be read).
    pub fn contains(&self, key: &str) -> bool {
        self.unreadable || self.names.contains_key(key)
    }

    /// Every key, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.names.keys().map(String::as_str)
    }

    /// Keys of the topics with no name in `lang` (their pages show the fallback's), sorted.
    pub fn unnamed(&self, lang: &str) -> Vec<String> {
        self.names
            .iter()
            .filter(|(_, names)| !names.contains_key(lang))
            .map(|(key, _)| key.clone())
            .collect()
    }

    /// Name in `lang`, else in `fallback`, else the key itself.
    pub fn name(&self, key: &str, lang: &str, fallback: &str) -> String {
        self.names
            .get(key)
            .and_then(|n| n.get(lang).or_else(|| n.get(fallback)))
            .cloned()
            .unwrap_or_else(|| key.to_string())
    }
}

/// Splits `+++\nfront matter\n+++\nbody` into (front matter, its byte offset, body offset).
pub fn split_front_matter(text: &str) -> Option<(&str, usize, usize)> {
    let start = if text.starts_with('\u{feff}') { 3 } else { 0 };
    let rest = &text[start..];
    let first_line_end = rest.find('\n')?;
    if rest[..first_line_end].trim_end() != "+++" {
        return None;
    }
    let fm_start = start + first_line_end + 1;
    let mut pos = fm_start;
    for line in text[fm_start..].split_inclusive('\n') {
        if line.trim_end() == "+++" {
            return Some((&text[fm_start..pos], fm_start, pos + line.len()));
        }
        pos += line.len();
    }
    None
}

/// Reads transcript `rel` (relative to `root`) as text. The check that it is UTF-8 is
/// simdutf8's: std's slows down at every accent, curly quote and pasted `•` of a French
/// transcript, and checking 132 MB of transcripts took 1.5 % of a benchmark build. The bytes
/// read become the `String` as they are: copying them (simdutf8 checks a slice) was another
/// 2 % of the build's samples. A file that is not UTF-8 is an error at its first byte that is
/// not.
pub fn read_source(root: &Path, rel: &Path) -> Result<String, Diagnostic> {
    let bytes = std::fs::read(root.join(rel)).map_err(|e| Diagnostic::io(rel, "read", &e))?;
    if simdutf8::basic::from_utf8(&bytes).is_ok() {
        // SAFETY: simdutf8 has just checked that `bytes` are UTF-8 (its check is exact: it
        // accepts the same inputs as `std::str::from_utf8`, which its own tests compare).
        return Ok(unsafe { String::from_utf8_unchecked(bytes) });
    }
    // std's check, slower, says where
    let at = match std::str::from_utf8(&bytes) {
        Ok(text) => return Ok(text.to_owned()),
        Err(e) => e.valid_up_to(),
    };
    let before = String::from_utf8_lossy(&bytes[..at]);
    Err(Diagnostic::at_offset(
        rel,
        &before,
        before.len(),
        format!("this file is not UTF-8 text (byte 0x{:02X})", bytes[at]),
    )
    .with_hint("save it as UTF-8: most editors offer the encoding when saving"))
}

/// Parses and validates one transcript file. `source` is its path relative to the site root,
/// `lang` its language folder, `key_path` its path relative to that folder.
pub fn parse_transcript(
    source: &Path,
    text: String,
    lang: &str,
    key_path: &str,
    topics: &Topics,
) -> Result<Transcript, Vec<Diagnostic>> {
    let Some((fm, fm_offset, body_offset)) = split_front_matter(&text) else {
        return Err(vec![Diagnostic::at(source, 1, 1, "missing front matter")
            .with_hint(
                "start the file with a `+++` line, the TOML front matter, and another `+++` line",
            )]);
    };
    let (front, mut errors) = front_matter(source, &text, fm, fm_offset)?;
    let at = |span: std::ops::Range<usize>, message: String| {
        Diagnostic::at_offset(source, &text, fm_offset + span.start, message)
    };

    let date = {
        let dt = front.date.get_ref();
        let span = front.date.span();
        match (dt.date, dt.time, dt.offset) {
            (Some(_), Some(_), Some(_)) => match DateTime::parse_from_rfc3339(&dt.to_string()) {
                Ok(d) => Some(d),
                Err(e) => {
                    errors.push(at(span, format!("invalid date `{dt}`: {e}")));
                    None
                }
            },
            _ => {
                errors.push(
                    at(span, format!("date `{dt}` has no time zone offset"))
                        .with_hint("write the local time and its UTC offset, e.g. date = 2018-04-26T10:30:00+02:00"),
                );
                None
            }
        }
    };

    let mut speakers: Vec<Speaker> = Vec::new();
    for s in &front.speakers {
        let span = s.span();
        let s = s.get_ref();
        let key = s.key.clone().unwrap_or_else(|| slugify(&s.name));
        if key.is_empty() || slugify(&key) != key {
            errors.push(
                at(span.clone(), format!("speaker key `{key}` is not URL-safe"))
                    .with_hint(format!("use key = \"{}\"", slugify(&key))),
            );
        }
        // listed twice, they would show twice on the page and on their speaker page
        if speakers.iter().any(|other| other.key == key) {
            errors.push(
                at(span, format!("speaker `{key}` is listed twice"))
                    .with_hint("list each speaker once, with one role"),
            );
            continue;
        }
        speakers.push(Speaker {
            key,
            name: s.name.clone(),
            role: s.role.clone(),
        });
    }

    for (n, t) in front.topics.iter().enumerate() {
        if front.topics[..n]
            .iter()
            .any(|other| other.get_ref() == t.get_ref())
        {
            errors.push(
                at(t.span(), format!("topic `{}` is listed twice", t.get_ref()))
                    .with_hint("list each topic once"),
            );
        } else if !topics.contains(t.get_ref()) {
            let mut d = at(t.span(), format!("unknown topic `{}`", t.get_ref()));
            d = d.with_hint(match did_you_mean(t.get_ref(), topics.keys()) {
                Some(s) => format!("did you mean `{s}`? (topics are defined in {TOPICS_FILE})"),
                None => format!(
                    "add [{}] with its names per language to {TOPICS_FILE}",
                    t.get_ref()
                ),
            });
            errors.push(d);
        }
    }

    let default_slug = Path::new(key_path)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let slug = match &front.slug {
        Some(s) => {
            if slugify(s.get_ref()) != *s.get_ref() {
                errors.push(
                    at(s.span(), format!("slug `{}` is not URL-safe", s.get_ref()))
                        .with_hint(format!("use slug = \"{}\"", slugify(s.get_ref()))),
                );
            }
            s.get_ref().clone()
        }
        None => {
            if slugify(&default_slug) != default_slug {
                errors.push(
                    Diagnostic::file(
                        source,
                        format!("file name `{default_slug}` is not a URL-safe slug"),
                    )
                    .with_hint(format!(
                        "rename the file to `{}.md` or set slug = \"…\"",
                        slugify(&default_slug)
                    )),
                );
            }
            default_slug
        }
    };

    let video = front.video.as_ref().and_then(|v| {
        let before = errors.len();
        let video = parse_video(v, &at, &mut errors);
        (errors.len() == before).then_some(video)
    });

    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Transcript {
        source: source.to_path_buf(),
        body_offset,
        lang: lang.to_string(),
        slug,
        translation_key: front
            .translation_key
            .unwrap_or_else(|| key_path.replace('\\', "/")),
        date: date.expect("checked above"),
        title: front.title,
        kind: front.kind,
        delivery: front.delivery,
        speakers,
        location: front.location,
        event: front.event,
        topics: front.topics.into_iter().map(Spanned::into_inner).collect(),
        summary: front.summary,
        draft: front.draft,
        video,
        text,
    })
}

/// Parses the front matter `fm` (at `fm_offset` of the file's `text`). An unknown field does not
/// hide what follows it: it is reported, blanked out of the text (spaces of the same length, so
/// every position holds) and the rest parsed again, so an author sees every misspelt field, and
/// the other errors of the file, in one build. `Err` when the rest cannot be parsed either.
fn front_matter(
    source: &Path,
    text: &str,
    fm: &str,
    fm_offset: usize,
) -> Result<(FrontMatter, Vec<Diagnostic>), Vec<Diagnostic>> {
    let mut errors = Vec::new();
    let mut fm = std::borrow::Cow::Borrowed(fm);
    // each pass blanks one more key; the bound only guards against a span toml got wrong
    for _ in 0..64 {
        let e = match toml::from_str::<FrontMatter>(&fm) {
            Ok(front) => return Ok((front, errors)),
            Err(e) => e,
        };
        let d = toml_diagnostic(source, text, fm_offset, &e, TABLES);
        // `titel` made `title` missing: the hint of the one already says so
        let follows = d
            .message
            .strip_prefix("missing field ")
            .is_some_and(|field| {
                errors
                    .iter()
                    .any(|u: &Diagnostic| u.hint.as_ref().is_some_and(|h| h.contains(field)))
            });
        if !follows {
            errors.push(d);
        }
        let entry = e
            .span()
            .filter(|_| e.message().starts_with("unknown field"))
            .and_then(|key| entry_span(toml::de::DeTable::parse(&fm).ok()?.get_ref(), &key));
        let Some(entry) = entry else {
            return Err(errors);
        };
        let mut blanked = fm.into_owned();
        let spaces: String = blanked[entry.clone()]
            .chars()
            .map(|c| match c {
                '\n' | '\r' => c.to_string(),
                c => " ".repeat(c.len_utf8()),
            })
            .collect();
        blanked.replace_range(entry, &spaces);
        fm = std::borrow::Cow::Owned(blanked);
    }
    Err(errors)
}

/// The bytes from the key at `key` to the end of its value, wherever in `table` it is (in a
/// table, an array of tables, or below).
fn entry_span(table: &toml::de::DeTable, key: &Range<usize>) -> Option<Range<usize>> {
    fn within(value: &toml::de::DeValue, key: &Range<usize>) -> Option<Range<usize>> {
        match value {
            toml::de::DeValue::Table(table) => entry_span(table, key),
            toml::de::DeValue::Array(items) => items.iter().find_map(|v| within(v.get_ref(), key)),
            _ => None,
        }
    }
    table.iter().find_map(|(k, v)| {
        if k.span() == *key {
            Some(key.start..v.span().end.max(key.end))
        } else {
            within(v.get_ref(), key)
        }
    })
}

fn parse_video(
    v: &VideoFm,
    at: &impl Fn(std::ops::Range<usize>, String) -> Diagnostic,
    errors: &mut Vec<Diagnostic>,
) -> Video {
    let id = v.id.get_ref().clone();
    if id.is_empty() || slugify(&id) != id {
        errors.push(
            at(v.id.span(), format!("video id `{id}` is not URL-safe")).with_hint(
                "use lowercase letters, digits and `-`; it names the folder in the media folder",
            ),
        );
    }
    let duration = parse_timecode(v.duration.get_ref()).unwrap_or_else(|| {
        errors.push(
            at(
                v.duration.span(),
                format!("video duration `{}` is not HH:MM:SS", v.duration.get_ref()),
            )
            .with_hint("write e.g. duration = \"00:25:04\""),
        );
        0
    });
    let mut parts: Vec<Part> = Vec::new();
    for p in &v.parts {
        let span = p.span();
        let fm = p.get_ref();
        let mut time = |t: &Option<Time>, what: &str| -> Option<u32> {
            match t {
                None => None,
                Some(Time::Seconds(s)) => Some(*s),
                Some(Time::Text(s)) => parse_timecode(s).or_else(|| {
                    errors.push(
                        at(
                            span.clone(),
                            format!("part `{}`: {what} `{s}` is not HH:MM:SS", fm.key),
                        )
                        .with_hint("write e.g. \"00:09:41\" or a number of seconds"),
                    );
                    None
                }),
            }
        };
        let start = time(&fm.start, "start");
        let end = time(&fm.end, "end");
        if fm.key.is_empty() || slugify(&fm.key) != fm.key {
            errors.push(
                at(
                    span.clone(),
                    format!("part key `{}` is not URL-safe", fm.key),
                )
                .with_hint(
                    "use lowercase letters, digits and `-`; it names the file {id}/{key}.mp4",
                ),
            );
        }
        if parts.iter().any(|q| q.key == fm.key) {
            errors.push(
                at(span.clone(), format!("part `{}` is listed twice", fm.key))
                    .with_hint("give every part a unique key"),
            );
        }
        if fm.key == "full" {
            if fm.start.is_some() || fm.end.is_some() {
                errors.push(
                    at(
                        span.clone(),
                        "part `full` is the whole video and takes no start or end".into(),
                    )
                    .with_hint("remove start and end, or give the clip another key"),
                );
            }
        } else {
            match (start, end) {
                (Some(s), Some(e)) if s < e && e <= duration => {}
                (Some(s), Some(e)) => errors.push(
                    at(
                        span.clone(),
                        format!(
                        "clip `{}` runs from {} to {} but must satisfy start < end ≤ duration ({})",
                        fm.key,
                        format_timecode(s),
                        format_timecode(e),
                        format_timecode(duration)
                    ),
                    )
                    .with_hint("fix the clip's start and end"),
                ),
                _ if fm.start.is_none() || fm.end.is_none() => errors.push(
                    at(
                        span.clone(),
                        format!("clip `{}` needs a start and an end", fm.key),
                    )
                    .with_hint(
                        "add start = \"HH:MM:SS\" and end = \"HH:MM:SS\" (or use key = \"full\")",
                    ),
                ),
                _ => {}
            }
        }
        parts.push(Part {
            key: fm.key.clone(),
            title: fm.title.clone(),
            start: if fm.key == "full" { None } else { start },
            end: if fm.key == "full" { None } else { end },
        });
    }
    Video {
        id,
        duration,
        poster: v.poster.clone(),
        parts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topics() -> Topics {
        Topics::parse("[russia]\nen = \"Russia\"\nfr = \"Russie\"\n[nato]\nen = \"NATO\"\n")
            .unwrap()
    }

    fn parse(text: &str) -> Result<Transcript, Vec<Diagnostic>> {
        parse_transcript(
            Path::new("content/en/2018/x.md"),
            text.to_string(),
            "en",
            "2018/x.md",
            &topics(),
        )
    }

    const VALID: &str = "+++\ntitle = \"Press point\"\ndate = 2018-04-26T23:30:00+02:00\nkind = \"press-conference\"\ndelivery = \"as-delivered\"\ntopics = [\"russia\"]\nspeakers = [{ name = \"Jens Stoltenberg\", role = \"Secretary General\" }]\n[video]\nid = \"sg-2018-04-26\"\nduration = \"00:25:00\"\n[[video.parts]]\nkey = \"full\"\n[[video.parts]]\nkey = \"opening\"\nstart = \"00:00:00\"\nend = 581\n+++\nGood morning.\n";

    #[test]
    fn parses_a_complete_front_matter() {
        let t = parse(VALID).unwrap();
        assert_eq!(t.title, "Press point");
        assert_eq!(t.kind, Kind::PressConference);
        assert_eq!(t.delivery, Some(Delivery::AsDelivered));
        assert_eq!(t.speakers[0].key, "jens-stoltenberg");
        assert_eq!(t.translation_key, "2018/x.md");
        assert_eq!(&t.text[t.body_offset..], "Good morning.\n");
        let v = t.video.unwrap();
        assert_eq!(v.duration, 1500);
        assert_eq!(v.parts[1].end, Some(581));
        assert_eq!(v.parts[0].start, None);
    }

    #[test]
    fn a_taken_source_leaves_the_front_matter_diagnostics_point_into() {
        let mut t = parse(VALID).unwrap();
        let before = t.field_diagnostic(&["[video]"], "x").to_string();
        let source = t.take_source();
        assert_eq!(source, VALID, "the whole file is handed over");
        assert_eq!(&t.text[t.body_offset..], "", "no body is left");
        assert!(
            t.text.capacity() < VALID.len(),
            "the body's bytes are not kept"
        );
        let after = t.field_diagnostic(&["[video]"], "x").to_string();
        assert_eq!(after, before);
        assert!(after.contains(":8:"), "{after}");
    }

    #[test]
    fn url_uses_the_date_in_its_own_offset() {
        // 23:30 at +02:00 is the 26th locally even though it is 21:30 UTC
        let t = parse(VALID).unwrap();
        assert_eq!(t.url(), "/en/transcripts/2018/04/26/x/");
        let t = parse(&VALID.replace("23:30:00+02:00", "00:30:00+02:00")).unwrap();
        assert_eq!(t.url(), "/en/transcripts/2018/04/26/x/");
    }

    #[test]
    fn a_misplaced_key_names_the_table_it_belongs_to() {
        // a speaker's role written as a key of the transcript
        let e = parse(&VALID.replace("topics =", "role = \"Minister\"\ntopics =")).unwrap_err();
        let s = e[0].to_string();
        assert!(s.contains("unknown field `role`"), "{s}");
        assert!(
            s.contains("`role` is a key of `[[speakers]]`, not of the top level"),
            "{s}"
        );
        // the transcript's summary written under [video]
        let e = parse(&VALID.replace(
            "[[video.parts]]\nkey = \"full\"",
            "summary = \"x\"\n[[video.parts]]\nkey = \"full\"",
        ))
        .unwrap_err();
        let s = e[0].to_string();
        assert!(
            s.contains("move `summary = …` above the first header"),
            "{s}"
        );
    }

    #[test]
    fn unknown_field_has_line_and_hint() {
        let e = parse(&VALID.replace("title =", "titel =")).unwrap_err();
        let s = e[0].to_string();
        assert!(
            s.starts_with("content/en/2018/x.md:2:1: unknown field `titel`"),
            "{s}"
        );
        assert!(s.contains("did you mean `title`?"), "{s}");
    }

    #[test]
    fn every_unknown_field_and_the_files_other_errors_come_together() {
        let lines = |e: &[Diagnostic]| -> Vec<String> {
            e.iter()
                .map(|d| format!("{}:{}", d.line, d.message))
                .collect()
        };
        let text = VALID
            .replace("delivery =", "delivry =")
            .replace("topics =", "topcs =")
            .replace("duration =", "duraton =");
        let e = parse(&text).unwrap_err();
        assert_eq!(
            lines(&e),
            [
                "5:unknown field `delivry`",
                "6:unknown field `topcs`",
                "10:unknown field `duraton`"
            ]
        );
        assert!(
            e[2].to_string().contains("did you mean `duration`?"),
            "{}",
            e[2]
        );

        // past a typo, the file's other errors too
        let text = VALID
            .replace("delivery =", "delivry =")
            .replace("+02:00", "")
            .replace("[\"russia\"]", "[\"rusia\"]");
        let e = parse(&text).unwrap_err();
        assert_eq!(
            lines(&e),
            [
                "5:unknown field `delivry`",
                "3:date `2018-04-26T23:30:00` has no time zone offset",
                "6:unknown topic `rusia`"
            ]
        );

        // a misspelt required field is one error, not also a missing one
        let e = parse(&VALID.replace("title =", "titel =")).unwrap_err();
        assert_eq!(e.len(), 1, "{e:?}");
    }

    #[test]
    fn a_value_of_the_wrong_kind_says_what_to_write() {
        let e = parse(&VALID.replace("[\"russia\"]", "\"russia\"")).unwrap_err();
        let s = e[0].to_string();
        assert!(
            s.starts_with("content/en/2018/x.md:6:10: invalid type: string"),
            "{s}"
        );
        assert!(
            s.contains(
                "hint: this needs a sequence: write a list in brackets, e.g. topics = [\"russia\"]"
            ),
            "{s}"
        );
        let e = parse(&VALID.replace("\"Press point\"", "2018")).unwrap_err();
        assert!(
            e[0].to_string().contains("write text in quotes"),
            "{}",
            e[0]
        );
    }

    #[test]
    fn date_without_offset_is_an_error() {
        let e = parse(&VALID.replace("+02:00", "")).unwrap_err();
        let s = e[0].to_string();
        assert!(
            s.starts_with(
                "content/en/2018/x.md:3:8: date `2018-04-26T23:30:00` has no time zone offset"
            ),
            "{s}"
        );
    }

    #[test]
    fn a_misspelt_kind_suggests_the_value_meant() {
        let e = parse(&VALID.replace("\"press-conference\"", "\"press-conferance\"")).unwrap_err();
        let s = e[0].to_string();
        assert!(
            s.contains("content/en/2018/x.md:4:8: unknown variant `press-conferance`"),
            "{s}"
        );
        assert!(s.contains("did you mean `press-conference`?"), "{s}");
    }

    #[test]
    fn a_date_toml_cannot_read_says_how_to_write_one() {
        for bad in ["\"26 April 2018\"", "2018-04-31T23:30:00+02:00"] {
            let e = parse(&VALID.replace("2018-04-26T23:30:00+02:00", bad)).unwrap_err();
            let s = e[0].to_string();
            assert!(s.starts_with("content/en/2018/x.md:3:"), "{s}");
            assert!(s.contains("date = 2018-04-26T10:30:00+02:00"), "{s}");
        }
    }

    #[test]
    fn unknown_topic_suggests() {
        let e = parse(&VALID.replace("\"russia\"", "\"rusia\"")).unwrap_err();
        let s = e[0].to_string();
        assert!(s.contains(":6:11: unknown topic `rusia`"), "{s}");
        assert!(s.contains("did you mean `russia`?"), "{s}");
    }

    #[test]
    fn a_speaker_or_topic_listed_twice_is_an_error_at_the_second() {
        let e = parse(&VALID.replace("\"russia\"]", "\"russia\", \"russia\"]")).unwrap_err();
        let s = e[0].to_string();
        assert!(s.contains(":6:21: topic `russia` is listed twice"), "{s}");
        assert!(s.contains("list each topic once"), "{s}");
        let twice = VALID.replace(
            "speakers = [{ name = \"Jens Stoltenberg\", role = \"Secretary General\" }]",
            "speakers = [{ name = \"Jens Stoltenberg\", role = \"Secretary General\" }, { key = \"jens-stoltenberg\", name = \"J. Stoltenberg\", role = \"SG\" }]",
        );
        let e = parse(&twice).unwrap_err();
        let s = e[0].to_string();
        assert!(
            s.contains(":7:72: speaker `jens-stoltenberg` is listed twice"),
            "{s}"
        );
        assert!(s.contains("list each speaker once"), "{s}");
    }

    #[test]
    fn clips_must_fit_the_video() {
        let e = parse(&VALID.replace("end = 581", "end = \"00:30:00\"")).unwrap_err();
        assert!(e[0].message.contains("start < end ≤ duration"), "{:?}", e);
        let e = parse(&VALID.replace("end = 581\n", "")).unwrap_err();
        assert!(e[0].message.contains("needs a start and an end"), "{:?}", e);
    }

    #[test]
    fn missing_front_matter_and_field() {
        assert!(parse("no front matter").unwrap_err()[0]
            .message
            .contains("missing front matter"));
        let e = parse(&VALID.replace("kind = \"press-conference\"\n", "")).unwrap_err();
        assert!(e[0].to_string().contains("missing field `kind`"), "{:?}", e);
    }

    #[test]
    fn translation_key_and_slug_can_be_set() {
        let t = parse(&VALID.replace(
            "[video]",
            "translation_key = \"k\"\nslug = \"other\"\n[video]",
        ))
        .unwrap();
        assert_eq!(t.translation_key, "k");
        assert_eq!(t.slug, "other");
    }
}
