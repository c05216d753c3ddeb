//! Full-text search for the built site, indexed at build time with pagefind running in-process.
//!
//! Readers search transcripts without any server: pagefind splits the index into small fragments
//! that its browser bundle fetches on demand, one index per language (taken from `<html lang>`),
//! so a French reader searches French transcripts. Only the element marked `data-pagefind-body`
//! is indexed; the default theme puts it on the transcript `<article>`, so home, topic and
//! speaker listings never show up as results.
//!
//! Two entry points, same output (`{out_dir}/pagefind/`, including `pagefind-ui.js` and
//! `pagefind-ui.css` that `search.html` loads):
//!
//! - [`index_dir`] reads the rendered transcript pages back from `out_dir`. Pagefind parses them
//!   in parallel, so this is the one to call after the site has been written (it is what
//!   `site::build` and the benchmark use).
//! - [`index`] takes pages that are still in memory. Pagefind's in-memory API parses one page at a
//!   time, so it suits small sites and tests.
//!
//! Pagefind's API is async; both functions run it on a private runtime in a scoped thread, so
//! callers may be plain threads, rayon workers or tasks inside another tokio runtime.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pagefind::api::PagefindIndex;
use pagefind::options::PagefindServiceConfig;
use rayon::prelude::*;

/// Folder (inside the site's output) that holds the search bundle.
pub const BUNDLE_DIR: &str = "pagefind";

/// Pages whose files [`index_dir`] reads: transcript pages of every language.
pub const TRANSCRIPT_GLOB: &str = "*/transcripts/**/*.html";

/// The file pagefind's browser code loads first; it sits at the root of the bundle.
const ENTRY_FILE: &str = "pagefind-entry.json";

/// The attribute a theme puts on the element to index.
const BODY_MARKER: &str = "data-pagefind-body";

/// One rendered page handed to [`index`].
#[derive(Debug, Clone)]
pub struct SearchPage {
    /// Site-relative URL the search result links to, e.g. `/en/transcripts/2018/04/26/x/`.
    pub url: String,
    /// Language code of the page; pagefind itself reads `<html lang>`, this is for the stats.
    pub lang: String,
    /// The complete rendered HTML document.
    pub html: String,
}

/// What an indexing run did, for the build summary and the benchmark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchStats {
    /// Pages indexed (those with a `data-pagefind-body` element).
    pub pages: usize,
    /// Languages that got an index, sorted.
    pub languages: Vec<String>,
    /// Words indexed across all pages (in-memory indexing only; 0 for [`index_dir`]).
    pub words: u64,
    /// Files written under `out_dir/pagefind/`.
    pub files: usize,
    /// Bytes written under `out_dir/pagefind/`.
    pub bytes: u64,
    /// Wall time of parsing, building and writing.
    pub elapsed: Duration,
}

/// Why the search index could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// Pagefind refused its configuration (a bug in this module, not in the content).
    #[error("search: pagefind rejected its configuration: {0}")]
    Config(String),
    /// A page could not be parsed.
    #[error("search: cannot index {url}: {message}")]
    Page { url: String, message: String },
    /// Pagefind failed while parsing the site or building the index.
    #[error("search: pagefind could not build the index: {0}")]
    Build(String),
    /// Nothing to index: no page carries `data-pagefind-body`.
    #[error(
        "search: no page to index under {0} (transcript pages must carry `data-pagefind-body`)"
    )]
    Empty(PathBuf),
    /// The built site could not be listed.
    #[error("search: cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The bundle could not be written.
    #[error("search: cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The private async runtime could not start.
    #[error("search: cannot start the indexing runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

/// Indexes pages held in memory and writes the bundle to `out_dir/pagefind/`.
///
/// Pages without a `data-pagefind-body` element (listings, search, 404) are skipped before
/// parsing. An empty `pages` slice, or one where no page is marked, is an error: a site without
/// a search index would show a search box that finds nothing.
pub fn index(out_dir: &Path, pages: &[SearchPage]) -> Result<SearchStats, SearchError> {
    let started = Instant::now();
    let marked: Vec<&SearchPage> = pages
        .iter()
        .filter(|page| page.html.contains(BODY_MARKER))
        .collect();
    if marked.is_empty() {
        return Err(SearchError::Empty(out_dir.to_path_buf()));
    }
    let languages: BTreeSet<String> = marked.iter().map(|page| page.lang.clone()).collect();
    let bundle = out_dir.join(BUNDLE_DIR);

    let (words, files) = run_async(async {
        let mut search = new_index()?;
        let mut words = 0u64;
        for page in &marked {
            let added = search
                .add_html_file(None, Some(page.url.clone()), page.html.clone())
                .await
                .map_err(|error| SearchError::Page {
                    url: page.url.clone(),
                    message: format!("{error:#}"),
                })?;
            words += u64::from(added.page_word_count);
        }
        Ok((words, built_files(&mut search).await?))
    })?;

    let (count, bytes) = write_bundle(&bundle, files)?;
    Ok(SearchStats {
        pages: marked.len(),
        languages: languages.into_iter().collect(),
        words,
        files: count,
        bytes,
        elapsed: started.elapsed(),
    })
}

