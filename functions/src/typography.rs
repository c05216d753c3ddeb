//! A language's punctuation spacing, from the `[typography]` table of its i18n file, applied to
//! the theme's and the emails' strings and (by the generator) to transcript text.
//!
//! French sets a narrow no-break space before `;` `!` `?` `»` and after `«`, and a no-break
//! space before `:`, so a mark never starts a line on a phone. Authors and translators type an
//! ordinary space; this turns it into the right one:
//!
//! ```toml
//! [typography]
//! narrow_space_before = ";!?»"
//! space_before = ":"
//! narrow_space_after = "«"
//! quotes = ["«\u202f", "\u202f»"]   # what “…” becomes
//! ```
//!
//! A language without the table is left as written. PURE: text in, text out.

use std::borrow::Cow;

/// A narrow no-break space (U+202F).
const NARROW: char = '\u{202f}';
/// A no-break space (U+00A0).
const NO_BREAK: char = '\u{a0}';

/// One language's spacing rules. The default changes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Typography {
    narrow_before: Vec<char>,
    no_break_before: Vec<char>,
    narrow_after: Vec<char>,
    quotes: Option<(String, String)>,
    /// The first UTF-8 bytes of the marks above (and of the curly quotes, with `quotes`): a
    /// text without any of them is left alone after one pass over its bytes.
    leads: [bool; 256],
}

impl Default for Typography {
    fn default() -> Self {
        Typography::new(Vec::new(), Vec::new(), Vec::new(), None)
    }
}

