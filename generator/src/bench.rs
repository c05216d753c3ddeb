//! The build benchmark: a deterministic synthetic corpus and `pressroom bench`.
//!
//! The press office publishes thousands of transcripts a year in two or more languages, and the
//! site is rebuilt on every change, so build time and memory are product features. This module
//! writes a realistic site (bilingual transcripts of about 6 KB of markdown each, with pasted
//! bullet lists, a footnote, speaker turns with timecodes, ~30 topics, ~60 speakers, the real
//! default theme) and times a cold build, a rebuild after one transcript changes, and the search
//! indexing, reporting pages per second and peak memory.
//!
//! The corpus is a pure function of `(transcripts, seed)`: the same arguments always write the
//! same bytes, so figures from different machines or commits compare like with like. Randomness
//! comes from SplitMix64 (a dozen lines below) rather than a crate's RNG, whose output streams
//! are not guaranteed stable across versions.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Number of topics in the corpus.
pub const TOPICS: usize = 30;
/// Number of distinct speakers in the corpus.
pub const SPEAKERS: usize = 60;

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct CorpusSpec {
    /// Transcripts per language (each exists in English and French).
    pub transcripts: usize,
    /// Seed of the generator; the same spec always writes the same files.
    pub seed: u64,
}

impl Default for CorpusSpec {
    fn default() -> Self {
        Self {
            transcripts: 10_000,
            seed: 2018,
        }
    }
}

/// Why the corpus could not be written.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A build of the corpus failed (the corpus or the theme is broken).
    #[error("bench: the corpus did not build:\n{0}")]
    Build(String),
    /// `--theme` does not name a theme folder (one holding `templates/`).
    #[error(
        "bench: no theme at {0} (a theme folder holds templates/): run from the project root, \
         or pass --theme DIR"
    )]
    NoTheme(PathBuf),
    /// A file or folder of the theme could not be read.
    #[error("bench: cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `--against` without `--runs`.
    #[error(
        "bench: --against needs --runs N, the number of builds of each binary (10 is a good start)"
    )]
    AgainstWithoutRuns,
    /// `--over-previous` without `--runs`.
    #[error("bench: --over-previous needs --runs N, the number of builds to time")]
    OverPreviousWithoutRuns,
    /// The binary to compare with is not there.
    #[error(
        "bench: no binary at {0} to compare with (--against takes the path of another `pressroom`)"
    )]
    NoBinary(PathBuf),
    /// A build process could not be started or waited for.
    #[error("bench: cannot run {binary}: {source}")]
    Run {
        binary: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file or folder of the corpus could not be written or copied.
    #[error("bench: cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> BenchError {
    let path = path.to_path_buf();
    move |source| BenchError::Io { path, source }
}

/// What [`write_corpus`] wrote.
#[derive(Debug, Clone)]
pub struct Corpus {
    /// Site root (holds `pressroom.toml`, `content/`, `themes/`).
    pub root: PathBuf,
    /// Markdown files written.
    pub files: usize,
    /// Bytes of markdown written.
    pub bytes: u64,
    /// One English transcript, for the rebuild-after-an-edit measurement.
    pub sample: PathBuf,
    /// Time taken to write the corpus.
    pub elapsed: Duration,
}

/// SplitMix64: tiny, fast, and its output for a given seed never changes.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const EN_WORDS: &[&str] = &[
    "allies",
    "ministers",
    "security",
    "defence",
    "support",
    "training",
    "mission",
    "partners",
    "cooperation",
    "forces",
    "readiness",
    "resilience",
    "dialogue",
    "stability",
    "region",
    "infrastructure",
    "capabilities",
    "investment",
    "exercise",
    "deterrence",
    "commitment",
    "summit",
    "agreement",
    "progress",
    "challenge",
    "threat",
    "response",
    "cyber",
    "maritime",
    "airspace",
    "presence",
    "contribution",
    "budget",
    "reform",
    "institutions",
    "transparency",
    "predictability",
    "crisis",
    "operations",
    "command",
    "structure",
    "logistics",
    "industry",
    "innovation",
    "technology",
    "climate",
    "energy",
    "communications",
    "disinformation",
    "assessment",
    "strategy",
    "planning",
    "coordination",
    "headquarters",
    "personnel",
    "experts",
    "advisers",
    "civilians",
    "protection",
    "standards",
    "interoperability",
    "equipment",
    "decisions",
    "priorities",
    "together",
    "closely",
    "today",
    "important",
    "collective",
    "practical",
    "political",
    "regional",
    "national",
    "strong",
    "modern",
    "common",
    "further",
    "continued",
    "significant",
    "new",
    "shared",
    "clear",
    "long-term",
    "swift",
    "unity",
];

