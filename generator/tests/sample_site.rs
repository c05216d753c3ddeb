//! End to end: builds the real sample site (the repository root: `content/`, `themes/default/`)
//! into a temporary folder and checks what readers, crawlers and the download function rely on,
//! and pins the published seed transcript in both languages (insta snapshots).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use generator::site::{build, BuildOptions};
use lol_html::{element, rewrite_str, RewriteStrSettings};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

struct Built {
    _dir: tempfile::TempDir,
    out: PathBuf,
}

impl Built {
    /// The text of the built file `rel` (`fr/404.html`).
    fn read(&self, rel: &str) -> String {
        let path = self.out.join(rel);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }
}

fn build_sample() -> Built {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("public");
    let mut options = BuildOptions::new(repo_root());
    options.out = Some(out.clone());
    let report = build(&options).unwrap_or_else(|e| panic!("the sample site must build:\n{e}"));
    assert!(report.transcripts >= 2, "{report}");
    Built { _dir: dir, out }
}

fn files(out: &Path, ext: &str) -> Vec<PathBuf> {
    walkdir::WalkDir::new(out)
        .into_iter()
        .map(|e| e.unwrap().into_path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect()
}

/// `(html lang, html dir, every href/src)` of a page.
fn scan(html: &str) -> (Option<String>, Option<String>, Vec<String>) {
    let lang = std::cell::RefCell::new(None);
    let dir = std::cell::RefCell::new(None);
    let links = std::cell::RefCell::new(Vec::new());
    rewrite_str(
        html,
        RewriteStrSettings::new()
            .append_element_content_handler(element!("html", |el| {
                *lang.borrow_mut() = el.get_attribute("lang");
                *dir.borrow_mut() = el.get_attribute("dir");
                Ok(())
            }))
            .append_element_content_handler(element!("[href]", |el| {
                links.borrow_mut().extend(el.get_attribute("href"));
                Ok(())
            }))
            .append_element_content_handler(element!("[src]", |el| {
                links.borrow_mut().extend(el.get_attribute("src"));
                Ok(())
            })),
    )
    .unwrap();
    (lang.into_inner(), dir.into_inner(), links.into_inner())
}

/// The file a site path is served from, if any.
fn resolves(out: &Path, path: &str) -> bool {
    let rel = path.trim_start_matches('/');
    let file = out.join(rel);
    if path.ends_with('/') || rel.is_empty() {
        file.join("index.html").is_file()
    } else {
        file.is_file() || file.join("index.html").is_file()
    }
}

#[test]
fn every_internal_link_and_asset_resolves_and_every_page_declares_lang_and_dir() {
    let site = build_sample();
    let pages = files(&site.out, "html");
    assert!(pages.len() > 20, "{} pages", pages.len());
    let mut broken = BTreeSet::new();
    for page in &pages {
        let html = std::fs::read_to_string(page).unwrap();
        let (lang, dir, links) = scan(&html);
        let name = page.strip_prefix(&site.out).unwrap().display().to_string();
        assert!(
            lang.as_deref().is_some_and(|l| ["en", "fr"].contains(&l)),
            "{name}: <html lang> is {lang:?}"
        );
        assert!(
            dir.as_deref().is_some_and(|d| d == "ltr"),
            "{name}: <html dir> is {dir:?}"
        );
        for link in links {
            let path = link.split(['#', '?']).next().unwrap_or_default();
            // site paths only: not external, not /api/ (the account functions), not fragments
            if !path.starts_with('/') || path.starts_with("//") || path.starts_with("/api/") {
                continue;
            }
            if !resolves(&site.out, path) {
                broken.insert(format!("{name} → {link}"));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "broken internal links:\n{}",
        broken.into_iter().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn both_atom_feeds_parse_and_list_transcripts() {
    let site = build_sample();
    for lang in ["en", "fr"] {
        let xml = site.read(&format!("{lang}/atom.xml"));
        let doc =
            roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{lang}/atom.xml: {e}"));
        let entries: Vec<_> = doc
            .descendants()
            .filter(|n| n.has_tag_name("entry"))
            .collect();
        assert!(!entries.is_empty(), "{lang}/atom.xml has no entry");
        for entry in entries {
            let link = entry
                .children()
                .find(|n| n.has_tag_name("link"))
                .and_then(|n| n.attribute("href"))
                .unwrap();
            let path = link
                .split_once("://")
                .map_or(link, |(_, rest)| &rest[rest.find('/').unwrap()..]);
            assert!(path.starts_with(&format!("/{lang}/transcripts/")), "{link}");
            assert!(
                resolves(&site.out, path),
                "{lang}/atom.xml links to {link} which was not built"
            );
        }
    }
}

#[test]
fn sitemap_has_hreflang_alternates_for_every_translated_transcript() {
    let site = build_sample();
    let xml = site.read("sitemap.xml");
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let mut checked = 0;
    for en in files(&site.out.join("en/transcripts"), "html") {
        let rel = en
            .strip_prefix(site.out.join("en"))
            .unwrap()
            .parent()
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let html = std::fs::read_to_string(&en).unwrap();
        // translated when the page declares a French alternate
        let Some(fr_url) = html
            .split("<link rel=\"alternate\" hreflang=\"fr\" href=\"")
            .nth(1)
            .map(|s| s[..s.find('"').unwrap()].to_string())
        else {
            continue;
        };
        let loc = doc
            .descendants()
            .find(|n| {
                n.has_tag_name("loc")
                    && n.text()
                        .is_some_and(|t| t.ends_with(&format!("/en/{rel}/")))
            })
            .unwrap_or_else(|| panic!("sitemap lacks /en/{rel}/"));
        let url = loc.parent().unwrap();
        let alternates: Vec<(&str, &str)> = url
            .children()
            .filter(|n| n.has_tag_name("link"))
            .map(|n| {
                (
                    n.attribute("hreflang").unwrap(),
                    n.attribute("href").unwrap(),
                )
            })
            .collect();
        assert!(
            alternates.iter().any(|(l, h)| *l == "fr"
                && h.ends_with(
                    fr_url
                        .trim_start_matches(|c| c != '/')
                        .trim_start_matches("//")
                )),
            "{rel}: {alternates:?}"
        );
        assert!(
            alternates.iter().any(|(l, _)| *l == "en"),
            "{rel}: {alternates:?}"
        );
        assert!(
            alternates.iter().any(|(l, _)| *l == "x-default"),
            "{rel}: {alternates:?}"
        );
        checked += 1;
    }
    assert!(
        checked >= 1,
        "no translated transcript found in the sample site"
    );
}

#[test]
fn catalog_lists_the_sample_video_parts() {
    let site = build_sample();
    let path = site.out.join(functions::contract::catalog::SITE_PATH);
    let catalog: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let videos = catalog["videos"].as_object().unwrap();
    assert!(!videos.is_empty());
    for (id, video) in videos {
        let parts = video["parts"].as_object().unwrap();
        assert!(parts.contains_key("full"), "{id}: {parts:?}");
        assert_eq!(parts["full"]["file"], format!("{id}/full.mp4"));
        assert!(parts["full"]["start"].is_null());
        for (key, part) in parts {
            assert_eq!(part["filename"], format!("{id}-{key}.mp4"));
            if key != "full" {
                assert!(
                    part["start"].as_u64().unwrap() < part["end"].as_u64().unwrap(),
                    "{id}/{key}"
                );
            }
        }
        // the sample media folder holds every part the catalog offers
        for key in parts.keys() {
            let file = repo_root()
                .join("content/media")
                .join(id)
                .join(format!("{key}.mp4"));
            assert!(file.is_file(), "{} missing", file.display());
        }
    }
}

#[test]
fn footnote_links_are_named_in_the_page_language() {
    let site = build_sample();
    for (lang, notes, back) in [
        ("en", "Notes", "Back to the text"),
        ("fr", "Notes", "Retour au texte"),
    ] {
        let html = site.read(&format!(
            "{lang}/transcripts/2018/04/26/pre-ministerial-press-conference/index.html"
        ));
        assert!(
            html.contains(&format!("role=\"doc-endnotes\" aria-label=\"{notes}\"")),
            "{lang}"
        );
        assert!(
            html.contains(&format!("role=\"doc-backlink\" aria-label=\"{back}\"")),
            "{lang}"
        );
    }
}

/// The CDN serves `/404.html` for every missing path, whatever the reader's language: it says
/// "not found" in each language, each part marked with its `lang`.
#[test]
fn the_site_wide_404_page_speaks_every_language() {
    let site = build_sample();
    let root = site.read("404.html");
    assert!(root.contains("<html lang=\"en\""), "default language first");
    assert!(root.contains("<section class=\"not-found-other\" lang=\"fr\" dir=\"ltr\">"));
    assert!(root.contains("Page introuvable") && root.contains("href=\"/fr/\""));
    let fr = site.read("fr/404.html");
    assert!(
        !fr.contains("not-found-other"),
        "a language's own 404 page stays in its language"
    );
}

/// The navigation marks where the reader is: `aria-current="page"` on the link to this very page,
/// `aria-current="true"` on the link to the part of the site the page is in, nothing elsewhere.
#[test]
fn the_navigation_marks_the_current_page_and_section() {
    let site = build_sample();
    let nav = |rel: &str| {
        let html = site.read(rel);
        let start = html.find("<nav class=\"site-nav\"").expect(rel);
        let end = start + html[start..].find("</nav>").unwrap();
        html[start..end].to_string()
    };
    let topics = nav("fr/topics/index.html");
    assert!(
        topics.contains("<a href=\"/fr/topics/\" aria-current=\"page\">Thèmes</a>"),
        "{topics}"
    );
    assert_eq!(topics.matches("aria-current").count(), 1, "{topics}");
    let topic = nav("fr/topics/russia/index.html");
    assert!(
        topic.contains("<a href=\"/fr/topics/\" aria-current=\"true\">Thèmes</a>"),
        "{topic}"
    );
    let home = nav("en/index.html");
    assert!(
        home.contains("<a href=\"/en/\" aria-current=\"page\">"),
        "{home}"
    );
    let transcript = nav("en/transcripts/2018/04/26/pre-ministerial-press-conference/index.html");
    assert!(!transcript.contains("aria-current"), "{transcript}");
}

/// A page missing in a language tells that language's readers so in their language, marked with
/// its `lang`, and links to its home; the switcher's entries speak the language they link to.
#[test]
fn a_missing_translation_is_announced_in_the_missing_language() {
    let site = build_sample();
    let fr_only =
        site.read("fr/transcripts/2018/12/03/point-de-presse-securite-maritime/index.html");
    assert!(
        fr_only.contains(
            "<p class=\"notice\" role=\"note\" lang=\"en\" dir=\"ltr\">This page does not exist in English. \
             <a href=\"/en/\" hreflang=\"en\">Go to the English home page</a></p>"
        ),
        "{fr_only}"
    );
    assert!(!fr_only.contains("Cette page n’existe pas"), "{fr_only}");
    // the switcher's entry says so to sight too (phones show no `title`)
    assert!(
        fr_only.contains(
            "data-unavailable>English <small aria-hidden=\"true\">(home page)</small></a>"
        ),
        "{fr_only}"
    );
    let en_only =
        site.read("en/transcripts/2018/11/12/statement-western-balkans-partners/index.html");
    assert!(
        en_only.contains("lang=\"fr\" dir=\"ltr\">Cette page n’existe pas en français. <a href=\"/fr/\" hreflang=\"fr\">Aller à l’accueil en français</a>"),
        "{en_only}"
    );
    assert!(
        en_only.contains(
            "data-unavailable>Français <small aria-hidden=\"true\">(accueil)</small></a>"
        ),
        "{en_only}"
    );
    let both = site.read("fr/transcripts/2018/04/26/pre-ministerial-press-conference/index.html");
    assert!(
        both.contains("lang=\"en\" title=\"Read this page in English\">English</a>"),
        "{both}"
    );
    assert!(
        !both.contains("class=\"notice\" role=\"note\""),
        "translated: no notice"
    );
}

/// The delivery badge says what the status means in each language ("as delivered" is not "check
/// against delivery").
#[test]
fn the_delivery_status_reads_right_in_french() {
    let site = build_sample();
    let page = |lang: &str| {
        site.read(&format!(
            "{lang}/transcripts/2018/04/26/pre-ministerial-press-conference/index.html"
        ))
    };
    assert!(page("en").contains("data-delivery=\"as-delivered\">As delivered</span>"));
    assert!(page("fr").contains("data-delivery=\"as-delivered\">Texte tel que prononcé</span>"));
}

/// What a reader sees of a page: its text without tags, scripts and styles.
fn visible_text(html: &str) -> String {
    let mut rest = html;
    let mut text = String::new();
    while let Some(open) = rest.find('<') {
        text.push_str(&rest[..open]);
        rest = &rest[open..];
        let end_of = |closing: &str| rest.find(closing).map(|i| i + closing.len());
        let skip = if rest.starts_with("<script") {
            end_of("</script>")
        } else if rest.starts_with("<style") {
            end_of("</style>")
        } else {
            end_of(">")
        };
        rest = &rest[skip.unwrap_or(rest.len())..];
    }
    text.push_str(rest);
    text
}

#[test]
fn french_pages_never_start_a_line_with_a_mark() {
    let site = build_sample();
    let french = files(&site.out.join("fr"), "html");
    assert!(french.len() > 10, "{} French pages", french.len());
    let mut found = Vec::new();
    for page in &french {
        let text = visible_text(&std::fs::read_to_string(page).unwrap());
        for bad in [" ?", " !", " ;", " :", " »", "« ", "“", "”"] {
            if let Some(at) = text.find(bad) {
                let from = text[..at]
                    .char_indices()
                    .rev()
                    .nth(30)
                    .map_or(0, |(i, _)| i);
                found.push(format!(
                    "{}: {bad:?} in …{}",
                    page.display(),
                    &text[from..at + bad.len()]
                ));
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
    // the seed's questions, typed with ordinary spaces, keep their mark on the line
    let seed = site.read("fr/transcripts/2018/04/26/pre-ministerial-press-conference/index.html");
    assert!(
        seed.contains("\u{202f}?"),
        "no narrow no-break space before a question mark"
    );
}

/// The `<article>` of a built transcript page: the transcript as readers get it (facts, video and
/// downloads, the text with its turns, timecodes, lists, notes and typography), without the
/// site's header and footer.
fn article(page: &str) -> &str {
    let start = page.find("<article").expect("an <article>");
    let end = page.find("</article>").expect("a </article>") + "</article>".len();
    &page[start..end]
}

// Pin the published seed transcript in both languages, so any change to what readers get of it
// (markup, labels, French spacing) shows up in review.
#[test]
fn seed_transcript_as_published_in_english() {
    let site = build_sample();
    let page = site.read("en/transcripts/2018/04/26/pre-ministerial-press-conference/index.html");
    insta::assert_snapshot!(article(&page));
}

#[test]
fn seed_transcript_as_published_in_french() {
    let site = build_sample();
    let page = site.read("fr/transcripts/2018/04/26/pre-ministerial-press-conference/index.html");
    insta::assert_snapshot!(article(&page));
}

/// The built file a URL of the site is served from (`…/en/` → `en/index.html`).
fn file_of(out: &Path, base_url: &str, url: &str) -> PathBuf {
    let path = url
        .strip_prefix(base_url)
        .unwrap_or_else(|| panic!("{url} is not under {base_url}"));
    let rel = path.trim_start_matches('/');
    if rel.is_empty() || rel.ends_with('/') {
        out.join(rel).join("index.html")
    } else {
        out.join(rel)
    }
}

#[test]
fn the_sitemap_lists_indexable_pages_whose_alternates_link_back() {
    let site = build_sample();
    let config = std::fs::read_to_string(repo_root().join("pressroom.toml")).unwrap();
    let base_url = config
        .lines()
        .find_map(|l| l.strip_prefix("base_url = \""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("pressroom.toml sets base_url");
    let xml = site.read("sitemap.xml");
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let urls: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("url"))
        .collect();
    assert!(urls.len() > 20, "{} URLs", urls.len());
    let mut alternates = 0;
    for url in urls {
        let loc = url
            .children()
            .find(|n| n.has_tag_name("loc"))
            .and_then(|n| n.text())
            .expect("every <url> has a <loc>");
        let page = std::fs::read_to_string(file_of(&site.out, base_url, loc))
            .unwrap_or_else(|e| panic!("{loc}: {e}"));
        assert!(
            !page.contains("content=\"noindex\""),
            "{loc} is in the sitemap but asks not to be indexed"
        );
        for link in url.children().filter(|n| n.has_tag_name("link")) {
            let (lang, href) = (
                link.attribute("hreflang").unwrap(),
                link.attribute("href").unwrap(),
            );
            let other = std::fs::read_to_string(file_of(&site.out, base_url, href))
                .unwrap_or_else(|e| panic!("{loc}: alternate {lang} {href}: {e}"));
            if lang != "x-default" {
                assert!(
                    other.contains(&format!("hreflang=\"{lang}\" href=\"{href}\"")),
                    "{href} does not name itself as {lang}"
                );
            }
            assert!(
                other.contains(&format!("href=\"{loc}\"")),
                "{loc}'s alternate {href} does not link back"
            );
            alternates += 1;
        }
    }
    assert!(alternates > 20, "{alternates} alternates");
}
