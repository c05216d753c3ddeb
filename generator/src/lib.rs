//! Pressroom static site generator: briefing transcripts in markdown → a multilingual static site.
//!
//! Data flow: [`config`] → [`content`] (front matter, transcripts) → [`markdown`] (pure) →
//! [`templates`] (tera + `trans`) → [`site`] (the only module that writes files). [`check`] reports
//! problems without publishing; [`cli`] is the `pressroom` command line.

pub mod bench;
pub mod check;
pub mod cli;
pub mod config;
pub mod content;
pub mod deploy;
pub mod downloads;
pub mod error;
pub mod markdown;
pub mod search;
pub mod serve;
pub mod site;
pub mod templates;
