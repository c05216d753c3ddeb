//! Whole-site builds of the fixture sites: the valid site produces every page the theme
//! contract promises, and each broken site under `fixtures/invalid/` fails with an error that
//! names the file and the line, leaving the previous output untouched.

use std::path::{Path, PathBuf};

use generator::check::check;
use generator::site::{build, BuildOptions};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let dest = to.join(entry.path().strip_prefix(from).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
        } else {
            std::fs::copy(entry.path(), &dest).unwrap();
        }
    }
}

/// A copy of the valid fixture site, with the files of `invalid/<overlay>` laid over it.
fn site(overlay: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&fixtures().join("valid"), dir.path());
    if let Some(name) = overlay {
        copy_tree(&fixtures().join("invalid").join(name), dir.path());
    }
    dir
}

fn read(root: &Path, rel: &str) -> String {
    std::fs::read_to_string(root.join("public").join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn build_error(overlay: &str) -> String {
    failed_build(site(Some(overlay)).path())
}

/// The errors of a build of `root` that must fail, having published nothing.
fn failed_build(root: &Path) -> String {
    let err = build(&BuildOptions::new(root)).expect_err("the build must fail");
    assert!(!root.join("public").exists(), "nothing published");
    err.to_string()
}

#[test]
fn valid_site_builds_every_page() {
    let dir = site(None);
    let root = dir.path();
    let report = build(&BuildOptions::new(root)).unwrap();
    assert_eq!(report.languages, 2);
    assert_eq!(report.transcripts, 4, "the draft is left out");
    assert!(report.to_string().starts_with("built "), "{report}");

    let en = read(root, "en/transcripts/2018/04/26/pre-ministerial/index.html");
    assert!(en.contains("<html lang=\"en\" dir=\"ltr\">"));
    assert!(en.contains("26 April 2018"));
    assert!(en.contains("<a href=\"/en/speakers/jens-stoltenberg/\">Jens Stoltenberg</a>"));
    assert!(en.contains("<b class=\"speaker\">Q:</b>"));
    // no preview in the media folder: no player, so timecodes are times, not links to nowhere
    assert!(en.contains("<span class=\"timecode\"><time datetime=\"PT5S\">"));
    assert!(!en.contains("href=\"#t="), "a seek link without a player");
    assert!(en.contains("<img src=\"/media/sg-2018-04-26/poster.jpg\""));
    assert!(en.contains("<span class=\"part\" data-key=\"opening\">00:00:00–00:09:41</span>"));
    assert!(en.contains("<p class=\"source\">content/en/2018/pre-ministerial.md</p>"));
    // translation linking: alternates both ways, switcher available
    assert!(en.contains("hreflang=\"fr\" href=\"/fr/transcripts/2018/04/26/pre-ministerial/\""));
    let fr = read(root, "fr/transcripts/2018/04/26/pre-ministerial/index.html");
    assert!(fr.contains("26 avril 2018"));
    assert!(fr.contains("Conférence de presse"));
    assert!(fr.contains("<a class=\"switch\" href=\"/en/transcripts/2018/04/26/pre-ministerial/\" hreflang=\"en\">English</a>"));
    // an untranslated transcript: the switcher points to the French home, marked unavailable
    let doorstep = read(root, "en/transcripts/2018/04/27/doorstep/index.html");
    assert!(
        doorstep.contains("<a class=\"switch unavailable\" href=\"/fr/\" hreflang=\"fr\">"),
        "{doorstep}"
    );
    // date in its own offset: 18:00 at -05:00 is still the 15th
    assert!(root
        .join("public/en/transcripts/2019/01/15/speech/index.html")
        .exists());

    // with a preview (WebM here), the page plays it and the timecodes seek it
    std::fs::write(
        root.join("content/media/sg-2018-04-26/preview.webm"),
        "stand-in",
    )
    .unwrap();
    build(&BuildOptions::new(root)).unwrap();
    let en = read(root, "en/transcripts/2018/04/26/pre-ministerial/index.html");
    assert!(
        en.contains("<video src=\"/media/sg-2018-04-26/preview.webm\" data-type=\"video/webm\">")
    );
    assert!(en.contains("<a class=\"timecode\" href=\"#t=5\" data-t=\"5\">"));
    assert!(root
        .join("public/media/sg-2018-04-26/preview.webm")
        .exists());
}

#[test]
fn listings_paginate_and_fall_back() {
    let dir = site(None);
    let root = dir.path();
    build(&BuildOptions::new(root)).unwrap();
    let home = read(root, "en/index.html");
    // newest first, two per page
    let speech = home.find("/en/transcripts/2019/01/15/speech/").unwrap();
    let doorstep = home.find("/en/transcripts/2018/04/27/doorstep/").unwrap();
    assert!(speech < doorstep);
    assert!(home.contains("<a rel=\"next\" href=\"/en/page/2/\">Page 2</a>"));
    let page2 = read(root, "en/page/2/index.html");
    assert!(page2.contains("pre-ministerial") && page2.contains("rel=\"prev\" href=\"/en/\""));
    // the French strings lack `pagination.page`: the English one is used (fallback)
    assert!(read(root, "fr/index.html").contains("Accueil"));
    assert!(read(root, "en/topics/index.html")
        .contains("<a href=\"/en/topics/russia/\">Russia</a> (2)"));
    assert!(read(root, "fr/topics/russia/index.html").contains("<h1>Russie</h1>"));
    assert!(
        read(root, "en/speakers/jens-stoltenberg/page/2/index.html").contains("Jens Stoltenberg")
    );
    assert!(read(root, "fr/speakers/index.html").contains("(1)"));
    assert!(read(root, "en/account/signin/index.html")
        .contains("data-min=\"12\" data-policy=\"composition\""));
    assert!(read(root, "index.html").contains("href=\"/fr/\""));
    assert!(read(root, "404.html").contains("Page not found"));
    assert!(read(root, "fr/404.html").contains("Page introuvable"));
}

#[test]
fn feeds_sitemap_assets_and_catalog() {
    let dir = site(None);
    let root = dir.path();
    build(&BuildOptions::new(root)).unwrap();
    let atom = read(root, "fr/atom.xml");
    assert!(atom.contains("<id>https://press.example.org/fr/atom.xml</id>"));
    assert_eq!(atom.matches("<entry>").count(), 1);

    let sitemap = read(root, "sitemap.xml");
    assert!(sitemap.contains(
        "<loc>https://press.example.org/en/transcripts/2018/04/26/pre-ministerial/</loc>"
    ));
    assert!(sitemap.contains("hreflang=\"fr\" href=\"https://press.example.org/fr/transcripts/2018/04/26/pre-ministerial/\""));
    // x-default: a page's default-language version, the root page for the homes; the same in
    // each page's head as in the sitemap
    let transcript_default = "hreflang=\"x-default\" href=\"https://press.example.org/en/transcripts/2018/04/26/pre-ministerial/\"";
    assert!(sitemap.contains(transcript_default), "{sitemap}");
    let home_default = "hreflang=\"x-default\" href=\"https://press.example.org/\"";
    assert!(sitemap.contains(home_default), "{sitemap}");
    assert!(
        sitemap.contains("<loc>https://press.example.org/</loc>"),
        "{sitemap}"
    );
    // (the mini theme prints the alternates' paths, without the origin)
    let fr_transcript = read(root, "fr/transcripts/2018/04/26/pre-ministerial/index.html");
    assert!(
        fr_transcript.contains(
            "hreflang=\"x-default\" href=\"/en/transcripts/2018/04/26/pre-ministerial/\""
        ),
        "{fr_transcript}"
    );
    let fr_home = read(root, "fr/index.html");
    assert!(
        fr_home.contains("hreflang=\"x-default\" href=\"/\""),
        "{fr_home}"
    );
    let robots = read(root, "robots.txt");
    assert!(
        robots.contains("Sitemap: https://press.example.org/sitemap.xml"),
        "{robots}"
    );
    assert!(robots.contains("\nDisallow: /api/\n"), "{robots}");

    // fingerprinted assets, referenced from pages
    let css: Vec<String> = std::fs::read_dir(root.join("public"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("app.") && n.ends_with(".css"))
        .collect();
    assert_eq!(css.len(), 1, "{css:?}");
    assert_eq!(css[0].len(), "app.12345678.css".len());
    assert!(read(root, "en/index.html").contains(&format!("href=\"/{}\"", css[0])));
    assert!(root.join("public/img/logo.svg").exists());
    assert!(root.join("public/media/sg-2018-04-26/poster.jpg").exists());

    let catalog: serde_json::Value =
        serde_json::from_str(&read(root, "_pressroom/videos.json")).unwrap();
    assert_eq!(
        catalog,
        serde_json::json!({"videos": {"sg-2018-04-26": {
            "title": "Pre-ministerial press conference",
            "parts": {
                "full": {"file": "sg-2018-04-26/full.mp4", "filename": "sg-2018-04-26-full.mp4", "start": null, "end": null},
                "opening": {"file": "sg-2018-04-26/opening.mp4", "filename": "sg-2018-04-26-opening.mp4", "start": 0, "end": 581}
            }
        }}})
    );
}

#[test]
fn drafts_are_built_on_request() {
    let dir = site(None);
    let mut options = BuildOptions::new(dir.path());
    options.drafts = true;
    let report = build(&options).unwrap();
    assert_eq!(report.transcripts, 5);
    assert!(dir
        .path()
        .join("public/en/transcripts/2019/02/01/draft/index.html")
        .exists());

    // a link to the draft is named as one, and fine when drafts are built
    let doorstep = dir.path().join("content/en/2018/doorstep.md");
    let mut text = std::fs::read_to_string(&doorstep).unwrap();
    text.push_str("\nSee [the draft](/en/transcripts/2019/02/01/draft/).\n");
    std::fs::write(&doorstep, text).unwrap();
    build(&options).unwrap();
    let e = build(&BuildOptions::new(dir.path()))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("link to /en/transcripts/2019/02/01/draft/, a draft this build leaves out\n  hint: publish it (remove `draft = true` from content/en/2019/draft.md)"),
        "{e}"
    );
}

#[test]
fn malformed_toml_is_located() {
    let e = build_error("malformed_toml");
    assert!(e.contains("content/en/bad.md:2:"), "{e}");
    assert!(e.contains("hint:"), "{e}");
}

#[test]
fn a_file_that_is_not_utf8_is_located() {
    let dir = site(None);
    // "Café" saved as Latin-1, the way an old editor might
    std::fs::write(
        dir.path().join("content/en/latin1.md"),
        b"+++\ntitle = \"Caf\xe9\"\n+++\n",
    )
    .unwrap();
    let e = failed_build(dir.path());
    assert!(
        e.contains("content/en/latin1.md:2:13: this file is not UTF-8 text (byte 0xE9)"),
        "{e}"
    );
    assert!(e.contains("hint: save it as UTF-8"), "{e}");
}

#[test]
fn unknown_field_suggests_the_right_one() {
    let e = build_error("unknown_field");
    assert!(
        e.contains("content/en/typo.md:5:1: unknown field `speakrs`"),
        "{e}"
    );
    assert!(e.contains("did you mean `speakers`?"), "{e}");
}

#[test]
fn missing_field_is_named() {
    let e = build_error("missing_field");
    assert!(
        e.contains("content/en/no-date.md:2:1: missing field `date`"),
        "{e}"
    );
}

#[test]
fn date_without_offset_is_rejected() {
    let e = build_error("no_offset");
    assert!(
        e.contains("content/en/local.md:4:8: date `2018-04-26T10:30:00` has no time zone offset"),
        "{e}"
    );
}

#[test]
fn duplicate_url_names_both_files() {
    let e = build_error("duplicate_url");
    let both = "two transcripts have the URL /en/transcripts/2018/04/27/doorstep/: content/en/2018/doorstep-copy.md and content/en/2018/doorstep.md";
    assert!(
        e.contains(&format!("content/en/2018/doorstep.md:3:1: {both}")),
        "{e}"
    );
    assert!(
        e.contains(&format!("content/en/2018/doorstep-copy.md:5:1: {both}")),
        "{e}"
    );
}

#[test]
fn a_footnote_without_its_note_is_located() {
    let e = build_error("undefined_footnote");
    assert!(
        e.contains("content/en/notes.md:8:35: footnote [^2] has no note\n  hint: add the note on a line of its own, `[^2]: …`, or remove the reference"),
        "{e}"
    );
    assert!(!e.contains("[^1]"), "{e}");
}

#[test]
fn dead_internal_link_is_located() {
    let e = build_error("dead_link");
    assert!(e.contains("content/en/links.md:8:3: link to /en/transcripts/2018/04/28/doorstep/ but the site has no such page"), "{e}");
    assert!(
        e.contains("did you mean /en/transcripts/2018/04/27/doorstep/?"),
        "{e}"
    );
    // a link on the site's own origin, and a relative one, are checked alike
    assert!(e.contains("content/en/links.md:10:51: link to /en/transcripts/2018/04/29/doorstep/ but the site has no such page"), "{e}");
    assert!(e.contains("content/en/links.md:12:5: link to /en/transcripts/2018/05/01/links/doorstep.md but the site has no such page\n  hint: link to the page's URL"), "{e}");
    assert_eq!(
        e.matches("no such page").count(),
        3,
        "the good links pass: {e}"
    );
}

#[test]
fn a_timecode_past_the_end_of_the_video_is_located() {
    let dir = site(None);
    let file = dir.path().join("content/en/2018/pre-ministerial.md");
    let text = std::fs::read_to_string(&file).unwrap();
    let text = text.replacen("[00:00:05] Good", "[00:25:04] Good", 1) + "\n[01:45:00] Late.\n";
    std::fs::write(&file, &text).unwrap();
    let e = failed_build(dir.path());
    let line = text
        .lines()
        .position(|l| l.starts_with("[01:45:00]"))
        .unwrap()
        + 1;
    assert!(
        e.contains(&format!("content/en/2018/pre-ministerial.md:{line}:1: timecode 01:45:00 is past the end of the video (00:25:04)")),
        "{e}"
    );
    assert!(
        e.ends_with("build failed: 1 error"),
        "the last second is in the video: {e}"
    );
}

#[test]
fn markdown_the_build_would_not_read_is_an_error_not_a_silent_skip() {
    let dir = site(None);
    let content = dir.path().join("content");
    let text =
        "+++\ntitle = \"Loose\"\ndate = 2018-05-01T10:00:00+02:00\nkind = \"speech\"\n+++\nText.\n";
    std::fs::write(content.join("briefing.md"), text).unwrap();
    std::fs::write(content.join("README.md"), "For authors.").unwrap();
    std::fs::write(content.join("en/2018/Shouted.MD"), text).unwrap();
    std::fs::write(content.join("en/2018/long.markdown"), text).unwrap();
    let e = failed_build(dir.path());
    assert!(e.contains("content/briefing.md: a transcript outside a language folder is not read\n  hint: move it into its language's folder, e.g. content/en/briefing.md"), "{e}");
    assert!(e.contains("content/en/2018/Shouted.MD: not read: transcripts are files ending in `.md`\n  hint: rename it to Shouted.md"), "{e}");
    assert!(e.contains("content/en/2018/long.markdown: not read"), "{e}");
    assert!(
        e.ends_with("build failed: 3 errors"),
        "README.md is left alone: {e}"
    );
}

#[test]
fn unknown_topic_suggests() {
    let e = build_error("unknown_topic");
    assert!(
        e.contains("content/en/topic.md:5:21: unknown topic `rusia`"),
        "{e}"
    );
    assert!(e.contains("did you mean `russia`?"), "{e}");
}

#[test]
fn a_broken_topics_file_is_one_error_not_one_per_topic() {
    let e = build_error("broken_topics");
    assert!(e.contains("content/topics.toml:3:"), "{e}");
    assert!(!e.contains("unknown topic"), "{e}");
    assert!(e.ends_with("build failed: 1 error"), "{e}");
}

#[test]
fn unconfigured_language_folder_is_reported() {
    let e = build_error("unknown_language");
    assert!(
        e.contains("content/de: folder `de` is not a configured language"),
        "{e}"
    );
}

#[test]
fn template_error_names_template_and_line() {
    let e = build_error("template_error");
    assert!(e.contains("themes/mini/templates/speakers.html:4:"), "{e}");
    assert!(
        e.contains("translation key `speakers.intro` is missing"),
        "{e}"
    );
}

#[test]
fn all_errors_are_reported_together_sorted() {
    let dir = site(Some("unknown_field"));
    copy_tree(&fixtures().join("invalid/no_offset"), dir.path());
    copy_tree(&fixtures().join("invalid/malformed_toml"), dir.path());
    copy_tree(&fixtures().join("invalid/template_error"), dir.path());
    let e = build(&BuildOptions::new(dir.path())).unwrap_err();
    assert_eq!(e.len(), 4, "content and template errors together: {e}");
    let files: Vec<String> = e
        .diagnostics()
        .iter()
        .map(|d| d.path.display().to_string())
        .collect();
    assert_eq!(
        files,
        [
            "content/en/bad.md",
            "content/en/local.md",
            "content/en/typo.md",
            "themes/mini/templates/speakers.html"
        ]
    );
    assert!(e.to_string().ends_with("build failed: 4 errors"));
}

#[test]
fn failed_build_leaves_previous_output_untouched() {
    let dir = site(None);
    build(&BuildOptions::new(dir.path())).unwrap();
    let before = read(dir.path(), "en/index.html");
    copy_tree(&fixtures().join("invalid/dead_link"), dir.path());
    build(&BuildOptions::new(dir.path())).unwrap_err();
    assert_eq!(read(dir.path(), "en/index.html"), before);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temporary folders left: {leftovers:?}"
    );
}

#[test]
fn a_build_never_replaces_a_folder_it_did_not_make() {
    let dir = site(None);
    let root = dir.path();
    let documents = tempfile::tempdir().unwrap();
    std::fs::write(documents.path().join("notes.txt"), "mine").unwrap();
    let outside = documents.path().to_path_buf();
    let cases = [
        (outside.clone(), "is not a site pressroom built"),
        (root.to_path_buf(), "holds the site's sources"),
        (root.join(".."), "holds the site's sources"),
        (root.join("content/public"), "inside the site's `content/`"),
        (outside.join("notes.txt"), "is a file"),
    ];
    for (out, why) in cases {
        let options = BuildOptions {
            out: Some(out.clone()),
            ..BuildOptions::new(root)
        };
        let message = build(&options)
            .expect_err("the build must refuse")
            .to_string();
        assert!(message.contains(why), "{}: {message}", out.display());
        assert!(
            message.contains("build into a new or empty folder (`pressroom build --out DIR`)"),
            "{message}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(outside.join("notes.txt")).unwrap(),
        "mine"
    );
    assert!(root.join("pressroom.toml").is_file() && root.join("content/en").is_dir());
    assert!(!root.join("content/public").exists());

    // a new folder, an empty one, and one a build made are all fine, the last one again
    let empty = tempfile::tempdir().unwrap();
    for out in [
        outside.join("site"),
        empty.path().to_path_buf(),
        outside.join("site"),
    ] {
        let options = BuildOptions {
            out: Some(out.clone()),
            ..BuildOptions::new(root)
        };
        build(&options).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
        assert!(out.join("en/index.html").is_file());
    }
}

#[test]
fn check_lists_the_topics_a_language_has_no_name_for() {
    let dir = site(None);
    let topics = dir.path().join("content/topics.toml");
    let mut text = std::fs::read_to_string(&topics).unwrap();
    text.push_str("\n[cyber-defence]\nen = \"Cyber defence\"\n");
    std::fs::write(&topics, text).unwrap();
    let report = check(&BuildOptions::new(dir.path())).unwrap();
    assert_eq!(report.unnamed_topics["fr"], ["cyber-defence"]);
    assert!(report.unnamed_topics["en"].is_empty());
    assert!(!report.is_complete());
    let text = report.to_string();
    assert!(
        text.contains("fr: 1 topic has no fr name in content/topics.toml (another language's is shown):\n  [cyber-defence] fr = \"…\"\n"),
        "{text}"
    );
}

#[test]
fn check_reports_translation_gaps_without_publishing() {
    let dir = site(None);
    let report = check(&BuildOptions::new(dir.path())).unwrap();
    assert!(!dir.path().join("public").exists());
    assert!(report.missing_keys["fr"].contains(&"pagination.page".to_string()));
    assert!(report.missing_keys["en"].is_empty());
    let gaps: Vec<(PathBuf, &str)> = report.untranslated["fr"]
        .iter()
        .map(|g| (g.source.clone(), g.write.as_str()))
        .collect();
    assert_eq!(
        gaps,
        [
            (
                PathBuf::from("content/en/2018/doorstep.md"),
                "content/fr/2018/doorstep.md"
            ),
            (
                PathBuf::from("content/en/2019/speech.md"),
                "content/fr/2019/speech.md"
            )
        ]
    );
    assert!(report.untranslated["en"].is_empty());
    let text = report.to_string();
    assert!(
        text.contains(
            "fr: 2 transcripts have no fr version; write\n  \
             content/fr/2018/doorstep.md  (from content/en/2018/doorstep.md)\n"
        ),
        "{text}"
    );

    // a key set by hand: the new file may go anywhere, but must carry the same key
    let doorstep = dir.path().join("content/en/2018/doorstep.md");
    let text = std::fs::read_to_string(&doorstep).unwrap();
    let keyed = text.replacen("+++\n", "+++\ntranslation_key = \"doorstep-2018\"\n", 1);
    std::fs::write(&doorstep, keyed).unwrap();
    let report = check(&BuildOptions::new(dir.path())).unwrap();
    assert_eq!(
        report.untranslated["fr"][0].write,
        "content/fr/….md with translation_key = \"doorstep-2018\""
    );
}

#[test]
fn cli_prints_a_summary_or_every_error_and_exits_non_zero() {
    let dir = site(None);
    let ok = std::process::Command::new(env!("CARGO_BIN_EXE_pressroom"))
        .args(["build", "--root"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(
        stdout.starts_with("built ") && stdout.contains("in 2 languages"),
        "{stdout}"
    );

    // a reader that stops early is no error (a panic on the closed pipe was)
    let mut check = std::process::Command::new(env!("CARGO_BIN_EXE_pressroom"))
        .args(["check", "--root"])
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(check.stdout.take());
    let closed = check.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&closed.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(closed.status.success(), "{stderr}");

    copy_tree(&fixtures().join("invalid/unknown_field"), dir.path());
    let failed = std::process::Command::new(env!("CARGO_BIN_EXE_pressroom"))
        .args(["check", "--root"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(failed.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(
        stderr.starts_with(
            "content/en/typo.md:5:1: unknown field `speakrs`\n  hint: did you mean `speakers`?"
        ),
        "{stderr}"
    );
    assert!(
        stderr.trim_end().ends_with("build failed: 1 error"),
        "{stderr}"
    );
}

/// `bench --runs` builds the corpus as processes and compares with another binary run by run
/// (here the same binary, which is all a test has); a bad `--against` stops it before any
/// corpus is written.
#[test]
fn bench_runs_time_build_processes_and_pair_them() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    let theme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../themes/default");
    let pressroom = env!("CARGO_BIN_EXE_pressroom");
    let bench = |extra: &[&str]| {
        std::process::Command::new(pressroom)
            .args(["bench", "--transcripts", "4", "--no-search", "--theme"])
            .arg(&theme)
            .arg("--keep")
            .arg(&corpus)
            .args(extra)
            .output()
            .unwrap()
    };

    let refused = bench(&["--against", pressroom]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("--against needs --runs N"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let refused = bench(&["--over-previous"]);
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("--over-previous needs --runs N"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let refused = bench(&["--runs", "2", "--against", "no/such/pressroom"]);
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("no binary at no/such/pressroom"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(
        !corpus.exists(),
        "nothing is written before the arguments are checked"
    );

    let ran = bench(&["--runs", "2", "--against", pressroom]);
    let stderr = String::from_utf8_lossy(&ran.stderr);
    assert!(ran.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&ran.stdout);
    assert!(
        stdout.contains("pages), 2 runs of each binary, each its own process into a fresh folder"),
        "{stdout}"
    );
    assert_eq!(stderr.matches("as a process, run").count(), 2, "{stderr}");
    let row = stdout
        .lines()
        .find(|l| l.starts_with("this one "))
        .unwrap_or_else(|| panic!("{stdout}"));
    if cfg!(target_os = "linux") {
        assert!(row.ends_with(" MiB"), "a peak memory in {row}");
    }
    assert!(
        stdout.contains(&format!("this one ÷ {pressroom}, paired medians: wall ")),
        "{stdout}"
    );
    assert!(
        stdout.contains("peak RSS ") && stdout.contains("(lower in "),
        "{stdout}"
    );
    assert!(
        !corpus.join("bench-runs").exists(),
        "the runs' output is removed"
    );
    assert!(corpus.join("public/index.html").is_file());

    // a rebuild: each run writes over the site the run before left, the first over an untimed one
    let ran = bench(&["--runs", "1", "--over-previous"]);
    let stderr = String::from_utf8_lossy(&ran.stderr);
    assert!(ran.status.success(), "{stderr}");
    assert!(
        stderr.contains("the site the first run writes over"),
        "{stderr}"
    );
    assert_eq!(stderr.matches("as a process, run").count(), 1, "{stderr}");
    let stdout = String::from_utf8_lossy(&ran.stdout);
    assert!(
        stdout.contains("pages), 1 runs, each its own process over the site of the build before:"),
        "{stdout}"
    );
    assert!(!corpus.join("bench-runs").exists(), "{stdout}");
}

#[test]
fn a_download_without_its_file_or_a_missing_poster_is_located() {
    let e = build_error("missing_part");
    assert!(
        e.contains("content/en/2018/clip.md:15:1: video part `answer` has no file: content/media/clip-2018-05-03/answer.mp4 is missing\n  hint: add the file, or remove the part from [[video.parts]] until it is ready"),
        "{e}"
    );
    assert!(
        e.contains("content/en/2018/clip.md:9:1: video poster `still.jpg` not found in content/media/clip-2018-05-03"),
        "{e}"
    );
    assert!(!e.contains("`full`"), "full.mp4 is there: {e}");
}

#[test]
fn translations_must_describe_the_same_video() {
    let e = build_error("video_mismatch");
    assert!(
        e.contains("content/fr/2018/pre-ministerial.md:8:1: video `sg-2018-04-26` has other parts or duration than in content/en/2018/pre-ministerial.md"),
        "{e}"
    );
}

/// `serve` keeps the site loaded: an edit to what a transcript says re-renders only the pages
/// that show it, in place; an edit that moves it (here: its date) is a full build; a broken
/// edit writes nothing.
#[test]
fn live_site_updates_only_the_pages_an_edit_touches() {
    use generator::site::{LiveSite, Update};
    let dir = site(None);
    let root = dir.path();
    let (mut live, _) = LiveSite::build(BuildOptions::new(root)).unwrap();
    let source = root.join("content/en/2018/pre-ministerial.md");
    let page = "en/transcripts/2018/04/26/pre-ministerial/index.html";
    let untouched = root.join("public/en/transcripts/2019/01/15/speech/index.html");
    let untouched_before = std::fs::metadata(&untouched).unwrap().modified().unwrap();
    let original = std::fs::read_to_string(&source).unwrap();
    // listings have 2 per page here: the transcript is on page 1 or 2 of each
    let listed = |base: &str, title: &str| {
        [
            format!("{base}index.html"),
            format!("{base}page/2/index.html"),
        ]
        .iter()
        .any(|p| root.join("public").join(p).exists() && read(root, p).contains(title))
    };
    for base in ["en/", "en/topics/russia/", "en/speakers/jens-stoltenberg/"] {
        assert!(listed(base, "Pre-ministerial press conference"), "{base}");
    }

    // body and title: the page, its listings (home, topics, speaker) and the feed
    let edited = original
        .replace(
            "Pre-ministerial press conference",
            "Pre-ministerial briefing",
        )
        .replace("Good morning.", "Good morning, everyone.");
    std::fs::write(&source, &edited).unwrap();
    let Update::Pages { pages, .. } = live.update(std::slice::from_ref(&source)).unwrap() else {
        panic!("a text edit must not rebuild the whole site")
    };
    assert!(read(root, page).contains("Good morning, everyone."));
    for base in ["en/", "en/topics/russia/", "en/speakers/jens-stoltenberg/"] {
        assert!(listed(base, "Pre-ministerial briefing"), "{base}");
    }
    assert!(read(root, "en/atom.xml").contains("Pre-ministerial briefing"));
    // 1 transcript + home + 2 topics + 1 speaker + feed
    assert_eq!(pages, 6);
    assert_eq!(
        std::fs::metadata(&untouched).unwrap().modified().unwrap(),
        untouched_before,
        "a page that doesn't show the transcript is not rewritten"
    );

    // a page takes its body when it renders: the next edit renders the page with its new body
    std::fs::write(
        &source,
        edited.replace("Good morning, everyone.", "Good morning, all."),
    )
    .unwrap();
    assert!(matches!(
        live.update(std::slice::from_ref(&source)).unwrap(),
        Update::Pages { .. }
    ));
    let html = read(root, page);
    assert!(html.contains("Good morning, all."), "{html}");

    // a link to a page that doesn't exist: an error naming the line, nothing written
    std::fs::write(&source, format!("{edited}\nSee [this](/en/nowhere/).\n")).unwrap();
    let err = live
        .update(std::slice::from_ref(&source))
        .unwrap_err()
        .to_string();
    assert!(err.contains("content/en/2018/pre-ministerial.md:"), "{err}");
    assert!(err.contains("/en/nowhere"), "{err}");
    assert!(!read(root, page).contains("nowhere"));

    // a new date moves the page: a full build, the old URL is gone
    std::fs::write(
        &source,
        edited.replace("2018-04-26T10:30", "2018-04-25T10:30"),
    )
    .unwrap();
    let Update::Full(report) = live.update(std::slice::from_ref(&source)).unwrap() else {
        panic!("a moved transcript needs a full build")
    };
    assert_eq!(report.transcripts, 4);
    assert!(root
        .join("public/en/transcripts/2018/04/25/pre-ministerial/index.html")
        .exists());
    assert!(!root.join("public").join(page).exists());

    // after the full build, text edits are partial again
    let moved = std::fs::read_to_string(&source).unwrap();
    std::fs::write(&source, moved.replace("Good morning, everyone.", "Hello.")).unwrap();
    assert!(matches!(
        live.update(std::slice::from_ref(&source)).unwrap(),
        Update::Pages { .. }
    ));
    assert!(read(root, "en/transcripts/2018/04/25/pre-ministerial/index.html").contains("Hello."));
}

#[test]
fn listing_cards_are_rendered_once_per_transcript_and_follow_edits() {
    use generator::site::{LiveSite, Update};
    let dir = site(None);
    let root = dir.path();
    let templates = root.join("themes/mini/templates");
    std::fs::create_dir_all(templates.join("partials")).unwrap();
    std::fs::write(
        templates.join("partials/summary.html"),
        "<article class=\"card\" lang=\"{{ lang.code }}\">{{ t.title }} · {{ trans(key=\"nav.home\") }}</article>",
    )
    .unwrap();
    std::fs::write(
        templates.join("_list.html"),
        "{% for t in transcripts %}{{ t.card | safe }}<a href=\"{{ t.url }}\">{{ t.date_display }}</a>{% endfor %}",
    )
    .unwrap();
    let (mut live, _) = LiveSite::build(BuildOptions::new(root)).unwrap();
    let card =
        "<article class=\"card\" lang=\"en\">Pre-ministerial press conference · Home</article>";
    // the newest two are on the first page of the home, the pre-ministerial on its topic page
    assert!(read(root, "en/topics/russia/index.html").contains(card));
    let fr = read(root, "fr/index.html");
    assert!(fr.contains("<article class=\"card\" lang=\"fr\">"), "{fr}");
    assert!(
        fr.contains("· Accueil</article>"),
        "cards are in the page language: {fr}"
    );

    let source = root.join("content/en/2018/pre-ministerial.md");
    let original = std::fs::read_to_string(&source).unwrap();
    std::fs::write(
        &source,
        original.replace(
            "Pre-ministerial press conference",
            "Pre-ministerial briefing",
        ),
    )
    .unwrap();
    assert!(matches!(
        live.update(std::slice::from_ref(&source)).unwrap(),
        Update::Pages { .. }
    ));
    let topic = read(root, "en/topics/russia/index.html");
    assert!(
        topic.contains(
            "<article class=\"card\" lang=\"en\">Pre-ministerial briefing · Home</article>"
        ),
        "an edit renders the card again: {topic}"
    );
    assert!(!topic.contains(card), "{topic}");

    // a broken card is one error naming the partial, not one per transcript
    std::fs::write(templates.join("partials/summary.html"), "{{ t.nope }}").unwrap();
    let e = build(&BuildOptions::new(root)).unwrap_err();
    assert_eq!(e.len(), 1, "{e}");
    assert!(
        e.to_string()
            .contains("themes/mini/templates/partials/summary.html"),
        "{e}"
    );
}