const FR_WORDS: &[&str] = &[
    "alliés",
    "ministres",
    "sécurité",
    "défense",
    "soutien",
    "formation",
    "mission",
    "partenaires",
    "coopération",
    "forces",
    "disponibilité",
    "résilience",
    "dialogue",
    "stabilité",
    "région",
    "infrastructures",
    "capacités",
    "investissement",
    "exercice",
    "dissuasion",
    "engagement",
    "sommet",
    "accord",
    "progrès",
    "défi",
    "menace",
    "réponse",
    "cyberespace",
    "maritime",
    "espace aérien",
    "présence",
    "contribution",
    "budget",
    "réforme",
    "institutions",
    "transparence",
    "prévisibilité",
    "crise",
    "opérations",
    "commandement",
    "structure",
    "logistique",
    "industrie",
    "innovation",
    "technologie",
    "climat",
    "énergie",
    "communications",
    "désinformation",
    "évaluation",
    "stratégie",
    "planification",
    "coordination",
    "siège",
    "personnel",
    "experts",
    "conseillers",
    "civils",
    "protection",
    "normes",
    "interopérabilité",
    "équipements",
    "décisions",
    "priorités",
    "ensemble",
    "étroitement",
    "aujourd’hui",
    "important",
    "collective",
    "pratique",
    "politique",
    "régional",
    "national",
    "solide",
    "moderne",
    "commun",
    "supplémentaire",
    "continu",
    "significatif",
    "nouveau",
    "partagé",
    "clair",
    "durable",
    "rapide",
    "unité",
];

const KINDS: &[&str] = &[
    "press-conference",
    "doorstep",
    "speech",
    "remarks",
    "statement",
    "interview",
];

const DELIVERIES: &[&str] = &["as-delivered", "check-against-delivery", "transcript"];

const FIRST_NAMES: &[&str] = &[
    "Alex", "Maria", "Jonas", "Claire", "Pavel", "Ines", "Tomas", "Sofia", "Karim", "Elena", "Jan",
    "Aude", "Marek", "Lea", "Nikos",
];
const LAST_NAMES: &[&str] = &[
    "Morel", "Santos", "Berg", "Novak", "Keller", "Costa", "Lind", "Rossi", "Dupont", "Ivanova",
    "Meyer", "Horvat",
];

/// Words of a language's vocabulary.
fn words(lang: &str) -> &'static [&'static str] {
    if lang == "fr" {
        FR_WORDS
    } else {
        EN_WORDS
    }
}

/// A sentence of 8 to 20 words, capitalised, with a full stop.
fn sentence(rng: &mut SplitMix64, lang: &str, out: &mut String) {
    let vocabulary = words(lang);
    let count = 8 + rng.below(13);
    for i in 0..count {
        let word = rng.pick(vocabulary);
        if i == 0 {
            let mut chars = word.chars();
            if let Some(first) = chars.next() {
                out.extend(first.to_uppercase());
                out.push_str(chars.as_str());
            }
        } else {
            out.push(' ');
            out.push_str(word);
        }
    }
    out.push('.');
}

fn paragraph(rng: &mut SplitMix64, lang: &str, sentences: usize, out: &mut String) {
    for i in 0..sentences {
        if i > 0 {
            out.push(' ');
        }
        sentence(rng, lang, out);
    }
    out.push_str("\n\n");
}

fn speaker_name(index: usize) -> String {
    format!(
        "{} {}",
        FIRST_NAMES[index % FIRST_NAMES.len()],
        LAST_NAMES[(index / FIRST_NAMES.len()) % LAST_NAMES.len()]
    )
}

fn timecode(seconds: usize) -> String {
    format!(
        "{:02}:{:02}:{:02}",
        seconds / 3600,
        (seconds / 60) % 60,
        seconds % 60
    )
}