impl Typography {
    /// The rules of the `[typography]` table of an i18n file (none without one). The error
    /// names the key that is not as documented.
    pub fn from_i18n(doc: &toml::Table) -> Result<Typography, String> {
        let Some(value) = doc.get("typography") else {
            return Ok(Typography::default());
        };
        let table = value
            .as_table()
            .ok_or("`typography` must be a table: [typography]")?;
        let marks = |key: &str| -> Result<Vec<char>, String> {
            match table.get(key) {
                None => Ok(Vec::new()),
                Some(toml::Value::String(s)) => Ok(s.chars().collect()),
                Some(_) => Err(format!(
                    "typography.{key} must be a string of marks, e.g. \";!?\""
                )),
            }
        };
        let quotes = match table.get("quotes") {
            None => None,
            Some(toml::Value::Array(pair)) => match pair.as_slice() {
                [toml::Value::String(open), toml::Value::String(close)] => {
                    Some((open.clone(), close.clone()))
                }
                _ => return Err("typography.quotes must be two strings: [open, close]".into()),
            },
            Some(_) => return Err("typography.quotes must be two strings: [open, close]".into()),
        };
        if let Some(unknown) = table.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(format!(
                "unknown key typography.{unknown}; the keys are {}",
                KEYS.join(", ")
            ));
        }
        Ok(Typography::new(
            marks("narrow_space_before")?,
            marks("space_before")?,
            marks("narrow_space_after")?,
            quotes,
        ))
    }

    fn new(
        narrow_before: Vec<char>,
        no_break_before: Vec<char>,
        narrow_after: Vec<char>,
        quotes: Option<(String, String)>,
    ) -> Typography {
        let mut leads = [false; 256];
        let curly = quotes.as_ref().map_or(&[][..], |_| &['“', '”'][..]);
        for c in narrow_before
            .iter()
            .chain(&no_break_before)
            .chain(&narrow_after)
            .chain(curly)
        {
            let mut utf8 = [0; 4];
            leads[c.encode_utf8(&mut utf8).as_bytes()[0] as usize] = true;
        }
        Typography {
            narrow_before,
            no_break_before,
            narrow_after,
            quotes,
            leads,
        }
    }

    /// True when the rules change nothing.
    pub fn is_empty(&self) -> bool {
        *self == Typography::default()
    }

    /// `text` with its spaces around marks made no-break and its curly double quotes replaced.
    /// Only a plain space is changed: one the author chose (a no-break space, none at all) stays.
    pub fn apply<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if self.is_empty() || !self.changes(text) {
            return Cow::Borrowed(text);
        }
        // Only a space or a curly double quote can change: the runs of text between them are
        // copied whole, not character by character.
        let bytes = text.as_bytes();
        let mut out = String::with_capacity(text.len() + 8);
        // the character before position `i`: the text's own, or the last of a quote's
        // replacement when nothing was copied since
        let mut prev: Option<char> = None;
        let (mut run, mut i) = (0, 0);
        while i < bytes.len() {
            let quote = match bytes[i] {
                b' ' => None,
                0xE2 if self.quotes.is_some() => match text[i..].chars().next() {
                    Some(c @ ('“' | '”')) => Some(c),
                    _ => {
                        i += 1;
                        continue;
                    }
                },
                _ => {
                    i += 1;
                    continue;
                }
            };
            if run < i {
                out.push_str(&text[run..i]);
                prev = text[run..i].chars().next_back();
            }
            match (quote, &self.quotes) {
                (Some('“'), Some((open, _))) => {
                    out.push_str(open);
                    i += '“'.len_utf8();
                    while bytes.get(i) == Some(&b' ') {
                        i += 1;
                    }
                    prev = open.chars().last();
                }
                (Some(_), Some((_, close))) => {
                    while out.ends_with(' ') {
                        out.pop();
                    }
                    out.push_str(close);
                    i += '”'.len_utf8();
                    prev = close.chars().last();
                }
                _ => {
                    let next = text[i + 1..].chars().next();
                    out.push(match next {
                        Some(n) if self.narrow_before.contains(&n) => NARROW,
                        Some(n) if self.no_break_before.contains(&n) => NO_BREAK,
                        _ if prev.is_some_and(|p| self.narrow_after.contains(&p)) => NARROW,
                        _ => ' ',
                    });
                    i += 1;
                    prev = Some(' ');
                }
            }
            run = i;
        }
        out.push_str(&text[run..]);
        Cow::Owned(out)
    }

    /// [`Self::apply`] to a string in place (it is replaced only when something changes).
    pub fn apply_in_place(&self, text: &mut String) {
        if let Cow::Owned(spaced) = self.apply(text) {
            *text = spaced;
        }
    }

    /// Whether [`Self::apply`] would change `text`. Most text of a transcript has no mark next
    /// to a space, so this scans bytes and looks closer only at a mark's first byte (never a
    /// UTF-8 continuation byte, so always the start of a character).
    fn changes(&self, text: &str) -> bool {
        let bytes = text.as_bytes();
        for (i, &b) in bytes.iter().enumerate() {
            if !self.leads[b as usize] {
                continue;
            }
            let Some(c) = text[i..].chars().next() else {
                continue;
            };
            let spaced_before = i > 0 && bytes[i - 1] == b' ';
            let spaced_after = bytes.get(i + c.len_utf8()) == Some(&b' ');
            if (spaced_before
                && (self.narrow_before.contains(&c) || self.no_break_before.contains(&c)))
                || (spaced_after && self.narrow_after.contains(&c))
                || (matches!(c, '“' | '”') && self.quotes.is_some())
            {
                return true;
            }
        }
        false
    }
}

/// The keys of `[typography]`.
const KEYS: [&str; 4] = [
    "narrow_space_before",
    "space_before",
    "narrow_space_after",
    "quotes",
];

#[cfg(test)]
mod tests {
    use super::*;

    /// The rules one character at a time, as `apply` did before it copied runs: the reference
    /// that `copies_runs_with_the_same_result` holds it to.
    fn char_by_char(t: &Typography, text: &str) -> String {
        let mut out = String::new();
        let mut chars = text.chars().peekable();
        let mut prev: Option<char> = None;
        while let Some(c) = chars.next() {
            let next = chars.peek().copied();
            let put = match (c, &t.quotes) {
                (' ', _) => match next {
                    Some(n) if t.narrow_before.contains(&n) => NARROW,
                    Some(n) if t.no_break_before.contains(&n) => NO_BREAK,
                    _ if prev.is_some_and(|p| t.narrow_after.contains(&p)) => NARROW,
                    _ => ' ',
                },
                ('“', Some((open, _))) => {
                    out.push_str(open);
                    while chars.next_if_eq(&' ').is_some() {}
                    prev = open.chars().last();
                    continue;
                }
                ('”', Some((_, close))) => {
                    while out.ends_with(' ') {
                        out.pop();
                    }
                    out.push_str(close);
                    prev = close.chars().last();
                    continue;
                }
                _ => c,
            };
            out.push(put);
            prev = Some(c);
        }
        out
    }

