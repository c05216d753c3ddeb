//! Transcript markdown → HTML. PURE: no I/O, no configuration — text and the few words and
//! rules of its language ([`Labels`]) in, HTML and the links it contains out, so it is trivially
//! testable and safe to run in parallel.
//!
//! CommonMark plus tables, footnotes, smart punctuation and heading ids, and the transcript
//! extensions documented for authors in README.md ("Authoring"):
//! - **speaker turns**: a paragraph starting with a bold `**Name:**` opens a
//!   `<section class="turn answer">` (or `turn question` for `**Q:**` / `**Question:**`, the
//!   language's question labels) that runs until the next turn, heading or rule, with the name as
//!   `<b class="speaker">`;
//! - **timecodes**: `[00:03:12]` at the start of a paragraph becomes a seek link (a plain time
//!   when the page has no player);
//! - **pasted bullets**: lines starting with `•`, `·`, `–`, `◦`, `▪` or `‣` become a real list,
//!   nested by their indentation;
//! - **footnotes** `[^1]` are numbered in reading order and gathered in an endnotes section; a
//!   reference without a note is reported;
//! - **typography**: the language's punctuation spacing, on text only (never code).
//!
//! Everything is done by transforming pulldown-cmark events, never by rewriting HTML.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;

use functions::typography::Typography;
use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, TagEnd};

/// The HTML of a transcript body and what the site needs to check in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// HTML, safe to insert as is.
    pub html: String,
    /// Every link and image destination, with its byte offset in the markdown (for errors).
    pub links: Vec<Link>,
    /// Footnote references with no definition (`[^2]` but no `[^2]: …`): the label and the byte
    /// offset of the reference. They are printed as written.
    pub undefined_notes: Vec<(String, usize)>,
    /// The timecode opening a paragraph (`[00:03:12] …`), in seconds, with its byte offset.
    pub timecodes: Vec<(u32, usize)>,
}

/// A link or image destination found in the markdown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The destination as written.
    pub url: String,
    /// Byte offset of the link in the markdown text.
    pub offset: usize,
}

/// The pulldown-cmark extensions a transcript body is parsed with.
pub fn options() -> Options {
    Options::ENABLE_TABLES
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_SMART_PUNCTUATION
        | Options::ENABLE_HEADING_ATTRIBUTES
        | Options::ENABLE_STRIKETHROUGH
}

/// Words the rendered body needs in the page's language (from the theme's i18n; empty leaves
/// the attribute out).
#[derive(Debug, Clone, Copy, Default)]
pub struct Labels<'a> {
    /// Accessible name of the endnotes section ("Notes").
    pub notes: &'a str,
    /// Accessible name of a note's link back to its reference ("Back to the text").
    pub back: &'a str,
    /// The page has no video player, so timecodes are plain `<time>`, not seek links that
    /// would do nothing.
    pub no_player: bool,
    /// The language's punctuation spacing, applied to the text (not to code).
    pub typography: Option<&'a Typography>,
    /// The labels of a journalist's question turn (`Q`, `Question`…); `Q` and `Question` when
    /// empty.
    pub questions: &'a [toml::Value],
}

/// Renders a transcript body, without labels (see [`render_with`]).
pub fn render(markdown: &str) -> Rendered {
    render_with(markdown, &Labels::default())
}

/// Renders a transcript body with `labels` in its language.
pub fn render_with(markdown: &str, labels: &Labels) -> Rendered {
    let source = normalize_bullets(markdown);
    let events = merge_text(
        Parser::new_ext(&source.text, options()).into_offset_iter(),
        source.text.len() / 32,
    );
    let links = events
        .iter()
        .filter_map(|(event, range)| match event {
            Event::Start(Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. }) => Some(Link {
                url: dest_url.to_string(),
                offset: source.original(range.start),
            }),
            _ => None,
        })
        .collect();
    // pulldown-cmark prints a reference to a note that does not exist as its text, `[^2]`
    let mut code = CodeBlocks::default();
    let mut undefined_notes = Vec::new();
    let mut timecodes = Vec::new();
    let mut depth = 0usize;
    let mut opens_paragraph = false;
    for (event, range) in &events {
        depth = depth.saturating_add_signed(nesting(event));
        let first = std::mem::replace(
            &mut opens_paragraph,
            depth == 0 && matches!(event, Event::Start(Tag::Paragraph)),
        );
        if code.contain(event) {
            continue;
        }
        if let Event::Text(text) = event {
            if let Some((_, seconds, _)) = first.then(|| leading_timecode(text)).flatten() {
                timecodes.push((seconds, source.original(range.start)));
            }
            if text.contains("[^") {
                let written = &source.text[range.clone()];
                undefined_notes.extend(
                    note_markers(written)
                        .map(|(label, at)| (label.to_string(), source.original(range.start + at))),
                );
            }
        }
    }
    let events: Vec<Event> = events.into_iter().map(|(e, _)| e).collect();
    let (events, notes) = extract_footnotes(events, &aria_label(labels.back));
    let events = heading_ids(events);
    let spaced = |events| match labels.typography {
        Some(t) if !t.is_empty() => space_marks(events, t),
        _ => events,
    };
    let events = spaced(turns_and_timecodes(
        events,
        !labels.no_player,
        labels.questions,
    ));
    let mut html = String::with_capacity(markdown.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut html, events.into_iter());
    if !notes.is_empty() {
        html.push_str(&format!(
            "<section class=\"footnotes\" role=\"doc-endnotes\"{}>\n<ol>\n",
            aria_label(labels.notes)
        ));
        for note in notes {
            pulldown_cmark::html::push_html(&mut html, spaced(note).into_iter());
        }
        html.push_str("</ol>\n</section>\n");
    }
    Rendered {
        html,
        links,
        undefined_notes,
        timecodes,
    }
}

