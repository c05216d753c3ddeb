//! What a build of this size costs before any template: the floor under `pressroom build`.
//!
//! ```sh
//! pressroom bench --no-search --keep DIR          # the benchmark corpus, built once into DIR/public
//! cargo run --release -p generator --example floor -- DIR
//! ```
//!
//! Two timed steps, each on every core as the build runs them:
//! 1. **load**: read every transcript under `DIR/content`, check it is UTF-8, parse its TOML front
//!    matter into a table and render its markdown to HTML with the build's options;
//! 2. **write**: write the bytes of every file of `DIR/public` (read into memory first, untimed)
//!    into a new folder, making each file's folders as the build does.
//!
//! No templates, no contexts, no checks: a build that does what `pressroom build` does cannot be
//! faster than the sum of the two on the same machine. Reading, splitting the front matter, the
//! markdown extensions and the task size are the build's own (`content::read_source`,
//! `content::split_front_matter`, `markdown::options`, `site::LEAF`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{anyhow, bail, Context};
use generator::{content, markdown, site::LEAF};
use pulldown_cmark::{html, Parser};
use rayon::prelude::*;
use walkdir::WalkDir;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let Some(dir) = std::env::args().nth(1).map(PathBuf::from) else {
        bail!("usage: floor DIR (a corpus kept by `pressroom bench --no-search --keep DIR`)");
    };
    let public = dir.join("public");
    if !public.is_dir() {
        bail!(
            "{} has no built site: run `pressroom bench --no-search --keep {}` first",
            dir.display(),
            dir.display()
        );
    }
    let files = |root: &Path, md: bool| -> Vec<PathBuf> {
        WalkDir::new(root)
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file())
            .filter(|e| !md || e.path().extension().is_some_and(|x| x == "md"))
            .map(|e| e.into_path())
            .collect()
    };
    let output: Vec<(PathBuf, Vec<u8>)> = files(&public, false)
        .into_par_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).with_context(|| format!("reading {}", p.display()))?;
            Ok((p.strip_prefix(&public)?.to_path_buf(), bytes))
        })
        .collect::<anyhow::Result<_>>()?;
    let target = dir.join("floor-out");
    let _ = std::fs::remove_dir_all(&target);

    let start = Instant::now();
    let sources = files(&dir.join("content"), true);
    let loaded: Vec<(toml::Table, String)> = sources
        .par_iter()
        .with_max_len(LEAF)
        .map(|p| {
            let rel = p.strip_prefix(&dir)?;
            let text = content::read_source(&dir, rel).map_err(|d| anyhow!("{d}"))?;
            let Some((front, _, body)) = content::split_front_matter(&text) else {
                bail!("{}: no +++ front matter", rel.display());
            };
            let front: toml::Table =
                toml::from_str(front).with_context(|| rel.display().to_string())?;
            let mut html = String::with_capacity(text.len() * 3 / 2);
            html::push_html(
                &mut html,
                Parser::new_ext(&text[body..], markdown::options()),
            );
            Ok((front, html))
        })
        .collect::<anyhow::Result<_>>()?;
    let load = start.elapsed();

    let start = Instant::now();
    output
        .par_iter()
        .with_max_len(LEAF)
        .try_for_each(|(path, bytes)| {
            let path = target.join(path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&path, bytes)
        })
        .with_context(|| format!("writing into {}", target.display()))?;
    let write = start.elapsed();

    let html: usize = loaded.iter().map(|(_, b)| b.len()).sum();
    println!(
        "{} transcripts ({} MB of HTML) loaded in {:.2} s; {} files written in {:.2} s; floor {:.2} s",
        loaded.len(),
        html / 1_000_000,
        load.as_secs_f64(),
        output.len(),
        write.as_secs_f64(),
        (load + write).as_secs_f64()
    );
    std::fs::remove_dir_all(&target).with_context(|| format!("removing {}", target.display()))
}