/// Indexes the transcript pages already written under `out_dir` (files matching
/// [`TRANSCRIPT_GLOB`]) and writes the bundle to `out_dir/pagefind/`. Parsing runs in parallel.
///
/// One language at a time: pagefind keeps every parsed page of an index in memory until it has
/// built it, and the languages' indexes are independent anyway (a reader searches their own), so
/// indexing `en/transcripts/`, dropping that state, then `fr/transcripts/` holds one language's
/// pages at a time instead of all of them. The runs' files are merged into one bundle whose
/// `pagefind-entry.json` lists every language.
///
/// `on_language` is called with each language folder's name (`en`) as its indexing starts, so a
/// caller can show where a long run is: pagefind reports nothing until a language is done.
pub fn index_dir(
    out_dir: &Path,
    mut on_language: impl FnMut(&str),
) -> Result<SearchStats, SearchError> {
    let started = Instant::now();
    let bundle = out_dir.join(BUNDLE_DIR);
    let root = out_dir.to_string_lossy().into_owned();

    let mut pages = 0;
    let mut merged = Bundle::default();
    for folder in language_folders(out_dir)? {
        on_language(&folder);
        let glob = format!("{folder}/{}", TRANSCRIPT_GLOB.trim_start_matches("*/"));
        let (count, files) = run_async(async {
            let mut search = new_index()?;
            let count = search
                .add_directory(root.clone(), Some(glob))
                .await
                .map_err(|error| SearchError::Build(format!("{error:#}")))?;
            if count == 0 {
                return Ok((0, Vec::new()));
            }
            Ok((count, built_files(&mut search).await?))
        })?;
        pages += count;
        merged.add(files)?;
    }
    if pages == 0 {
        return Err(SearchError::Empty(out_dir.to_path_buf()));
    }

    let files = merged.into_files()?;
    let languages = languages_of(&files);
    let (count, bytes) = write_bundle(&bundle, files)?;
    Ok(SearchStats {
        pages,
        languages,
        words: 0,
        files: count,
        bytes,
        elapsed: started.elapsed(),
    })
}

/// The folders of `out_dir` that hold transcript pages (`{lang}/transcripts/`), sorted.
fn language_folders(out_dir: &Path) -> Result<Vec<String>, SearchError> {
    let unreadable = |source| SearchError::Read {
        path: out_dir.to_path_buf(),
        source,
    };
    let mut folders = Vec::new();
    for entry in std::fs::read_dir(out_dir).map_err(unreadable)? {
        let entry = entry.map_err(unreadable)?;
        if entry.path().join("transcripts").is_dir() {
            if let Some(name) = entry.file_name().to_str() {
                folders.push(name.to_string());
            }
        }
    }
    folders.sort();
    Ok(folders)
}

/// The files of several pagefind runs, one per language, as one bundle. Each run writes the same
/// shared files (the scripts, the UI, the fallback wasm) and its own index; they differ only in
/// `pagefind-entry.json`, whose `languages` maps are merged.
#[derive(Default)]
struct Bundle {
    files: Vec<pagefind::api::SyntheticFile>,
    names: std::collections::HashSet<PathBuf>,
    /// Where the first run put `pagefind-entry.json`, and the merged entry.
    entry: Option<(PathBuf, serde_json::Value)>,
}

impl Bundle {
    fn add(&mut self, files: Vec<pagefind::api::SyntheticFile>) -> Result<(), SearchError> {
        for file in files {
            if is_entry(&file) {
                let run: serde_json::Value = serde_json::from_slice(&file.contents)
                    .map_err(|error| SearchError::Build(format!("{ENTRY_FILE}: {error}")))?;
                match &mut self.entry {
                    None => self.entry = Some((file.filename, run)),
                    Some((_, entry)) => merge_languages(entry, run)?,
                }
            } else if self.names.insert(file.filename.clone()) {
                self.files.push(file);
            }
        }
        Ok(())
    }