/// Applies `typography` to the text of `events`, leaving code blocks as written.
fn space_marks<'e>(events: Vec<Event<'e>>, typography: &Typography) -> Vec<Event<'e>> {
    let mut code = CodeBlocks::default();
    events
        .into_iter()
        .map(|event| {
            if code.contain(&event) {
                return event;
            }
            match event {
                Event::Text(text) => match typography.apply(&text) {
                    Cow::Owned(spaced) => Event::Text(CowStr::from(spaced)),
                    Cow::Borrowed(_) => Event::Text(text),
                },
                other => other,
            }
        })
        .collect()
}

/// Follows a stream of events to tell which are part of a code block, whose text is the
/// author's exactly (no note references, no typography).
#[derive(Default)]
struct CodeBlocks {
    inside: bool,
}

impl CodeBlocks {
    /// Whether `event`, the next of the stream, is part of a code block (its start and end
    /// included).
    fn contain(&mut self, event: &Event) -> bool {
        match event {
            Event::Start(Tag::CodeBlock(_)) => self.inside = true,
            Event::End(TagEnd::CodeBlock) => {
                self.inside = false;
                return true;
            }
            _ => {}
        }
        self.inside
    }
}

/// ` aria-label="…"`, escaped as the templates escape what they print (pulldown-cmark's escaper,
/// `templates::escape_html`), or nothing for an empty label.
fn aria_label(label: &str) -> String {
    if label.is_empty() {
        return String::new();
    }
    let mut attribute = String::with_capacity(label.len() + 16);
    attribute.push_str(" aria-label=\"");
    pulldown_cmark_escape::escape_html(&mut attribute, label).expect("a String takes any text");
    attribute.push('"');
    attribute
}

/// Markdown with pasted bullets made into list items, and where its bytes moved.
#[derive(Debug)]
pub struct Normalized<'a> {
    /// The markdown to parse.
    pub text: Cow<'a, str>,
    /// `(offset in text, bytes added before it)` at the start of each rewritten line's content,
    /// in order: maps an offset of `text` back to the author's file.
    shifts: Vec<(usize, isize)>,
}

impl Normalized<'_> {
    /// The offset in the author's markdown of byte `offset` of the normalised text.
    pub fn original(&self, offset: usize) -> usize {
        let i = self.shifts.partition_point(|&(at, _)| at <= offset);
        match i.checked_sub(1) {
            Some(i) => offset.saturating_add_signed(-self.shifts[i].1),
            None => offset,
        }
    }
}

/// Characters that open a pasted bullet line when a space or tab follows them.
const BULLETS: [char; 6] = ['•', '·', '–', '◦', '▪', '‣'];

/// A bullet that also opens lines of prose: a hard-wrapped sentence can put an incise
/// (`– as we always have –`) at the start of a line.
const DASH: char = '–';

/// Whether `line` starts, after its indentation, with `bullet` and a space or tab.
fn opens_with(line: &str, bullet: char) -> bool {
    line.trim_start_matches([' ', '\t'])
        .strip_prefix(bullet)
        .is_some_and(|rest| rest.starts_with([' ', '\t']))
}