/// The markdown of transcript `index` in `lang`, about 6 KB. Both languages of one transcript
/// share the random choices that matter for the site structure (date, speakers, topics).
pub fn transcript_markdown(spec: &CorpusSpec, index: usize, lang: &str) -> String {
    let mut shared =
        SplitMix64::new(spec.seed ^ (index as u64).wrapping_mul(0x2545_F491_4F6C_DD1D));
    let mut rng = SplitMix64::new(shared.next_u64() ^ if lang == "fr" { 0xF2 } else { 0xE1 });

    // Spread the transcripts over the years before 2026, a few a day.
    let day = index / 3;
    let year = 2025 - (day / 336) as i32;
    let month = 12 - (day / 28) % 12;
    let dom = 28 - day % 28;
    let hour = 8 + shared.below(10);
    let kind = *shared.pick(KINDS);
    let delivery = *shared.pick(DELIVERIES);
    let speaker_count = 1 + shared.below(3);
    // each speaker once (a transcript listing one twice does not build), from the same draws
    let mut speakers: Vec<usize> = Vec::with_capacity(speaker_count);
    for _ in 0..speaker_count {
        let s = shared.below(SPEAKERS);
        if !speakers.contains(&s) {
            speakers.push(s);
        }
    }
    let mut topics: Vec<usize> = (0..1 + shared.below(3))
        .map(|_| shared.below(TOPICS))
        .collect();
    topics.sort_unstable();
    topics.dedup();

    let (title_word, role, location) = if lang == "fr" {
        ("Transcription", "Porte-parole", "Siège, Bruxelles")
    } else {
        ("Transcript", "Spokesperson", "Headquarters, Brussels")
    };
    let mut md = String::with_capacity(7 * 1024);
    let _ = writeln!(md, "+++");
    let mut title = String::new();
    sentence(&mut rng, lang, &mut title);
    title.truncate(title.trim_end_matches('.').len());
    let _ = writeln!(md, "title = \"{title_word} {index}: {title}\"");
    let _ = writeln!(
        md,
        "date = {year:04}-{month:02}-{dom:02}T{hour:02}:{:02}:00+01:00",
        index % 60
    );
    let _ = writeln!(md, "kind = \"{kind}\"");
    let _ = writeln!(md, "delivery = \"{delivery}\"");
    let _ = write!(md, "speakers = [");
    for (i, s) in speakers.iter().enumerate() {
        if i > 0 {
            md.push_str(", ");
        }
        let _ = write!(
            md,
            "{{ key = \"speaker-{s:02}\", name = \"{}\", role = \"{role}\" }}",
            speaker_name(*s)
        );
    }
    md.push_str("]\n");
    let _ = writeln!(md, "location = \"{location}\"");
    let topic_list: Vec<String> = topics.iter().map(|t| format!("\"topic-{t:02}\"")).collect();
    let _ = writeln!(md, "topics = [{}]", topic_list.join(", "));
    let mut summary = String::new();
    sentence(&mut rng, lang, &mut summary);
    let _ = writeln!(md, "summary = \"{summary}\"");
    let _ = writeln!(md, "+++\n");

    let first = speaker_name(speakers[0]);
    let mut seconds = 0;
    let _ = write!(md, "[{}] ", timecode(seconds));
    paragraph(&mut rng, lang, 3, &mut md);
    for _ in 0..3 {
        paragraph(&mut rng, lang, 3, &mut md);
    }
    md.push_str(if lang == "fr" {
        "Cela comprend :\n\n"
    } else {
        "This includes:\n\n"
    });
    for _ in 0..5 {
        md.push_str("  • ");
        sentence(&mut rng, lang, &mut md);
        md.push('\n');
    }
    md.push('\n');
    for _ in 0..2 {
        paragraph(&mut rng, lang, 3, &mut md);
    }
    md.push_str("We discussed the progress made[^1] so far.\n\n");
    let _ = writeln!(
        md,
        "## {}\n",
        if lang == "fr" {
            "Questions et réponses"
        } else {
            "Questions and answers"
        }
    );
    for turn in 0..4 {
        seconds += 120 + rng.below(240);
        let _ = write!(md, "[{}] **Question (Agency {turn}):** ", timecode(seconds));
        paragraph(&mut rng, lang, 1, &mut md);
        let _ = write!(md, "**{first}:** ");
        paragraph(&mut rng, lang, 3, &mut md);
    }
    md.push_str("[^1]: ");
    sentence(&mut rng, lang, &mut md);
    md.push('\n');
    md
}

/// `content/topics.toml` for the corpus.
pub fn topics_toml() -> String {
    let mut toml = String::new();
    for t in 0..TOPICS {
        let _ = writeln!(
            toml,
            "[topic-{t:02}]\nen = \"Topic {t}\"\nfr = \"Thème {t}\"\n"
        );
    }
    toml
}

/// `pressroom.toml` for the corpus; `search` toggles the search index.
pub fn config_toml(search: bool) -> String {
    format!(
        r#"title = "Pressroom benchmark"
base_url = "http://127.0.0.1:8080"
default_language = "en"
theme = "default"
paginate = 5
search = {search}

[[languages]]
code = "en"
name = "English"
dir = "ltr"

[[languages]]
code = "fr"
name = "Français"
dir = "ltr"
"#
    )
}

/// Writes a complete site under `root`: configuration, topics, `2 × spec.transcripts`
/// transcripts and a copy of `theme_dir` as `themes/default`.
pub fn write_corpus(
    root: &Path,
    spec: &CorpusSpec,
    theme_dir: &Path,
    search: bool,
) -> Result<Corpus, BenchError> {
    let started = Instant::now();
    // checked before anything is written, so a wrong --theme leaves no half-made corpus behind
    // (and is the whole message, not the line after "writing …")
    if !theme_dir.join("templates").is_dir() {
        return Err(BenchError::NoTheme(theme_dir.to_path_buf()));
    }
    eprintln!(
        "bench: writing {} transcripts × 2 languages to {} …",
        spec.transcripts,
        root.display()
    );
    std::fs::create_dir_all(root.join("content")).map_err(io_error(root))?;
    write(&root.join("pressroom.toml"), config_toml(search).as_bytes())?;
    write(&root.join("content/topics.toml"), topics_toml().as_bytes())?;
    copy_dir(theme_dir, &root.join("themes/default"))?;

    let mut files = 0;
    let mut bytes = 0u64;
    let mut sample = None;
    for index in 0..spec.transcripts {
        for lang in ["en", "fr"] {
            let markdown = transcript_markdown(spec, index, lang);
            let bucket = index / 1000;
            let path = root
                .join("content")
                .join(lang)
                .join(format!("{bucket:03}"))
                .join(format!("transcript-{index:05}.md"));
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(io_error(parent))?;
            }
            write(&path, markdown.as_bytes())?;
            files += 1;
            bytes += markdown.len() as u64;
            if sample.is_none() {
                sample = Some(path);
            }
        }
    }
    Ok(Corpus {
        root: root.to_path_buf(),
        files,
        bytes,
        sample: sample.unwrap_or_else(|| root.join("content/en")),
        elapsed: started.elapsed(),
    })
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), BenchError> {
    std::fs::write(path, bytes).map_err(io_error(path))
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), BenchError> {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.map_err(|error| BenchError::Read {
            path: error.path().unwrap_or(from).to_path_buf(),
            // the bare io error: walkdir's own message repeats the path
            source: error
                .into_io_error()
                .unwrap_or_else(|| std::io::Error::other("a symbolic link loops")),
        })?;
        let relative = entry.path().strip_prefix(from).unwrap_or(entry.path());
        let target = to.join(relative);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).map_err(io_error(&target))?;
        } else {
            std::fs::copy(entry.path(), &target).map_err(io_error(&target))?;
        }
    }
    Ok(())
}

