//! Pins the rendered HTML of the sample press conference (the seed transcript) in both languages,
//! so any change to the transcript markup — turns, timecodes, bullets, footnotes — shows up in review.

use std::path::{Path, PathBuf};

use generator::markdown::render;

fn body(rel: &str) -> String {
    let path: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    // the body follows the second `+++` line
    let mut parts = text.splitn(3, "+++\n");
    parts.next();
    parts.next();
    parts.next().expect("front matter").to_string()
}

#[test]
fn seed_transcript_in_english() {
    insta::assert_snapshot!(
        render(&body(
            "content/en/2018/04/pre-ministerial-press-conference.md"
        ))
        .html
    );
}

#[test]
fn seed_transcript_in_french() {
    insta::assert_snapshot!(
        render(&body(
            "content/fr/2018/04/pre-ministerial-press-conference.md"
        ))
        .html
    );
}