/// Turns lines pasted from transcripts that start with `•`, `·`, `–`, `◦`, `▪` or `‣` into
/// markdown list items, whatever their indentation (tabs or spaces, which CommonMark would
/// otherwise read as a code block): the first bullet of a run is a top-level item and a bullet
/// indented deeper than the one above it nests under it. A line in the middle of a paragraph
/// that starts with `–` is an item only when the line after it starts with one too: alone, it
/// is a wrapped sentence going on.
pub fn normalize_bullets(markdown: &str) -> Normalized<'_> {
    let mut out: Option<String> = None;
    let mut shifts = Vec::new();
    let mut added: isize = 0;
    let mut in_fence = false;
    // Visual columns of the open levels of the current run of bullets.
    let mut levels: Vec<usize> = Vec::new();
    let mut start = 0;
    // whether the line before is blank, a heading or the start of the text: a line after it
    // opens a block rather than going on with a paragraph
    let mut after_block = true;
    // the lines as `split_inclusive('\n')` gives them, found by memchr's SIMD scan (std's
    // searcher was 1.2 % of a build's instructions here)
    let unterminated = !markdown.is_empty() && !markdown.ends_with('\n');
    let ends = memchr::memchr_iter(b'\n', markdown.as_bytes())
        .map(|newline| newline + 1)
        .chain(unterminated.then_some(markdown.len()));
    for end in ends {
        let line = &markdown[start..end];
        let trimmed = line.trim_start_matches([' ', '\t']);
        let indent = &line[..line.len() - trimmed.len()];
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            in_fence = !in_fence;
        }
        // every bullet is a non-ASCII character: most lines are let through on their first byte
        let bullet = match trimmed.as_bytes().first() {
            Some(b) if !b.is_ascii() => BULLETS.iter().find(|&&c| {
                trimmed.starts_with(c) && trimmed[c.len_utf8()..].starts_with([' ', '\t'])
            }),
            _ => None,
        }
        .filter(|&&c| {
            c != DASH
                || after_block
                || !levels.is_empty()
                || markdown[end..]
                    .split_inclusive('\n')
                    .next()
                    .is_some_and(|next| opens_with(next, DASH))
        });
        after_block = bullet.is_none() && {
            let text = trimmed.trim_end();
            text.is_empty() || text.starts_with('#')
        };
        match bullet {
            Some(c) if !in_fence => {
                let column =
                    indent.chars().fold(
                        0,
                        |col, ch| if ch == '\t' { col / 4 * 4 + 4 } else { col + 1 },
                    );
                while levels.last().is_some_and(|&top| top > column) {
                    levels.pop();
                }
                if levels.last() != Some(&column) {
                    levels.push(column);
                }
                let content = trimmed[c.len_utf8()..].trim_start_matches([' ', '\t']);
                let prefix_len = line.len() - content.len();
                let buf = out.get_or_insert_with(|| markdown[..start].to_string());
                let depth = levels.len() - 1;
                buf.extend(std::iter::repeat_n(' ', depth * 2));
                buf.push_str("- ");
                added += (depth * 2 + 2) as isize - prefix_len as isize;
                shifts.push((buf.len(), added));
                buf.push_str(content);
            }
            _ => {
                if !in_fence && !trimmed.trim_end().is_empty() {
                    levels.clear();
                }
                if let Some(buf) = out.as_mut() {
                    buf.push_str(line);
                }
            }
        }
        start = end;
    }
    Normalized {
        text: out.map_or(Cow::Borrowed(markdown), Cow::Owned),
        shifts,
    }
}

/// The `[^label]` markers of `text` (not escaped as `\[^label]`) and their byte offsets.
fn note_markers(text: &str) -> impl Iterator<Item = (&str, usize)> {
    text.match_indices("[^").filter_map(move |(at, _)| {
        if text[..at].ends_with('\\') {
            return None;
        }
        let rest = &text[at + 2..];
        let end = rest.find(']')?;
        let label = &rest[..end];
        (!label.is_empty() && !label.contains(char::is_whitespace)).then_some((label, at))
    })
}

/// Joins adjacent text events (the parser splits text at brackets and smart quotes).
fn merge_text<'a>(
    events: impl Iterator<Item = (Event<'a>, Range<usize>)>,
    capacity: usize,
) -> Vec<(Event<'a>, Range<usize>)> {
    // a transcript has about one event per 50 bytes: sized once, the vector is not copied
    // six or seven times as it grows
    let mut out: Vec<(Event<'a>, Range<usize>)> = Vec::with_capacity(capacity);
    for (event, range) in events {
        if let (Event::Text(next), Some((Event::Text(prev), prev_range))) = (&event, out.last_mut())
        {
            let mut joined = prev.to_string();
            joined.push_str(next);
            *prev = CowStr::from(joined);
            prev_range.end = range.end;
            continue;
        }
        out.push((event, range));
    }
    out
}

/// Removes footnote definitions from the flow, numbers references in reading order and returns
/// the definitions as list items (referenced ones first, in reference order).
fn extract_footnotes<'e>(
    events: Vec<Event<'e>>,
    back: &str,
) -> (Vec<Event<'e>>, Vec<Vec<Event<'e>>>) {
    let mut definitions: HashMap<String, Vec<Event>> = HashMap::new();
    let mut definition_order = Vec::new();
    let mut flow = Vec::with_capacity(events.len());
    let mut current: Option<(String, Vec<Event>)> = None;
    for event in events {
        match event {
            Event::Start(Tag::FootnoteDefinition(label)) => {
                current = Some((label.to_string(), Vec::new()));
            }
            Event::End(TagEnd::FootnoteDefinition) => {
                if let Some((label, body)) = current.take() {
                    definition_order.push(label.clone());
                    definitions.insert(label, body);
                }
            }
            e => match current.as_mut() {
                Some((_, body)) => body.push(e),
                None => flow.push(e),
            },
        }
    }
    let mut numbers: HashMap<String, (usize, usize)> = HashMap::new();
    let mut order = Vec::new();
    let flow = flow
        .into_iter()
        .map(|event| match event {
            Event::FootnoteReference(label) if definitions.contains_key(label.as_ref()) => {
                let next = numbers.len() + 1;
                let entry = numbers.entry(label.to_string()).or_insert_with(|| {
                    order.push(label.to_string());
                    (next, 0)
                });
                entry.1 += 1;
                let id = slugify(&label);
                let ref_id = if entry.1 == 1 {
                    format!("fnref-{id}")
                } else {
                    format!("fnref-{id}-{}", entry.1)
                };
                Event::Html(CowStr::from(format!(
                    "<sup class=\"footnote-ref\"><a href=\"#fn-{id}\" id=\"{ref_id}\" role=\"doc-noteref\">{}</a></sup>",
                    entry.0
                )))
            }
            Event::FootnoteReference(label) => Event::Text(CowStr::from(format!("[^{label}]"))),
            e => e,
        })
        .collect();
    for label in definition_order {
        if !numbers.contains_key(&label) {
            order.push(label);
        }
    }
    let notes = order
        .into_iter()
        .filter_map(|label| {
            let mut body = definitions.remove(&label)?;
            let id = slugify(&label);
            let referenced = numbers.contains_key(&label);
            let backlink = Event::Html(CowStr::from(format!(
                " <a href=\"#fnref-{id}\" class=\"footnote-back\" role=\"doc-backlink\"{back}>↩\u{fe0e}</a>"
            )));
            if referenced {
                match body.iter().rposition(|e| matches!(e, Event::End(TagEnd::Paragraph))) {
                    Some(i) => body.insert(i, backlink),
                    None => body.push(backlink),
                }
            }
            let mut item = vec![Event::Html(CowStr::from(format!("<li id=\"fn-{id}\">\n")))];
            item.extend(body);
            item.push(Event::Html(CowStr::from("</li>\n")));
            Some(item)
        })
        .collect();
    (flow, notes)
}

