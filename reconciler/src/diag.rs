//! Located diagnostics: `path:line:col: message`, the one shape every input problem takes.

use std::fmt;

use crate::yaml::Mark;

/// How bad a problem is. Warnings become errors under `--strict`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

/// One problem in the repo, located in a file (the path relative to the repo root).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Diagnostic {
    pub path: String,
    pub mark: Mark,
    pub severity: Severity,
    pub message: String,
}

impl Diagnostic {
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Mark { line, col } = self.mark;
        match self.severity {
            Severity::Error => write!(f, "{}:{line}:{col}: {}", self.path, self.message),
            Severity::Warning => write!(f, "{}:{line}:{col}: warning: {}", self.path, self.message),
        }
    }
}

/// Collects diagnostics for one file.
#[derive(Debug)]
pub(crate) struct Sink<'a> {
    pub path: &'a str,
    pub strict: bool,
    pub out: &'a mut Vec<Diagnostic>,
}

impl Sink<'_> {
    pub fn error(&mut self, mark: Mark, message: impl Into<String>) {
        self.push(mark, Severity::Error, message.into());
    }

    /// A warning, or an error under `--strict`. Returns whether it was an error.
    pub fn warn(&mut self, mark: Mark, message: impl Into<String>) -> bool {
        let severity = if self.strict {
            Severity::Error
        } else {
            Severity::Warning
        };
        self.push(mark, severity, message.into());
        self.strict
    }

    fn push(&mut self, mark: Mark, severity: Severity, message: String) {
        self.out.push(Diagnostic {
            path: self.path.to_owned(),
            mark,
            severity,
            message,
        });
    }

    /// The number of errors so far, to tell whether a step added any.
    pub fn errors(&self) -> usize {
        self.out.iter().filter(|d| d.is_error()).count()
    }
}

/// "did you mean" for a misspelt key, by edit distance.
pub(crate) fn suggest<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    let key = key.to_ascii_lowercase().replace('-', "_");
    known
        .iter()
        .map(|k| (edit_distance(&key, &k.replace('-', "_")), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min()
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_find_near_misses_only() {
        let known = ["instances", "memory", "disk_quota", "health-check-type"];
        assert_eq!(suggest("instaces", &known), Some("instances"));
        assert_eq!(
            suggest("healthcheck-type", &known),
            Some("health-check-type")
        );
        assert_eq!(suggest("disk-quotas", &known), Some("disk_quota"));
        assert_eq!(suggest("banana", &known), None);
    }
}