    fn into_files(mut self) -> Result<Vec<pagefind::api::SyntheticFile>, SearchError> {
        if let Some((filename, entry)) = self.entry {
            let contents = serde_json::to_vec(&entry)
                .map_err(|error| SearchError::Build(format!("{ENTRY_FILE}: {error}")))?;
            self.files
                .push(pagefind::api::SyntheticFile { filename, contents });
        }
        Ok(self.files)
    }
}

/// Adds the `languages` of one run's entry file to the merged one.
fn merge_languages(
    entry: &mut serde_json::Value,
    run: serde_json::Value,
) -> Result<(), SearchError> {
    let malformed = || SearchError::Build(format!("{ENTRY_FILE} has no `languages` map"));
    let serde_json::Value::Object(run_languages) =
        run.get("languages").cloned().ok_or_else(malformed)?
    else {
        return Err(malformed());
    };
    let languages = entry
        .get_mut("languages")
        .and_then(serde_json::Value::as_object_mut)
        .ok_or_else(malformed)?;
    languages.extend(run_languages);
    Ok(())
}

/// Builds the index and returns its files (in memory, named under pagefind's default folder).
async fn built_files(
    search: &mut PagefindIndex,
) -> Result<Vec<pagefind::api::SyntheticFile>, SearchError> {
    search
        .get_files()
        .await
        .map_err(|error| SearchError::Build(format!("{error:#}")))
}

/// Whether `file` is the bundle's `pagefind-entry.json`.
fn is_entry(file: &pagefind::api::SyntheticFile) -> bool {
    file.filename.file_name() == Some(std::ffi::OsStr::new(ENTRY_FILE))
}

fn new_index() -> Result<PagefindIndex, SearchError> {
    let config = PagefindServiceConfig::builder()
        .keep_index_url(false)
        .build();
    PagefindIndex::new(Some(config)).map_err(|error| SearchError::Config(format!("{error:#}")))
}