    #[test]
    fn copies_runs_with_the_same_result() {
        // every text of up to five characters over those the rules look at, and a few longer
        let alphabet = [' ', '?', ':', '«', '»', '“', '”', 'a', '\u{a0}', '’'];
        let mut texts = vec![String::new()];
        let mut all = Vec::new();
        for _ in 0..5 {
            texts = texts
                .iter()
                .flat_map(|t| alphabet.iter().map(move |c| format!("{t}{c}")))
                .collect();
            all.extend(texts.iter().cloned());
        }
        all.push("Et alors ? « Oui » : “ la paix ” ; l’OTAN !".into());
        let odd = Typography::new(
            vec![' ', '“'],
            vec!['”'],
            vec!['“', ' '],
            Some(("<".into(), ">".into())),
        );
        let no_quotes = Typography::new(vec!['?', '»'], vec![':'], vec!['«'], None);
        for t in [french(), odd, no_quotes, Typography::default()] {
            for text in &all {
                assert_eq!(t.apply(text), char_by_char(&t, text), "{text:?} with {t:?}");
            }
        }
    }

    fn french() -> Typography {
        let doc: toml::Table = toml::from_str(
            "[typography]\nnarrow_space_before = \";!?»\"\nspace_before = \":\"\nnarrow_space_after = \"«\"\nquotes = [\"«\\u202f\", \"\\u202f»\"]\n",
        )
        .unwrap();
        Typography::from_i18n(&doc).unwrap()
    }

    #[test]
    fn french_spaces_before_marks_do_not_break() {
        assert_eq!(
            french().apply("Et alors ? Oui ! Trois points : un ; deux."),
            "Et alors\u{202f}? Oui\u{202f}! Trois points\u{a0}: un\u{202f}; deux."
        );
        assert_eq!(
            french().apply("le mot « paix » ici"),
            "le mot «\u{202f}paix\u{202f}» ici"
        );
    }

    #[test]
    fn curly_quotes_become_guillemets_without_doubling_spaces() {
        assert_eq!(
            french().apply("dit “paix” et “ guerre ”"),
            "dit «\u{202f}paix\u{202f}» et «\u{202f}guerre\u{202f}»"
        );
    }

    #[test]
    fn what_the_author_chose_is_kept() {
        let t = french();
        for kept in [
            "Quoi?",
            "10:30",
            "https://example.org",
            "Oui\u{a0}!",
            "l’OTAN",
        ] {
            assert!(matches!(t.apply(kept), Cow::Borrowed(_)), "{kept}");
        }
    }

    #[test]
    fn the_quick_check_agrees_with_the_rules() {
        let t = french();
        for text in [
            "a ? b", "a? b", "« a", "«a", "a »", "l’OTAN", "“a”", "a : b", "10:30", "é à ç",
            "fin ?", "? début", " ", "", "« ", "a\u{a0}?",
        ] {
            let changed = matches!(t.apply(text), Cow::Owned(ref s) if s != text);
            assert_eq!(t.changes(text), changed, "{text:?}");
        }
    }

    #[test]
    fn without_the_table_nothing_changes() {
        let t = Typography::from_i18n(&toml::Table::new()).unwrap();
        assert!(t.is_empty());
        assert_eq!(t.apply("What ? “Yes”"), "What ? “Yes”");
    }

    #[test]
    fn a_wrong_table_says_which_key() {
        let doc: toml::Table = toml::from_str("[typography]\nspace_befor = \":\"\n").unwrap();
        let e = Typography::from_i18n(&doc).unwrap_err();
        assert!(e.contains("typography.space_befor"), "{e}");
        let doc: toml::Table = toml::from_str("[typography]\nquotes = \"«\"\n").unwrap();
        assert!(Typography::from_i18n(&doc)
            .unwrap_err()
            .contains("typography.quotes"));
    }
}