/// `pressroom bench`: generate a corpus and time its builds.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Transcripts per language; the site gets twice as many transcript pages.
    #[arg(long, default_value_t = 10_000)]
    pub transcripts: usize,
    /// Seed of the corpus generator.
    #[arg(long, default_value_t = 2018)]
    pub seed: u64,
    /// Write the corpus (and its built site, in DIR/public) to DIR and keep it; default: a
    /// temporary folder removed afterwards.
    #[arg(long, value_name = "DIR")]
    pub keep: Option<PathBuf>,
    /// Theme to copy into the corpus.
    #[arg(long, default_value = "themes/default")]
    pub theme: PathBuf,
    /// Skip the builds with the search index (measure rendering only).
    #[arg(long)]
    pub no_search: bool,
    /// Then run `pressroom build` of the corpus N times, each run its own process as an author
    /// runs it, and print the median and range of its wall time, CPU time and peak memory.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub runs: usize,
    /// With --runs: alternate each run with this other `pressroom` binary, in ABBA order, and
    /// print this binary's figures as ratios of the other's, paired run by run.
    #[arg(long, value_name = "BINARY")]
    pub against: Option<PathBuf>,
    /// With --runs: each build writes over the site of the build before it (which its swap then
    /// deletes), as an author's rebuild does; default: into a fresh folder, as a first build.
    #[arg(long)]
    pub over_previous: bool,
}

/// One timed build.
#[derive(Debug, Clone)]
pub struct Measure {
    /// What was built.
    pub label: &'static str,
    /// HTML pages rendered.
    pub pages: usize,
    /// Wall time of the whole build.
    pub elapsed: Duration,
    /// Part of `elapsed` spent indexing for search.
    pub search: Option<Duration>,
    /// Peak resident memory during this build (bytes), when the OS tells.
    pub peak_rss: Option<u64>,
    /// Where the time went.
    pub phases: crate::site::Phases,
}

impl Measure {
    /// Pages per second of wall time.
    pub fn pages_per_second(&self) -> f64 {
        self.pages as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Everything `pressroom bench` measured.
#[derive(Debug, Clone)]
pub struct BenchReport {
    /// The corpus that was built.
    pub corpus: Corpus,
    /// Transcripts per language.
    pub transcripts: usize,
    /// The builds, in the order they ran.
    pub builds: Vec<Measure>,
    /// `--runs`: the builds run as processes.
    pub runs: Option<Runs>,
}

/// One `pressroom build` run as its own process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcessRun {
    /// From start to exit.
    pub wall: Duration,
    /// CPU time in user space and in the kernel, and peak resident memory (bytes), where the
    /// OS tells (`wait4` on Unix).
    pub usage: Option<Usage>,
}

/// What the OS counted for a finished process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Usage {
    pub user: Duration,
    pub system: Duration,
    pub peak_rss: u64,
}

/// `--runs`: this binary's runs and, with `--against`, the other binary's, in pairs run side
/// by side (`this[i]` next to `against.1[i]`).
#[derive(Debug, Clone)]
pub struct Runs {
    /// Pages of each build (the corpus without search, as every run builds it).
    pub pages: usize,
    /// Whether each build wrote over the previous one's site rather than into a fresh folder.
    pub over_previous: bool,
    pub this: Vec<ProcessRun>,
    pub against: Option<(PathBuf, Vec<ProcessRun>)>,
}

/// The median of `values` (the mean of the middle two for an even count); `None` when empty.
pub fn median(values: impl IntoIterator<Item = f64>) -> Option<f64> {
    let mut values: Vec<f64> = values.into_iter().collect();
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2.0),
    }
}

/// Runs made side by side compared pair by pair, which cancels the drift of a machine whose
/// speed changes from one minute to the next: the median of `this[i] / other[i]`, the number
/// of pairs where `this` was lower, and the number of pairs.
pub fn paired(this: &[f64], other: &[f64]) -> Option<(f64, usize, usize)> {
    let ratios: Vec<f64> = this
        .iter()
        .zip(other)
        .filter(|(_, o)| **o > 0.0)
        .map(|(t, o)| t / o)
        .collect();
    let lower = ratios.iter().filter(|r| **r < 1.0).count();
    Some((median(ratios.iter().copied())?, lower, ratios.len()))
}

/// The columns of the `--runs` table, each a figure of one run (`None` where the OS does not
/// tell), so the table and the paired ratios read them the same way.
impl ProcessRun {
    fn wall_s(&self) -> Option<f64> {
        Some(self.wall.as_secs_f64())
    }
    fn user_s(&self) -> Option<f64> {
        self.usage.map(|u| u.user.as_secs_f64())
    }
    fn system_s(&self) -> Option<f64> {
        self.usage.map(|u| u.system.as_secs_f64())
    }
    fn rss(&self) -> Option<f64> {
        self.usage.map(|u| u.peak_rss as f64)
    }
}