/// Runs `work` to completion on a fresh multi-threaded runtime in a scoped thread, so this works
/// whether or not the caller is itself inside a tokio runtime.
fn run_async<T, F>(work: F) -> Result<T, SearchError>
where
    T: Send,
    F: std::future::Future<Output = Result<T, SearchError>> + Send,
{
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .map_err(SearchError::Runtime)?;
                runtime.block_on(work)
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Pagefind names each language's entry file `pagefind/wasm.{lang}.pagefind` and its index
/// `pagefind/pagefind.{lang}_{hash}.pf_meta`; the latter tells which languages were indexed.
fn languages_of(files: &[pagefind::api::SyntheticFile]) -> Vec<String> {
    let mut languages = BTreeSet::new();
    for file in files {
        let Some(name) = file.filename.file_name().and_then(|name| name.to_str()) else {
            continue;
        };
        if let Some(rest) = name
            .strip_prefix("pagefind.")
            .and_then(|rest| rest.strip_suffix(".pf_meta"))
        {
            if let Some((lang, _hash)) = rest.rsplit_once('_') {
                languages.insert(lang.to_string());
            }
        }
    }
    languages.into_iter().collect()
}

/// Replaces `bundle` with pagefind's files. Pagefind names them under its own default output
/// folder (which depends on its version and the working directory); that folder is the one
/// holding `pagefind-entry.json`, and only the part below it is kept.
fn write_bundle(
    bundle: &Path,
    files: Vec<pagefind::api::SyntheticFile>,
) -> Result<(usize, u64), SearchError> {
    let write_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SearchError::Write { path, source }
    };
    let base = files
        .iter()
        .find(|file| is_entry(file))
        .and_then(|file| file.filename.parent())
        .map(Path::to_path_buf)
        .ok_or_else(|| SearchError::Build(format!("pagefind produced no {ENTRY_FILE}")))?;
    if bundle.exists() {
        std::fs::remove_dir_all(bundle).map_err(write_error(bundle))?;
    }
    let mut targets = Vec::with_capacity(files.len());
    let mut folders = BTreeSet::new();
    for file in &files {
        let relative = file.filename.strip_prefix(&base).map_err(|_| {
            SearchError::Build(format!(
                "pagefind file {} is outside its bundle {}",
                file.filename.display(),
                base.display()
            ))
        })?;
        let target = bundle.join(relative);
        if let Some(parent) = target.parent() {
            folders.insert(parent.to_path_buf());
        }
        targets.push(target);
    }
    // A handful of folders (the bundle, `fragment/`, `index/`, `filter/`), then some 10,000
    // files per language, written on every core.
    for folder in &folders {
        std::fs::create_dir_all(folder).map_err(write_error(folder))?;
    }
    files
        .par_iter()
        .zip(&targets)
        .with_max_len(crate::site::LEAF)
        .try_for_each(|(file, target)| {
            std::fs::write(target, &file.contents).map_err(write_error(target))
        })?;
    let bytes = files.iter().map(|file| file.contents.len() as u64).sum();
    Ok((files.len(), bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(lang: &str, url: &str, body: &str, marked: bool) -> SearchPage {
        let marker = if marked { " data-pagefind-body" } else { "" };
        SearchPage {
            url: url.to_string(),
            lang: lang.to_string(),
            html: format!(
                "<!doctype html><html lang=\"{lang}\"><head><title>t</title></head><body>\
                 <nav>Menu navigation</nav><article{marker}><h1>{url}</h1><p>{body}</p></article>\
                 </body></html>"
            ),
        }
    }

    /// Every file of `bundle/{folder}` gunzipped (pagefind gzips each, starting `pagefind_dcd`).
    fn gunzipped(bundle: &Path, folder: &str) -> Vec<Vec<u8>> {
        use std::io::Read;
        let listing: Vec<_> = walkdir::WalkDir::new(bundle)
            .into_iter()
            .filter_map(Result::ok)
            .map(|e| e.path().display().to_string())
            .collect();
        let dir = std::fs::read_dir(bundle.join(folder))
            .unwrap_or_else(|e| panic!("no {folder} folder ({e}) in {listing:#?}"));
        dir.map(|entry| {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            let mut decoded = Vec::new();
            flate2::read::GzDecoder::new(&bytes[..])
                .read_to_end(&mut decoded)
                .unwrap();
            decoded
        })
        .collect()
    }

    /// The text of every fragment (one per indexed page), sorted.
    fn fragments(bundle: &Path) -> Vec<String> {
        let mut texts: Vec<String> = gunzipped(bundle, "fragment")
            .into_iter()
            .map(|bytes| String::from_utf8(bytes).unwrap())
            .collect();
        texts.sort();
        texts
    }

    #[test]
    fn in_memory_pages_get_a_bundle_per_language_and_skip_unmarked_pages() {
        let out = tempfile::tempdir().unwrap();
        let pages = vec![
            page(
                "en",
                "/en/transcripts/a/",
                "Ministers discuss Iraq training",
                true,
            ),
            page(
                "en",
                "/en/transcripts/b/",
                "Cyber defence and resilience",
                true,
            ),
            page(
                "fr",
                "/fr/transcripts/a/",
                "Les ministres parlent de l'Irak",
                true,
            ),
            page("en", "/en/", "Latest transcripts listing", false),
        ];
        let stats = index(out.path(), &pages).unwrap();
        assert_eq!(stats.pages, 3, "the unmarked listing page is skipped");
        assert_eq!(stats.languages, vec!["en".to_string(), "fr".to_string()]);
        assert!(stats.words >= 12, "words counted: {}", stats.words);
        let bundle = out.path().join(BUNDLE_DIR);
        for file in [
            "pagefind.js",
            "pagefind-ui.js",
            "pagefind-ui.css",
            "pagefind-entry.json",
        ] {
            assert!(
                bundle.join(file).is_file(),
                "{file} missing from the bundle"
            );
        }
        let texts = fragments(&bundle);
        assert_eq!(texts.len(), 3, "one fragment per indexed page");
        assert!(
            texts.iter().any(|t| t.contains("Iraq training")),
            "{texts:?}"
        );
        assert!(
            texts.iter().any(|t| t.contains("/fr/transcripts/a/")),
            "{texts:?}"
        );
        assert!(
            !texts.iter().any(|t| t.contains("Menu navigation")),
            "only the marked element is indexed: {texts:?}"
        );
        let entry = std::fs::read_to_string(bundle.join("pagefind-entry.json")).unwrap();
        assert!(
            entry.contains("\"en\"") && entry.contains("\"fr\""),
            "{entry}"
        );
        assert!(stats.files > 5 && stats.bytes > 10_000, "{stats:?}");
    }

    #[test]
    fn pages_on_disk_are_indexed_with_their_site_urls() {
        let out = tempfile::tempdir().unwrap();
        for p in [
            page(
                "en",
                "/en/transcripts/2018/04/26/x/",
                "Iraq training mission",
                true,
            ),
            page(
                "fr",
                "/fr/transcripts/2018/04/26/x/",
                "Mission de formation en Irak",
                true,
            ),
        ] {
            let file = out
                .path()
                .join(p.url.trim_start_matches('/'))
                .join("index.html");
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, p.html).unwrap();
        }
        // A listing outside the transcript folders is not read at all.
        std::fs::write(
            out.path().join("en-home.html"),
            page("en", "/", "x", false).html,
        )
        .unwrap();

        let mut started = Vec::new();
        let stats = index_dir(out.path(), |lang| started.push(lang.to_string())).unwrap();
        assert_eq!(
            started,
            ["en", "fr"],
            "each language is announced as it starts"
        );
        assert_eq!(stats.pages, 2);
        assert_eq!(stats.languages, vec!["en".to_string(), "fr".to_string()]);
        let bundle = out.path().join(BUNDLE_DIR);
        assert!(bundle.join("pagefind-ui.js").is_file());
        // Indexed one language at a time, the bundle still has one entry naming both, each
        // pointing at its own index and wasm file.
        let entry: serde_json::Value =
            serde_json::from_slice(&std::fs::read(bundle.join(ENTRY_FILE)).unwrap()).unwrap();
        let languages = entry["languages"].as_object().unwrap();
        assert_eq!(
            languages.keys().collect::<Vec<_>>(),
            ["en", "fr"],
            "{entry}"
        );
        for (lang, meta) in languages {
            assert_eq!(meta["page_count"], 1, "{entry}");
            let hash = meta["hash"].as_str().unwrap();
            assert!(
                bundle.join(format!("pagefind.{hash}.pf_meta")).is_file(),
                "{lang}: no index file for hash {hash}"
            );
            assert!(
                bundle.join(format!("wasm.{lang}.pagefind")).is_file(),
                "{lang}: no wasm file"
            );
        }
        let texts = fragments(&bundle);
        assert_eq!(texts.len(), 2);
        assert!(
            texts
                .iter()
                .any(|t| t.contains("\"url\":\"/fr/transcripts/2018/04/26/x/\"")),
            "URLs are site paths without index.html: {texts:?}"
        );
    }

    /// The vendored pagefind merges its pages' words 512 pages at a time: a language with more
    /// pages than two batches still gets every page and every page's words in its index.
    #[test]
    fn a_language_of_several_batches_indexes_every_page_and_word() {
        // A word of letters only (pagefind splits words at digits), different for every page,
        // ending in a `k` that no rule of the English stemmer removes or changes.
        let word = |n: usize| {
            let letters = |d: usize| char::from(b'a' + (d % 26) as u8);
            format!("zq{}{}{}k", letters(n / 676), letters(n / 26), letters(n))
        };
        let count = 1_100;
        let out = tempfile::tempdir().unwrap();
        for n in 0..count {
            let url = format!("/en/transcripts/2018/04/26/t{n}/");
            let html = page("en", &url, &format!("Briefing {}", word(n)), true).html;
            let file = out
                .path()
                .join(url.trim_start_matches('/'))
                .join("index.html");
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, html).unwrap();
        }

        let stats = index_dir(out.path(), |_| {}).unwrap();
        assert_eq!(stats.pages, count);
        let bundle = out.path().join(BUNDLE_DIR);
        let entry: serde_json::Value =
            serde_json::from_slice(&std::fs::read(bundle.join(ENTRY_FILE)).unwrap()).unwrap();
        assert_eq!(entry["languages"]["en"]["page_count"], count, "{entry}");
        let texts = fragments(&bundle);
        assert_eq!(texts.len(), count, "one fragment per page");
        for n in [0, 511, 512, 1023, 1024, count - 1] {
            let url = format!("\"url\":\"/en/transcripts/2018/04/26/t{n}/\"");
            assert!(
                texts.iter().any(|t| t.contains(&url)),
                "no fragment for page {n}"
            );
        }
        // The word index chunks hold each word as text (CBOR), gzipped.
        let index: String = gunzipped(&bundle, "index")
            .iter()
            .map(|chunk| String::from_utf8_lossy(chunk))
            .collect();
        let missing: Vec<String> = (0..count)
            .map(word)
            .filter(|w| !index.contains(w.as_str()))
            .collect();
        assert!(missing.is_empty(), "words not in the index: {missing:?}");
    }

    #[test]
    fn a_site_without_marked_pages_is_an_error_not_an_empty_search() {
        let out = tempfile::tempdir().unwrap();
        let error = index(out.path(), &[page("en", "/en/", "x", false)]).unwrap_err();
        assert!(matches!(error, SearchError::Empty(_)), "{error}");
        let error = index_dir(out.path(), |_| {}).unwrap_err();
        assert!(matches!(error, SearchError::Empty(_)), "{error}");
    }
}
