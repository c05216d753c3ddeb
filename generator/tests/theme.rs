//! Rules of the default theme that no page test sees whole: its translation files hold only
//! strings something shows (a key nobody reads is a sentence translators keep up to date for
//! nothing, and a sign a template lost a string), and its stylesheets mirror for right-to-left
//! languages.

use std::path::{Path, PathBuf};

use generator::templates::I18n;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The text of every file that can read a theme string: templates, emails, scripts, and the
/// Rust sources of the generator and the functions.
fn readers() -> String {
    let root = repo_root();
    let mut text = String::new();
    for dir in [
        "themes/default/templates",
        "themes/default/emails",
        "themes/default/static",
        "generator/src",
        "functions/src",
    ] {
        for entry in walkdir::WalkDir::new(root.join(dir)) {
            let entry = entry.unwrap();
            if entry.file_type().is_file() {
                if let Ok(s) = std::fs::read_to_string(entry.path()) {
                    text.push_str(&s);
                    text.push('\n');
                }
            }
        }
    }
    text
}

/// Whether `key` is read: by its full name, as `"X." ~ …` (a computed key under `X.`), as the
/// quoted rest of an `account.` key (the account script's list), or, for `email.` keys, as
/// `t.name` in the email templates or `.get("name")` in the code that renders them.
fn is_read(key: &str, readers: &str) -> bool {
    if readers.contains(&format!("\"{key}\"")) {
        return true;
    }
    let segments: Vec<&str> = key.split('.').collect();
    for n in 1..segments.len() {
        let prefix = segments[..n].join(".");
        if readers.contains(&format!("\"{prefix}.\" ~")) {
            return true;
        }
    }
    match segments.as_slice() {
        ["account", rest @ ..] => readers.contains(&format!("\"{}\"", rest.join("."))),
        ["email", .., last] => {
            readers.contains(&format!("t.{last} "))
                || readers.contains(&format!(".get(\"{last}\")"))
        }
        _ => false,
    }
}

#[test]
fn every_string_of_the_default_theme_is_read_somewhere() {
    let readers = readers();
    let mut unread = Vec::new();
    let dir = repo_root().join("themes/default/i18n");
    let files: Vec<(&str, PathBuf, String)> = ["en", "fr"]
        .into_iter()
        .map(|lang| {
            let path = dir.join(format!("{lang}.toml"));
            let text = std::fs::read_to_string(&path).unwrap();
            (lang, path, text)
        })
        .collect();
    let i18n = I18n::parse(
        "en",
        files.iter().map(|(l, p, t)| (*l, p.clone(), t.as_str())),
    )
    .unwrap();
    for (lang, _, _) in &files {
        let all: Vec<&str> = i18n.keys_of(lang).collect();
        assert!(all.len() > 100, "{lang}: {} keys", all.len());
        unread.extend(
            all.into_iter()
                .filter(|k| !is_read(k, &readers))
                .map(|k| format!("{lang}: {k}")),
        );
    }
    assert!(
        unread.is_empty(),
        "strings nothing reads:\n{}",
        unread.join("\n")
    );
}

#[test]
fn the_check_of_unread_strings_can_fail() {
    let readers = "{{ trans(key=\"nav.home\") }} {{ trans(key=\"kind.\" ~ k) }} \"errors.network\" {{ t.intro }}";
    assert!(is_read("nav.home", readers));
    assert!(is_read("kind.speech", readers));
    assert!(is_read("account.errors.network", readers));
    assert!(is_read("email.verify.intro", readers));
    assert!(!is_read("nav.away", readers));
    assert!(!is_read("listing.read_more", readers));
}

/// `left`/`right` in a declaration of `css` (comments skipped): what a right-to-left page would
/// not mirror.
fn physical_sides(css: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = css;
    let mut text = String::new();
    while let Some(start) = rest.find("/*") {
        text.push_str(&rest[..start]);
        rest = rest[start..]
            .find("*/")
            .map_or("", |end| &rest[start + end + 2..]);
    }
    text.push_str(rest);
    for declaration in text.split([';', '{', '}']) {
        let Some((property, value)) = declaration.split_once(':') else {
            continue;
        };
        let property = property.trim();
        let sided = |w: &str| w.split('-').any(|part| part == "left" || part == "right");
        let value_sided = matches!(property, "text-align" | "float" | "clear")
            && value.split_whitespace().any(sided);
        if sided(property) || value_sided {
            found.push(declaration.trim().to_string());
        }
    }
    found
}

#[test]
fn the_stylesheets_use_logical_sides_only() {
    for file in ["app.css", "account.css"] {
        let css =
            std::fs::read_to_string(repo_root().join("themes/default/static").join(file)).unwrap();
        assert_eq!(physical_sides(&css), Vec::<String>::new(), "{file}");
    }
    assert_eq!(
        physical_sides(
            "/* left: 0 */ a { margin-left: 1rem; padding-inline-start: 0; text-align: right }"
        ),
        ["margin-left: 1rem", "text-align: right"]
    );
}