/// One line of the `--runs` table.
fn runs_row(
    f: &mut std::fmt::Formatter<'_>,
    name: &str,
    pages: usize,
    runs: &[ProcessRun],
) -> std::fmt::Result {
    let seconds = |v: Option<f64>| v.map_or_else(|| "?".into(), |s| format!("{s:.2}"));
    let all = |get: fn(&ProcessRun) -> Option<f64>| -> Option<Vec<f64>> {
        runs.iter().map(get).collect()
    };
    let walls: Vec<f64> = runs.iter().map(|r| r.wall.as_secs_f64()).collect();
    let wall_median = median(walls.iter().copied());
    let wall = format!(
        "{} ({:.2}–{:.2})",
        seconds(wall_median),
        walls.iter().copied().fold(f64::INFINITY, f64::min),
        walls.iter().copied().fold(0.0, f64::max),
    );
    writeln!(
        f,
        "{name:<34} {wall:>22} {:>9} {:>9} {:>9} {:>10}",
        wall_median.map_or_else(|| "?".into(), |w| format!("{:.0}", pages as f64 / w)),
        seconds(all(ProcessRun::user_s).and_then(median)),
        seconds(all(ProcessRun::system_s).and_then(median)),
        all(ProcessRun::rss).and_then(median).map_or_else(
            || "?".into(),
            |b| format!("{:.0} MiB", b / (1024.0 * 1024.0))
        ),
    )
}

impl std::fmt::Display for Runs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (each, alternating) = match &self.against {
            None => (String::new(), String::new()),
            Some((other, _)) => (
                " of each binary".into(),
                format!(", alternating (ABBA) with {}", other.display()),
            ),
        };
        let into = if self.over_previous {
            "over the site of the build before"
        } else {
            "into a fresh folder"
        };
        writeln!(
            f,
            "\n`pressroom build` of the corpus without search ({} pages), {} runs{each}, each its \
             own process {into}{alternating}:",
            self.pages,
            self.this.len()
        )?;
        writeln!(
            f,
            "{:<34} {:>22} {:>9} {:>9} {:>9} {:>10}",
            "binary", "wall s: median (range)", "pages/s", "user s", "system s", "peak RSS"
        )?;
        runs_row(f, "this one", self.pages, &self.this)?;
        let Some((other, theirs)) = &self.against else {
            return Ok(());
        };
        runs_row(f, &other.display().to_string(), self.pages, theirs)?;
        let column = |get: fn(&ProcessRun) -> Option<f64>| -> Option<(Vec<f64>, Vec<f64>)> {
            Some((
                self.this.iter().map(get).collect::<Option<_>>()?,
                theirs.iter().map(get).collect::<Option<_>>()?,
            ))
        };
        let mut ratios = Vec::new();
        for (name, get) in [
            ("wall", ProcessRun::wall_s as fn(&ProcessRun) -> Option<f64>),
            ("user", ProcessRun::user_s),
            ("system", ProcessRun::system_s),
            ("peak RSS", ProcessRun::rss),
        ] {
            if let Some((mine, other)) = column(get) {
                if let Some((ratio, lower, pairs)) = paired(&mine, &other) {
                    ratios.push(format!("{name} {ratio:.3}× (lower in {lower} of {pairs})"));
                }
            }
        }
        writeln!(
            f,
            "this one ÷ {}, paired medians: {}",
            other.display(),
            ratios.join(", ")
        )
    }
}

impl std::fmt::Display for BenchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "corpus: {} transcripts × 2 languages = {} markdown files, {:.1} MB, written in {:.2} s",
            self.transcripts,
            self.corpus.files,
            self.corpus.bytes as f64 / 1e6,
            self.corpus.elapsed.as_secs_f64()
        )?;
        writeln!(
            f,
            "{:<34} {:>7} {:>9} {:>9} {:>10} {:>10}   load / render / swap s",
            "build", "pages", "wall s", "pages/s", "search s", "peak RSS"
        )?;
        for m in &self.builds {
            writeln!(
                f,
                "{:<34} {:>7} {:>9.2} {:>9.0} {:>10} {:>10}   {:.2} / {:.2} / {:.2}",
                m.label,
                m.pages,
                m.elapsed.as_secs_f64(),
                m.pages_per_second(),
                m.search
                    .map(|d| format!("{:.2}", d.as_secs_f64()))
                    .unwrap_or_else(|| "-".into()),
                m.peak_rss
                    .map(|b| format!("{} MiB", b / (1024 * 1024)))
                    .unwrap_or_else(|| "?".into()),
                m.phases.load.as_secs_f64(),
                m.phases.render.as_secs_f64(),
                m.phases.swap.as_secs_f64(),
            )?;
        }
        if let Some(runs) = &self.runs {
            write!(f, "{runs}")?;
        }
        Ok(())
    }
}

/// Writes the corpus, then times: a cold build, a rebuild after one transcript changes (both
/// with search unless `no_search`), a build without the search index, and with `runs`, that
/// build as processes (see [`Runs`]).
pub fn run(args: &BenchArgs) -> Result<BenchReport, BenchError> {
    // before a corpus is written: a mistyped path should not cost minutes
    match &args.against {
        Some(_) if args.runs == 0 => return Err(BenchError::AgainstWithoutRuns),
        _ if args.over_previous && args.runs == 0 => {
            return Err(BenchError::OverPreviousWithoutRuns)
        }
        Some(other) if !other.is_file() => return Err(BenchError::NoBinary(other.clone())),
        _ => {}
    }
    let root = match &args.keep {
        Some(dir) => dir.clone(),
        None => std::env::temp_dir().join(format!("pressroom-bench-{}", std::process::id())),
    };
    let result = measure(args, &root);
    if args.keep.is_none() {
        let _ = std::fs::remove_dir_all(&root);
    }
    result
}

