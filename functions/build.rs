//! Embeds the default theme's account emails and i18n files into the functions at compile time,
//! so a Lambda needs no theme on disk and adding a language is one new i18n file (no code):
//! every `themes/default/i18n/*.toml` and `themes/default/emails/*` found here is included.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

fn table(name: &str, dir: &Path, ext: Option<&str>) -> String {
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut s = format!("pub static {name}: &[(&str, &str)] = &[\n");
    for path in files(dir) {
        if let Some(ext) = ext {
            if path.extension().and_then(|e| e.to_str()) != Some(ext) {
                continue;
            }
        }
        println!("cargo:rerun-if-changed={}", path.display());
        let key = if ext.is_some() {
            path.file_stem()
        } else {
            path.file_name()
        }
        .and_then(|s| s.to_str())
        .expect("theme file names are UTF-8");
        let _ = writeln!(
            s,
            "    ({key:?}, include_str!({:?})),",
            path.display().to_string()
        );
    }
    s.push_str("];\n");
    s
}

fn main() {
    // read when the script runs, not baked in when it was compiled: cargo may reuse one
    // compiled script for another checkout of the workspace sharing its target folder
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it");
    let theme = Path::new(&manifest_dir).join("../themes/default");
    let mut out = String::new();
    out.push_str(&table("I18N", &theme.join("i18n"), Some("toml")));
    out.push_str(&table("EMAILS", &theme.join("emails"), None));
    let dest = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("embedded_theme.rs");
    std::fs::write(dest, out).expect("write embedded_theme.rs");
}
