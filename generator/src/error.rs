//! Build diagnostics: every problem found in a build, located at `path:line:col`, with a hint
//! saying what to do. A build collects all of them and reports them together, sorted, in the
//! ripgrep-like form authors can click in an editor or terminal.

use std::fmt;
use std::path::{Path, PathBuf};

/// One problem found while building, located in a source file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Diagnostic {
    /// File the problem is in, relative to the site root when possible.
    pub path: PathBuf,
    /// 1-based line, 0 when the problem concerns the whole file.
    pub line: usize,
    /// 1-based column (in characters), 0 when unknown.
    pub column: usize,
    /// What is wrong, lowercase, no trailing period.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

impl Diagnostic {
    /// A problem concerning a whole file.
    pub fn file(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            line: 0,
            column: 0,
            message: message.into(),
            hint: None,
        }
    }

    /// A problem at a 1-based line and column.
    pub fn at(
        path: impl Into<PathBuf>,
        line: usize,
        column: usize,
        message: impl Into<String>,
    ) -> Self {
        Self {
            path: path.into(),
            line,
            column,
            message: message.into(),
            hint: None,
        }
    }

    /// A problem at a byte offset of `source`, the text of `path`.
    pub fn at_offset(
        path: impl Into<PathBuf>,
        source: &str,
        offset: usize,
        message: impl Into<String>,
    ) -> Self {
        let (line, column) = line_col(source, offset);
        Self::at(path, line, column, message)
    }

    /// Adds the hint line.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// An I/O failure on a file.
    pub fn io(path: &Path, action: &str, error: &std::io::Error) -> Self {
        Self::file(path, format!("cannot {action}: {error}"))
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        match (self.line, self.column) {
            (0, _) => write!(f, "{path}: {}", self.message)?,
            (line, 0) => write!(f, "{path}:{line}: {}", self.message)?,
            (line, column) => write!(f, "{path}:{line}:{column}: {}", self.message)?,
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Every problem of a failed build, sorted by file, line and column.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct BuildErrors(Vec<Diagnostic>);

impl BuildErrors {
    /// Sorts and deduplicates the diagnostics.
    pub fn new(mut diagnostics: Vec<Diagnostic>) -> Self {
        diagnostics.sort();
        diagnostics.dedup();
        Self(diagnostics)
    }

    /// A failure with a single cause.
    pub fn one(diagnostic: Diagnostic) -> Self {
        Self(vec![diagnostic])
    }

    /// The diagnostics, sorted.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.0
    }

    /// Number of problems.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there is no problem (never the case for a failed build).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for BuildErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for diagnostic in &self.0 {
            writeln!(f, "{diagnostic}")?;
        }
        let n = self.0.len();
        write!(
            f,
            "build failed: {n} error{}",
            if n == 1 { "" } else { "s" }
        )
    }
}

/// 1-based line and column (in characters) of a byte offset in `source`.
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    Lines::new(source).line_col(offset)
}

/// Where the lines of a text start, found once, for the [`line_col`] of many offsets in it.
pub struct Lines<'s> {
    source: &'s str,
    /// Byte offset of each line's first byte: 0, then one past each `\n`.
    starts: Vec<usize>,
}

impl<'s> Lines<'s> {
    pub fn new(source: &'s str) -> Self {
        let starts = std::iter::once(0)
            .chain(source.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Lines { source, starts }
    }

    /// 1-based line and column (in characters) of a byte offset; one inside a character counts
    /// as that character's, one past the end as the end.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.source.len());
        while !self.source.is_char_boundary(offset) {
            offset -= 1;
        }
        // the lines starting at or before the offset: at least the first
        let line = self.starts.partition_point(|&start| start <= offset);
        let start = self.starts[line - 1];
        (line, self.source[start..offset].chars().count() + 1)
    }
}

/// The closest candidate to `word`, when one is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters_not_bytes() {
        let src = "a\nété x";
        assert_eq!(line_col(src, 0), (1, 1));
        assert_eq!(line_col(src, 2), (2, 1));
        assert_eq!(line_col(src, src.find('x').unwrap()), (2, 5));
    }

    #[test]
    fn one_index_of_lines_answers_for_every_offset() {
        let src = "+++\ntitle = \"é\"\n+++\n\nA [link](/en/x/).\n\n\nLast, «à»";
        let lines = Lines::new(src);
        // 14 is inside `é`: it counts as the `é`
        for (offset, expected) in [
            (0, (1, 1)),
            (3, (1, 4)),
            (4, (2, 1)),
            (14, (2, 10)),
            (15, (2, 11)),
            (21, (4, 1)),
            (24, (5, 3)),
            (44, (8, 3)),
            (src.len(), (8, 10)),
            (src.len() + 5, (8, 10)),
        ] {
            assert_eq!(lines.line_col(offset), expected, "offset {offset}");
        }
    }

    #[test]
    fn errors_are_sorted_and_formatted_like_ripgrep() {
        let errors = BuildErrors::new(vec![
            Diagnostic::at("b.md", 3, 1, "second").with_hint("fix it"),
            Diagnostic::at("a.md", 10, 2, "first"),
        ]);
        assert_eq!(
            errors.to_string(),
            "a.md:10:2: first\nb.md:3:1: second\n  hint: fix it\nbuild failed: 2 errors"
        );
    }

    #[test]
    fn suggests_close_words_only() {
        assert_eq!(did_you_mean("titel", ["title", "date"]), Some("title"));
        assert_eq!(did_you_mean("zzz", ["title", "date"]), None);
    }
}