fn measure(args: &BenchArgs, root: &Path) -> Result<BenchReport, BenchError> {
    let spec = CorpusSpec {
        transcripts: args.transcripts,
        seed: args.seed,
    };
    let corpus = write_corpus(root, &spec, &args.theme, !args.no_search)?;
    let options = crate::site::BuildOptions::new(root);
    let mut builds = Vec::new();

    if !args.no_search {
        builds.push(timed("cold build, with search", &options)?);
        touch_transcript(&corpus.sample)?;
        builds.push(timed("rebuild after 1 edit, with search", &options)?);
        write(&root.join("pressroom.toml"), config_toml(false).as_bytes())?;
    }
    let plain = timed("build without search", &options)?;
    let pages = plain.pages;
    builds.push(plain);
    touch_transcript(&corpus.sample)?;
    builds.push(timed("rebuild after 1 edit, no search", &options)?);
    builds.push(timed_serve_edit(&options, &corpus.sample)?);
    let runs = match args.runs {
        0 => None,
        _ => Some(time_processes(args, root, pages)?),
    };

    Ok(BenchReport {
        corpus,
        transcripts: spec.transcripts,
        builds,
        runs,
    })
}

/// `--runs`: `pressroom build` of the corpus as a process, `args.runs` times, alternating with
/// `args.against` when given (ABBA: other, this, then this, other, …). Every run writes into a
/// fresh folder, as a first build does, or with `--over-previous` over the site of the run
/// before (an untimed first build makes the first one), as a rebuild does.
fn time_processes(args: &BenchArgs, root: &Path, pages: usize) -> Result<Runs, BenchError> {
    let this = std::env::current_exe().map_err(|source| BenchError::Run {
        binary: "pressroom".into(),
        source,
    })?;
    let out = root.join("bench-runs");
    let fresh = !args.over_previous;
    if !fresh {
        eprintln!("bench: `pressroom build` as a process, the site the first run writes over …");
        build_process(&this, root, &out, true)?;
    }
    let mut mine = Vec::with_capacity(args.runs);
    let mut theirs = Vec::with_capacity(args.runs);
    for i in 0..args.runs {
        eprintln!(
            "bench: `pressroom build` as a process, run {} of {} …",
            i + 1,
            args.runs
        );
        match &args.against {
            None => mine.push(build_process(&this, root, &out, fresh)?),
            Some(other) if i % 2 == 0 => {
                theirs.push(build_process(other, root, &out, fresh)?);
                mine.push(build_process(&this, root, &out, fresh)?);
            }
            Some(other) => {
                mine.push(build_process(&this, root, &out, fresh)?);
                theirs.push(build_process(other, root, &out, fresh)?);
            }
        }
    }
    std::fs::remove_dir_all(&out).map_err(io_error(&out))?;
    Ok(Runs {
        pages,
        over_previous: args.over_previous,
        this: mine,
        against: args.against.clone().map(|other| (other, theirs)),
    })
}

/// Runs `binary build --root root --out out`, after removing `out` when `fresh`, and times it.
fn build_process(
    binary: &Path,
    root: &Path,
    out: &Path,
    fresh: bool,
) -> Result<ProcessRun, BenchError> {
    use std::io::Read as _;
    use std::process::{Command, Stdio};
    if fresh && out.exists() {
        std::fs::remove_dir_all(out).map_err(io_error(out))?;
    }
    let run_error = |source| BenchError::Run {
        binary: binary.to_path_buf(),
        source,
    };
    let started = Instant::now();
    let mut child = Command::new(binary)
        .arg("build")
        .arg("--root")
        .arg(root)
        .arg("--out")
        .arg(out)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(run_error)?;
    // read to the end before waiting: a build with many errors fills the pipe
    let mut errors = String::new();
    if let Some(mut stderr) = child.stderr.take() {
        stderr.read_to_string(&mut errors).map_err(run_error)?;
    }
    let (status, usage) = wait_with_usage(&mut child).map_err(run_error)?;
    let wall = started.elapsed();
    if !status.success() {
        return Err(BenchError::Build(format!(
            "{} ({status}):\n{}",
            binary.display(),
            errors.trim_end()
        )));
    }
    Ok(ProcessRun { wall, usage })
}