/// Gives every heading without an explicit `{#id}` an id made from its text (unique per page).
fn heading_ids(mut events: Vec<Event<'_>>) -> Vec<Event<'_>> {
    let mut used: HashMap<String, usize> = HashMap::new();
    let mut i = 0;
    while i < events.len() {
        if let Event::Start(Tag::Heading { id, .. }) = &events[i] {
            let explicit = id.as_ref().map(|s| s.to_string());
            let mut text = String::new();
            let mut j = i + 1;
            while j < events.len() && !matches!(events[j], Event::End(TagEnd::Heading(_))) {
                if let Event::Text(t) | Event::Code(t) = &events[j] {
                    text.push_str(t);
                }
                j += 1;
            }
            let base = explicit.unwrap_or_else(|| {
                let s = slugify(&text);
                if s.is_empty() {
                    "section".into()
                } else {
                    s
                }
            });
            let n = used.entry(base.clone()).or_insert(0);
            *n += 1;
            let unique = if *n == 1 { base } else { format!("{base}-{n}") };
            if let Event::Start(Tag::Heading { id, .. }) = &mut events[i] {
                *id = Some(CowStr::from(unique));
            }
            i = j;
        }
        i += 1;
    }
    events
}

/// Parses `HH:MM:SS`, `H:MM:SS` or `MM:SS` into seconds.
pub fn parse_timecode(text: &str) -> Option<u32> {
    let parts: Vec<&str> = text.split(':').collect();
    if !(2..=3).contains(&parts.len())
        || parts
            .iter()
            .any(|p| p.is_empty() || p.len() > 2 || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let nums: Vec<u32> = parts.iter().map(|p| p.parse().unwrap_or(0)).collect();
    let (h, m, s) = match nums.as_slice() {
        [m, s] => (0, *m, *s),
        [h, m, s] => (*h, *m, *s),
        _ => return None,
    };
    (m < 60 && s < 60).then_some(h * 3600 + m * 60 + s)
}

/// `HH:MM:SS` for a number of seconds.
pub fn format_timecode(seconds: u32) -> String {
    format!(
        "{:02}:{:02}:{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

/// ISO 8601 duration (`PT3M12S`) for `<time datetime>`.
pub fn iso_duration(seconds: u32) -> String {
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    let mut out = String::from("PT");
    if h > 0 {
        out.push_str(&format!("{h}H"));
    }
    if m > 0 {
        out.push_str(&format!("{m}M"));
    }
    if s > 0 || (h == 0 && m == 0) {
        out.push_str(&format!("{s}S"));
    }
    out
}

fn timecode_html(label: &str, seconds: u32, link: bool) -> String {
    let time = format!(
        "<time datetime=\"{}\">{label}</time>",
        iso_duration(seconds)
    );
    if link {
        format!("<a class=\"timecode\" href=\"#t={seconds}\" data-t=\"{seconds}\">{time}</a> ")
    } else {
        format!("<span class=\"timecode\">{time}</span> ")
    }
}

/// True for the labels that mark a journalist's question: one of `words` (the language's, any
/// case; `Q` and `Question` when it has none), alone or followed by who asks: `Q`,
/// `Question (AFP)`, `Q Reuters`.
fn is_question(label: &str, words: &[toml::Value]) -> bool {
    let head = label
        .split(['(', ' ', '\u{a0}', '\u{202f}'])
        .next()
        .unwrap_or_default()
        .trim();
    if words.is_empty() {
        return ["Q", "Question"]
            .iter()
            .any(|w| head.eq_ignore_ascii_case(w));
    }
    // ASCII on both sides (`Q`, `Question`) compares without lowercased copies; otherwise the
    // label is lowercased once, for the first word that needs it
    let mut lower: Option<String> = None;
    words.iter().filter_map(toml::Value::as_str).any(|w| {
        if head.is_ascii() && w.is_ascii() {
            head.eq_ignore_ascii_case(w)
        } else {
            *lower.get_or_insert_with(|| head.to_lowercase()) == w.to_lowercase()
        }
    })
}

/// How far `event` goes into (1) or out of (-1) a block whose paragraphs are not the text's own
/// (a quote, list, table or note): only paragraphs at depth 0 open a turn or have a timecode.
fn nesting(event: &Event) -> isize {
    match event {
        Event::Start(
            Tag::BlockQuote(_) | Tag::List(_) | Tag::Table(_) | Tag::FootnoteDefinition(_),
        ) => 1,
        Event::End(
            TagEnd::BlockQuote(_) | TagEnd::List(_) | TagEnd::Table | TagEnd::FootnoteDefinition,
        ) => -1,
        _ => 0,
    }
}

/// Wraps speaker turns in sections and turns leading timecodes into links.
fn turns_and_timecodes<'e>(
    events: Vec<Event<'e>>,
    seek_links: bool,
    questions: &[toml::Value],
) -> Vec<Event<'e>> {
    let mut out = Vec::with_capacity(events.len() + 16);
    let mut depth = 0usize;
    let mut in_turn = false;
    // Look-ahead reads the rest of the vector in place (`as_slice`); cloning a peekable
    // iterator to look ahead would copy every remaining event for each paragraph.
    let mut iter = events.into_iter();
    while let Some(event) = iter.next() {
        match &event {
            Event::Start(Tag::Heading { .. }) | Event::Rule if depth == 0 && in_turn => {
                out.push(Event::Html(CowStr::from("</section>\n")));
                in_turn = false;
            }
            _ => {}
        }
        depth = depth.saturating_add_signed(nesting(&event));
        if !(depth == 0 && matches!(event, Event::Start(Tag::Paragraph))) {
            out.push(event);
            continue;
        }
        // A top-level paragraph: look for `[00:01:02]` then `**Name:**` at its start.
        let mut lead = Vec::new();
        if let Some(Event::Text(text)) = iter.as_slice().first() {
            if let Some((label, seconds, rest)) = leading_timecode(text) {
                let rest = rest.to_string();
                iter.next();
                lead.push(Event::Html(CowStr::from(timecode_html(
                    &label, seconds, seek_links,
                ))));
                if !rest.is_empty() {
                    lead.push(Event::Text(CowStr::from(rest)));
                }
            }
        }
        let mut speaker = None;
        if lead.len() <= 1 {
            if let [Event::Start(Tag::Strong), Event::Text(name), Event::End(TagEnd::Strong), after @ ..] =
                iter.as_mut_slice()
            {
                let name = name.trim();
                if let Some(label) = name.strip_suffix(':') {
                    if !label.trim().is_empty() && label.len() <= 80 {
                        speaker = Some((label.trim().to_string(), name.to_string()));
                    }
                } else if let Some(Event::Text(text)) = after.first_mut() {
                    // `**Name** :`, as French typography spaces it, colon outside the bold
                    let spaced = text.trim_start_matches([' ', '\u{a0}', '\u{202f}']);
                    if let Some(rest) = spaced.strip_prefix(':') {
                        if !name.is_empty() && name.len() <= 80 {
                            let colon = text.len() - rest.len();
                            let written = format!("{name}{}", &text[..colon]);
                            speaker = Some((name.to_string(), written));
                            *text = CowStr::from(rest.to_string());
                        }
                    }
                }
            }
            if speaker.is_some() {
                iter.nth(2);
            }
        }
        if let Some((label, written)) = speaker {
            if in_turn {
                out.push(Event::Html(CowStr::from("</section>\n")));
            }
            let class = if is_question(&label, questions) {
                "question"
            } else {
                "answer"
            };
            out.push(Event::Html(CowStr::from(format!(
                "<section class=\"turn {class}\">\n"
            ))));
            in_turn = true;
            out.push(event);
            out.extend(lead);
            out.push(Event::Html(CowStr::from("<b class=\"speaker\">")));
            out.push(Event::Text(CowStr::from(written)));
            out.push(Event::Html(CowStr::from("</b>")));
            if let Some(Event::Text(t)) = iter.as_mut_slice().first_mut() {
                if !t.starts_with(' ') {
                    *t = CowStr::from(format!(" {t}"));
                }
            }
        } else {
            out.push(event);
            out.extend(lead);
        }
    }
    if in_turn {
        out.push(Event::Html(CowStr::from("</section>\n")));
    }
    out
}

/// `[00:03:12] rest` → (`00:03:12`, 192, `rest`).
fn leading_timecode(text: &str) -> Option<(String, u32, &str)> {
    let inner = text.strip_prefix('[')?;
    let end = inner.find(']')?;
    let label = &inner[..end];
    let seconds = parse_timecode(label)?;
    Some((label.to_string(), seconds, inner[end + 1..].trim_start()))
}

/// A URL-safe slug: lowercase ASCII letters and digits separated by `-` (French accents folded).
pub fn slugify(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut dash = false;
    for c in text.chars().flat_map(char::to_lowercase) {
        let folded: &str = match c {
            'à' | 'â' | 'ä' | 'á' | 'ã' | 'å' => "a",
            'ç' => "c",
            'é' | 'è' | 'ê' | 'ë' => "e",
            'î' | 'ï' | 'í' | 'ì' => "i",
            'ô' | 'ö' | 'ó' | 'ò' | 'õ' | 'ø' => "o",
            'ù' | 'û' | 'ü' | 'ú' => "u",
            'ÿ' | 'ý' => "y",
            'ñ' => "n",
            'œ' => "oe",
            'æ' => "ae",
            'ß' => "ss",
            _ => "",
        };
        if !folded.is_empty() || c.is_ascii_alphanumeric() {
            if dash && !out.is_empty() {
                out.push('-');
            }
            dash = false;
            if folded.is_empty() {
                out.push(c);
            } else {
                out.push_str(folded);
            }
        } else if c.is_alphanumeric() {
            if dash && !out.is_empty() {
                out.push('-');
            }
            dash = false;
            out.push(c);
        } else {
            dash = true;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pasted_bullets_become_a_list() {
        let html = render("This includes:\n\n  • the annexation of Crimea,\n  • cyber-attacks,\n  · and disinformation.\n").html;
        assert!(
            html.contains("<ul>\n<li>the annexation of Crimea,</li>"),
            "{html}"
        );
        assert_eq!(html.matches("<li>").count(), 3, "{html}");
    }

    #[test]
    fn indented_bullets_are_a_list_not_code() {
        for src in [
            "Intro:\n\n\t• first\n\t• second\n",
            "Intro:\n\n    • first\n    • second\n",
            "Intro:\n\n      •\tfirst\n      •\tsecond\n",
        ] {
            let html = render(src).html;
            assert!(!html.contains("<pre>"), "{src:?} gave {html}");
            assert!(
                html.contains("<ul>\n<li>first</li>\n<li>second</li>\n</ul>"),
                "{src:?} gave {html}"
            );
        }
    }

    #[test]
    fn deeper_bullets_nest_under_the_one_above() {
        let html = render("• Europe\n    ◦ Crimea\n    ◦ Donbas\n• Asia\n").html;
        assert_eq!(
            html,
            "<ul>\n<li>Europe\n<ul>\n<li>Crimea</li>\n<li>Donbas</li>\n</ul>\n</li>\n<li>Asia</li>\n</ul>\n"
        );
    }

    #[test]
    fn every_line_is_seen_with_or_without_a_final_line_break() {
        for (src, text) in [
            ("", ""),
            ("\n", "\n"),
            ("• a\n• b", "- a\n- b"),
            ("• a\n• b\n", "- a\n- b\n"),
            ("x\n\n• a\r\n• b\r\n", "x\n\n- a\r\n- b\r\n"),
            ("x\n\n\n• last", "x\n\n\n- last"),
        ] {
            assert_eq!(normalize_bullets(src).text, text, "{src:?}");
        }
    }

    #[test]
    fn a_dash_that_wraps_a_sentence_is_not_a_list() {
        let wrapped = "We will keep our door open\n– as we always have – to new members.\n";
        assert_eq!(normalize_bullets(wrapped).text, wrapped);
        let html = render(wrapped).html;
        assert!(!html.contains("<ul>"), "{html}");
        // a run of dashes after an intro line, or dashes opening a block, are lists
        for src in [
            "Three points:\n– one\n– two\n",
            "Three points:\n\n– one\n",
            "## Points\n– one\n",
            "• one\n– two\n",
        ] {
            let html = render(src).html;
            assert!(
                html.contains("<li>one</li>") || html.contains("<li>one\n"),
                "{src:?} gave {html}"
            );
        }
        assert!(render("Intro:\n– one\n– two\n")
            .html
            .contains("<li>two</li>"));
    }

    #[test]
    fn bullets_in_code_fences_and_without_a_space_are_left_alone() {
        assert_eq!(normalize_bullets("•no space").text, "•no space");
        assert_eq!(normalize_bullets("```\n• x\n```\n").text, "```\n• x\n```\n");
    }

    #[test]
    fn link_offsets_point_into_the_authors_file_after_bullets() {
        let src = "a\n\t\t•   see [x](/en/x/)\n  ◦ and [y](/en/y/)\n[z](/en/z/)\n";
        let links = render(src).links;
        let at = |s: &str| src.find(s).unwrap();
        assert_eq!(
            links.iter().map(|l| l.offset).collect::<Vec<_>>(),
            [at("[x]"), at("[y]"), at("[z]")]
        );
    }

    #[test]
    fn speaker_turns_are_sections_with_the_name_marked_up() {
        let html = render("**Jens Stoltenberg:** Good morning.\n\nSecond paragraph.\n\n**Q:** A question?\n\n**Jens Stoltenberg:** An answer.\n").html;
        assert_eq!(
            html,
            "<section class=\"turn answer\">\n<p><b class=\"speaker\">Jens Stoltenberg:</b> Good morning.</p>\n<p>Second paragraph.</p>\n</section>\n\
             <section class=\"turn question\">\n<p><b class=\"speaker\">Q:</b> A question?</p>\n</section>\n\
             <section class=\"turn answer\">\n<p><b class=\"speaker\">Jens Stoltenberg:</b> An answer.</p>\n</section>\n"
        );
    }

    #[test]
    fn french_spacing_before_the_colon_is_kept() {
        let html = render("**Sophie Laurent\u{a0}:** Bonjour.\n\n**Question (AFP) :** Et ?\n").html;
        assert!(html.contains("<section class=\"turn answer\">\n<p><b class=\"speaker\">Sophie Laurent\u{a0}:</b> Bonjour.</p>"), "{html}");
        assert!(html.contains("<section class=\"turn question\">\n<p><b class=\"speaker\">Question (AFP) :</b> Et ?</p>"), "{html}");
        // the colon after the bold, as French authors often write it
        let html = render("**Question (AFP)** : Et demain ?\n\n**Claire Dubois**\u{a0}: Nous verrons.\n\n**Claire Dubois**: Oui.\n").html;
        assert_eq!(
            html,
            "<section class=\"turn question\">\n<p><b class=\"speaker\">Question (AFP) :</b> Et demain ?</p>\n</section>\n\
             <section class=\"turn answer\">\n<p><b class=\"speaker\">Claire Dubois\u{a0}:</b> Nous verrons.</p>\n</section>\n\
             <section class=\"turn answer\">\n<p><b class=\"speaker\">Claire Dubois:</b> Oui.</p>\n</section>\n"
        );
    }

    #[test]
    fn the_languages_typography_spaces_the_text_but_not_code() {
        let doc: toml::Table = toml::from_str(
            "[typography]\nnarrow_space_before = \"?\"\nspace_before = \":\"\nquotes = [\"«\\u202f\", \"\\u202f»\"]\n",
        )
        .unwrap();
        let typography = Typography::from_i18n(&doc).unwrap();
        let labels = Labels {
            typography: Some(&typography),
            ..Labels::default()
        };
        let src = "**Question (AFP) :** Et \"demain\" ?\n\n`a ?`\n\n```\nb ?\n```\n";
        let html = render_with(src, &labels).html;
        assert!(
            html.contains("<section class=\"turn question\">\n<p><b class=\"speaker\">Question (AFP)\u{a0}:</b> Et «\u{202f}demain\u{202f}»\u{202f}?</p>"),
            "{html}"
        );
        assert!(html.contains("<code>a ?</code>"), "{html}");
        assert!(html.contains("<pre><code>b ?\n</code></pre>"), "{html}");
        // the notes too, code in them aside
        let src = "Voir[^1].\n\n[^1]: Et \"demain\" ? Voir `c ?`\n";
        let html = render_with(src, &labels).html;
        let notes = &html[html.find("<section class=\"footnotes\"").expect(&html)..];
        assert!(
            notes.contains("Et «\u{202f}demain\u{202f}»\u{202f}? Voir <code>c ?</code>"),
            "{notes}"
        );
    }

    #[test]
    fn bold_without_colon_is_not_a_turn() {
        let html = render("**Important** news.\n").html;
        assert_eq!(html, "<p><strong>Important</strong> news.</p>\n");
    }

    #[test]
    fn question_labels() {
        assert!(is_question("Q", &[]));
        assert!(is_question("Question", &[]));
        assert!(is_question("QUESTION", &[]));
        assert!(is_question("Q (Reuters)", &[]));
        assert!(!is_question("Quentin Blake", &[]));
        let spanish = ["Pregunta".into(), "P".into()];
        assert!(is_question("Pregunta (EFE)", &spanish));
        assert!(is_question("P", &spanish));
        assert!(!is_question("Q", &spanish));
        let french = ["Question".into(), "Journaliste".into()];
        assert!(is_question("Journaliste\u{a0}(AFP)", &french));
        // any case, accented or not, on either side
        let accented = ["Réponse".into(), "ΕΡΩΤΗΣΗ".into()];
        assert!(is_question("RÉPONSE (AFP)", &accented));
        assert!(is_question("réponse", &accented));
        assert!(is_question("Ερωτηση", &accented));
        assert!(!is_question("Reponse", &accented));
        assert!(!is_question("Journaliste", &accented));
    }

    #[test]
    fn the_timecodes_opening_paragraphs_are_listed_with_their_offsets() {
        let src = "[00:00:05] Good morning.\n\n> [00:09:00] quoted\n\nText [00:01:00] inside.\n\n[01:45:00] **Q:** Late?\n";
        assert_eq!(
            render(src).timecodes,
            [(5, 0), (6300, src.find("[01:45:00]").unwrap())]
        );
    }

    #[test]
    fn timecodes_become_seek_links() {
        let html = render("[00:03:12] We will begin.\n").html;
        assert_eq!(
            html,
            "<p><a class=\"timecode\" href=\"#t=192\" data-t=\"192\"><time datetime=\"PT3M12S\">00:03:12</time></a> We will begin.</p>\n"
        );
        let html = render("[01:00:00] **Q:** Yes?\n").html;
        assert!(
            html.starts_with(
                "<section class=\"turn question\">\n<p><a class=\"timecode\" href=\"#t=3600\""
            ),
            "{html}"
        );
        assert!(html.contains("<b class=\"speaker\">Q:</b> Yes?"), "{html}");
        // not at the start, or not a time: left alone
        assert!(!render("At [00:03:12] we").html.contains("timecode"));
        assert!(!render("[99:99] x").html.contains("timecode"));
    }

    #[test]
    fn without_a_player_timecodes_are_plain_times() {
        let labels = Labels {
            no_player: true,
            ..Labels::default()
        };
        let html = render_with("[00:03:12] We will begin.\n", &labels).html;
        assert_eq!(
            html,
            "<p><span class=\"timecode\"><time datetime=\"PT3M12S\">00:03:12</time></span> We will begin.</p>\n"
        );
    }

    #[test]
    fn timecode_helpers() {
        assert_eq!(parse_timecode("00:09:41"), Some(581));
        assert_eq!(parse_timecode("9:41"), Some(581));
        assert_eq!(parse_timecode("1:2:3:4"), None);
        assert_eq!(format_timecode(581), "00:09:41");
        assert_eq!(iso_duration(0), "PT0S");
        assert_eq!(iso_duration(3600), "PT1H");
    }

    #[test]
    fn footnote_labels_come_from_the_caller_escaped() {
        let labels = Labels {
            notes: "Notes",
            back: "Retour au \"texte\" <d'origine> & suite",
            ..Labels::default()
        };
        let html = render_with("A[^1].\n\n[^1]: B.\n", &labels).html;
        assert!(
            html.contains("role=\"doc-endnotes\" aria-label=\"Notes\">"),
            "{html}"
        );
        assert!(
            html.contains(
                "role=\"doc-backlink\" aria-label=\"Retour au &quot;texte&quot; &lt;d&#39;origine&gt; &amp; suite\">"
            ),
            "{html}"
        );
        assert!(!render("A[^1].\n\n[^1]: B.\n").html.contains("aria-label"));
    }

    #[test]
    fn footnotes_are_numbered_and_gathered() {
        let html = render("Macedonia[^1] and more[^b].\n\n[^b]: Second.\n[^1]: Turkey recognises the Republic of Macedonia with its constitutional name.\n").html;
        assert!(
            html.contains("<a href=\"#fn-1\" id=\"fnref-1\" role=\"doc-noteref\">1</a>"),
            "{html}"
        );
        assert!(
            html.contains("<a href=\"#fn-b\" id=\"fnref-b\" role=\"doc-noteref\">2</a>"),
            "{html}"
        );
        let notes = &html[html.find("<section class=\"footnotes\"").expect(&html)..];
        assert!(
            notes.find("fn-1").unwrap() < notes.find("fn-b").unwrap(),
            "{notes}"
        );
        assert!(
            notes.contains("href=\"#fnref-1\" class=\"footnote-back\""),
            "{notes}"
        );
    }

    #[test]
    fn undefined_footnotes_are_reported_where_they_are() {
        let src = "One[^1] and two[^2].\n\n[^1]: The first.\n";
        let r = render(src);
        assert_eq!(
            r.undefined_notes,
            [("2".to_string(), src.find("[^2]").unwrap())]
        );
        assert!(r.html.contains("two[^2]."), "{}", r.html);
        assert!(render("x[^a]\n\n[^a]: y\n").undefined_notes.is_empty());
        assert!(render("x\\[^a] and `[^b]`\n\n```\n[^c]\n```\n")
            .undefined_notes
            .is_empty());
    }

    #[test]
    fn headings_get_unique_ids() {
        let html =
            render("## Questions et réponses\n\n## Questions et réponses\n\n## Custom {#mine}\n")
                .html;
        assert!(html.contains("<h2 id=\"questions-et-reponses\">"), "{html}");
        assert!(
            html.contains("<h2 id=\"questions-et-reponses-2\">"),
            "{html}"
        );
        assert!(html.contains("<h2 id=\"mine\">"), "{html}");
    }

    #[test]
    fn links_are_reported_with_offsets() {
        let r = render("See [the speech](/en/x/) and ![p](/media/a.jpg).\n");
        assert_eq!(r.links.len(), 2);
        assert_eq!(r.links[0].url, "/en/x/");
        assert_eq!(r.links[0].offset, 4);
    }

    #[test]
    fn smart_punctuation_and_tables() {
        let html = render("It's \"here\" -- now.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n").html;
        assert!(html.contains("It’s “here” – now."), "{html}");
        assert!(html.contains("<table>"), "{html}");
    }

    #[test]
    fn slugs() {
        assert_eq!(slugify("Jens Stoltenberg"), "jens-stoltenberg");
        assert_eq!(
            slugify("  Réunion des ministres — OTAN "),
            "reunion-des-ministres-otan"
        );
    }
}