/// Waits for `child` and reads what the OS counted for it (`wait4`).
#[cfg(unix)]
fn wait_with_usage(
    child: &mut std::process::Child,
) -> std::io::Result<(std::process::ExitStatus, Option<Usage>)> {
    use std::os::unix::process::ExitStatusExt as _;
    let pid = libc::pid_t::try_from(child.id()).map_err(std::io::Error::other)?;
    let mut status: libc::c_int = 0;
    // SAFETY: `rusage` is a plain C struct of integers, for which all zeroes is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `pid` is a child of this process that nothing has waited for (std's `Child`
        // reaps only in `wait`, `try_wait` and `wait_with_output`, never called on it), and
        // `status` and `usage` are valid for writes for the whole call.
        let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if reaped == pid {
            break;
        }
        let error = std::io::Error::last_os_error();
        if error.kind() != std::io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
    let time = |t: libc::timeval| {
        Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
    };
    // Linux counts `ru_maxrss` in KiB, macOS in bytes
    let unit = if cfg!(target_os = "macos") { 1 } else { 1024 };
    Ok((
        std::process::ExitStatus::from_raw(status),
        Some(Usage {
            user: time(usage.ru_utime),
            system: time(usage.ru_stime),
            peak_rss: u64::try_from(usage.ru_maxrss).unwrap_or(0) * unit,
        }),
    ))
}

/// Waits for `child`; this OS's counts are not read here.
#[cfg(not(unix))]
fn wait_with_usage(
    child: &mut std::process::Child,
) -> std::io::Result<(std::process::ExitStatus, Option<Usage>)> {
    Ok((child.wait()?, None))
}

/// `pressroom bench`: run and print the report.
pub fn main(args: &BenchArgs) -> Result<(), BenchError> {
    if cfg!(debug_assertions) {
        eprintln!("bench: this is a debug build; for real figures run `cargo run --release -p generator -- bench`");
    }
    let report = run(args)?;
    print!("{report}");
    Ok(())
}

fn timed(label: &'static str, options: &crate::site::BuildOptions) -> Result<Measure, BenchError> {
    eprintln!("bench: {label} …");
    reset_peak_rss();
    let started = Instant::now();
    let report =
        crate::site::build(options).map_err(|errors| BenchError::Build(errors.to_string()))?;
    let elapsed = started.elapsed();
    Ok(Measure {
        label,
        pages: report.pages,
        elapsed,
        search: report.search.as_ref().map(|s| s.elapsed),
        peak_rss: peak_rss_bytes(),
        phases: report.phases,
    })
}

/// What `serve` does after an author saves one transcript: the site is loaded (a full build,
/// not timed), the file changes, and only the pages showing it are re-rendered.
fn timed_serve_edit(
    options: &crate::site::BuildOptions,
    sample: &Path,
) -> Result<Measure, BenchError> {
    let label = "serve: update after 1 edit";
    eprintln!("bench: {label} …");
    let (mut live, _) = crate::site::LiveSite::build(options.clone())
        .map_err(|errors| BenchError::Build(errors.to_string()))?;
    touch_transcript(sample)?;
    reset_peak_rss();
    let started = Instant::now();
    let update = live
        .update(&[sample.to_path_buf()])
        .map_err(|errors| BenchError::Build(errors.to_string()))?;
    let elapsed = started.elapsed();
    let pages = match update {
        crate::site::Update::Pages { pages, .. } => pages,
        crate::site::Update::Full(_) => {
            return Err(BenchError::Build(
                "an edit to one paragraph led to a full build, not a partial update".into(),
            ))
        }
    };
    Ok(Measure {
        label,
        pages,
        elapsed,
        search: None,
        peak_rss: peak_rss_bytes(),
        phases: crate::site::Phases::default(),
    })
}

/// Appends a paragraph to a transcript, as an author fixing a typo would.
fn touch_transcript(path: &Path) -> Result<(), BenchError> {
    let mut text = std::fs::read_to_string(path).map_err(io_error(path))?;
    text.push_str("\nA correction was added after delivery.\n");
    write(path, text.as_bytes())
}

/// Resets `VmHWM` to the current resident size so the next reading is the peak of one phase
/// (Linux ≥ 4.0; elsewhere the reading stays the peak since start).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident memory of this process so far (`VmHWM`), in bytes; `None` off Linux.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_is_stable_across_versions() {
        // Reference values of SplitMix64 for seed 0 (Vigna's published test vector).
        let mut rng = SplitMix64::new(0);
        assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(rng.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn transcripts_are_deterministic_about_6_kb_and_use_every_extension() {
        let spec = CorpusSpec {
            transcripts: 10,
            seed: 7,
        };
        let en = transcript_markdown(&spec, 3, "en");
        assert_eq!(
            en,
            transcript_markdown(&spec, 3, "en"),
            "same spec, same bytes"
        );
        assert_ne!(en, transcript_markdown(&spec, 4, "en"));
        assert!((4_500..8_500).contains(&en.len()), "{} bytes", en.len());
        for needle in [
            "\n  • ",
            "[^1]",
            "[^1]: ",
            "**Question (Agency 0):**",
            "[00:00:00] ",
        ] {
            assert!(en.contains(needle), "missing {needle:?}");
        }
        let fr = transcript_markdown(&spec, 3, "fr");
        let front = |md: &str, field: &str| {
            md.lines()
                .find(|line| line.starts_with(field))
                .map(str::to_string)
        };
        for field in ["date =", "topics =", "kind ="] {
            assert_eq!(
                front(&en, field),
                front(&fr, field),
                "{field} differs between languages"
            );
        }
    }

    #[test]
    fn every_transcript_of_the_default_corpus_is_valid_content() {
        // the first 2,000 of the 10,000 per language of the default seed: among them, before
        // speakers were drawn each once, 48 per language listed a speaker twice
        let spec = CorpusSpec {
            transcripts: 10_000,
            seed: 2018,
        };
        let topics = crate::content::Topics::parse(&topics_toml()).unwrap();
        for lang in ["en", "fr"] {
            for index in 0..2_000 {
                let path = format!("content/{lang}/{index}.md");
                let parsed = crate::content::parse_transcript(
                    Path::new(&path),
                    transcript_markdown(&spec, index, lang),
                    lang,
                    &format!("{index}.md"),
                    &topics,
                );
                if let Err(e) = parsed {
                    panic!("{}", e[0]);
                }
            }
        }
    }

    #[test]
    fn the_corpus_is_a_site_the_config_parser_accepts() {
        let dir = tempfile::tempdir().unwrap();
        let theme = dir.path().join("theme-src");
        std::fs::create_dir_all(theme.join("templates")).unwrap();
        std::fs::write(theme.join("templates/base.html"), "x").unwrap();
        let spec = CorpusSpec {
            transcripts: 3,
            seed: 1,
        };
        let corpus = write_corpus(&dir.path().join("site"), &spec, &theme, false).unwrap();
        assert_eq!(corpus.files, 6);
        assert!(corpus.bytes > 6 * 4_500);
        assert!(corpus
            .root
            .join("themes/default/templates/base.html")
            .is_file());
        let config = crate::config::Config::parse(&config_toml(false)).unwrap();
        assert!(!config.search);
        let topics = std::fs::read_to_string(corpus.root.join("content/topics.toml")).unwrap();
        assert!(crate::content::Topics::parse(&topics).is_ok());
    }

    #[test]
    fn a_missing_theme_is_named_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let site = dir.path().join("site");
        let spec = CorpusSpec {
            transcripts: 1,
            seed: 1,
        };
        let e = write_corpus(&site, &spec, Path::new("no/such/theme"), false).unwrap_err();
        assert_eq!(
            e.to_string(),
            "bench: no theme at no/such/theme (a theme folder holds templates/): run from the \
             project root, or pass --theme DIR"
        );
        assert!(!site.exists());
    }

    #[test]
    fn medians_and_pairs() {
        assert_eq!(median([]), None);
        assert_eq!(median([3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median([4.0, 1.0, 3.0, 2.0]), Some(2.5));
        // pair by pair, not median against median: `this` is slower in every pair although its
        // median is the lower one (the other's extra slow run has no pair and does not count)
        let this = [1.1, 2.2, 3.3, 4.4];
        let other = [1.0, 2.0, 3.0, 4.0, 9.0];
        let (ratio, lower, pairs) = paired(&this, &other).unwrap();
        assert!((ratio - 1.1).abs() < 1e-9, "{ratio}");
        assert_eq!((lower, pairs), (0, 4));
        let (ratio, lower, pairs) = paired(&[1.0, 3.0, 2.0], &[2.0, 2.0, 4.0]).unwrap();
        assert_eq!((ratio, lower, pairs), (0.5, 2, 3));
        assert_eq!(paired(&[], &[]), None);
    }

    #[test]
    fn the_runs_table_gives_ranges_and_paired_ratios() {
        let run = |wall: u64, user: u64, system: u64, mib: u64| ProcessRun {
            wall: Duration::from_millis(wall),
            usage: Some(Usage {
                user: Duration::from_millis(user),
                system: Duration::from_millis(system),
                peak_rss: mib << 20,
            }),
        };
        let runs = Runs {
            pages: 1000,
            over_previous: false,
            this: vec![
                run(900, 1000, 500, 500),
                run(1000, 1200, 400, 510),
                run(1200, 1300, 600, 490),
            ],
            against: Some((
                PathBuf::from("old/pressroom"),
                vec![
                    run(1000, 1250, 500, 600),
                    run(1250, 1200, 500, 600),
                    run(1200, 1300, 500, 600),
                ],
            )),
        };
        let table = runs.to_string();
        assert!(
            table.contains("3 runs of each binary, each its own process into a fresh folder, "),
            "{table}"
        );
        assert!(
            table.contains(&format!(
                "{:<34} {:>22} {:>9} {:>9} {:>9} {:>10}",
                "this one", "1.00 (0.90–1.20)", "1000", "1.20", "0.50", "500 MiB"
            )),
            "{table}"
        );
        assert!(table.contains("old/pressroom"), "{table}");
        assert!(
            table.contains(
                "this one ÷ old/pressroom, paired medians: wall 0.900× (lower in 2 of 3), \
                 user 1.000× (lower in 1 of 3), system 1.000× (lower in 1 of 3), \
                 peak RSS 0.833× (lower in 3 of 3)"
            ),
            "{table}"
        );
        let alone = Runs {
            pages: 3000,
            over_previous: true,
            this: vec![ProcessRun {
                wall: Duration::from_millis(1500),
                usage: None,
            }],
            against: None,
        };
        let table = alone.to_string();
        assert!(
            table.contains(
                "without search (3000 pages), 1 runs, each its own process over the site of \
                 the build before:"
            ),
            "{table}"
        );
        assert!(table.contains(" 1.50 (1.50–1.50)      2000 "), "{table}");
        assert!(!table.contains("paired"), "{table}");
    }

    #[test]
    fn peak_rss_is_read_from_proc() {
        if cfg!(target_os = "linux") {
            assert!(peak_rss_bytes().unwrap() > 1024 * 1024);
        }
    }
}
