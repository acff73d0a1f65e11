//! The JUnit XML format: one test suite per foundation, one test case per change, for CI test
//! report views.

use std::fmt::Write as _;

use crate::plan::{Action, Change, ChangeResult, Outcome, Report, Rollout};

use super::{diff_line, result_at};

pub(super) fn render(reports: &[Report]) -> String {
    let suites: Vec<Suite> = reports.iter().map(suite).collect();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let total = Counts::sum(suites.iter().map(|s| s.counts));
    let _ = writeln!(out, "<testsuites name=\"driftless\"{}>", total.attributes());
    for suite in &suites {
        write_suite(&mut out, suite);
    }
    out.push_str("</testsuites>\n");
    out
}

struct Suite {
    name: String,
    revision: Option<String>,
    cases: Vec<Case>,
    counts: Counts,
}

struct Case {
    name: String,
    verdict: Verdict,
}

enum Verdict {
    Pass,
    Failure {
        kind: &'static str,
        message: String,
        body: String,
    },
    Error {
        kind: &'static str,
        message: String,
        body: String,
    },
    Skipped {
        message: String,
    },
}

#[derive(Clone, Copy, Default)]
struct Counts {
    tests: usize,
    failures: usize,
    errors: usize,
    skipped: usize,
}

impl Counts {
    fn of(cases: &[Case]) -> Counts {
        let mut counts = Counts {
            tests: cases.len(),
            ..Counts::default()
        };
        for case in cases {
            match case.verdict {
                Verdict::Pass => {}
                Verdict::Failure { .. } => counts.failures += 1,
                Verdict::Error { .. } => counts.errors += 1,
                Verdict::Skipped { .. } => counts.skipped += 1,
            }
        }
        counts
    }

    fn sum(all: impl Iterator<Item = Counts>) -> Counts {
        all.fold(Counts::default(), |a, b| Counts {
            tests: a.tests + b.tests,
            failures: a.failures + b.failures,
            errors: a.errors + b.errors,
            skipped: a.skipped + b.skipped,
        })
    }

    fn attributes(self) -> String {
        format!(
            " tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\"",
            self.tests, self.failures, self.errors, self.skipped
        )
    }
}

fn suite(report: &Report) -> Suite {
    let plan = &report.plan;
    let mut cases = Vec::with_capacity(plan.changes.len() + 1);
    if let Some(refused) = &plan.refused {
        cases.push(Case {
            name: "plan".to_owned(),
            verdict: Verdict::Failure {
                kind: "refused",
                message: format!("plan refused: {refused}"),
                body: "Nothing will be applied.\n".to_owned(),
            },
        });
    }
    for (change_idx, change) in plan.changes.iter().enumerate() {
        cases.push(Case {
            name: change.target.to_string(),
            verdict: verdict(change, result_at(report, change_idx)),
        });
    }
    Suite {
        name: plan.foundation.clone(),
        revision: plan.revision.clone(),
        counts: Counts::of(&cases),
        cases,
    }
}

/// Unchanged passes and unowned is skipped whatever apply did; otherwise (drift) the apply
/// result decides, and without one (a plan) the change fails.
fn verdict(change: &Change, result: Option<&ChangeResult>) -> Verdict {
    match change.action {
        Action::Noop => return Verdict::Pass,
        Action::Unowned => {
            return Verdict::Skipped {
                message: change.reason.clone(),
            };
        }
        _ => {}
    }
    let Some(result) = result else {
        return Verdict::Failure {
            kind: change.action.as_str(),
            message: change.reason.clone(),
            body: body(change, None),
        };
    };
    let error = result.error.as_deref();
    match result.outcome {
        Outcome::Applied => Verdict::Pass,
        Outcome::Failed => Verdict::Error {
            kind: "failed",
            message: error.unwrap_or(&change.reason).to_owned(),
            body: body(change, error),
        },
        Outcome::Blocked => Verdict::Failure {
            kind: "blocked",
            message: error.unwrap_or(&change.reason).to_owned(),
            body: body(change, error),
        },
        Outcome::Skipped => Verdict::Skipped {
            message: error.unwrap_or(&change.reason).to_owned(),
        },
    }
}

/// The failure body: the action and rollout, the field diffs, and the apply error.
fn body(change: &Change, error: Option<&str>) -> String {
    let mut out = format!("{} {}", change.action.as_str(), change.target);
    if change.rollout != Rollout::None {
        let _ = write!(out, " [{}]", change.rollout.as_str());
    }
    if !change.reason.is_empty() {
        let _ = write!(out, ": {}", change.reason);
    }
    out.push('\n');
    for field in &change.fields {
        let _ = writeln!(out, "  {}", diff_line(field));
    }
    if let Some(error) = error {
        let _ = writeln!(out, "error: {error}");
    }
    out
}

fn write_suite(out: &mut String, suite: &Suite) {
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\"{}>",
        attr(&suite.name),
        suite.counts.attributes()
    );
    if let Some(revision) = &suite.revision {
        let _ = writeln!(
            out,
            "    <properties>\n      <property name=\"revision\" value=\"{}\"/>\n    </properties>",
            attr(revision)
        );
    }
    for case in &suite.cases {
        let _ = write!(
            out,
            "    <testcase classname=\"{}\" name=\"{}\"",
            attr(&suite.name),
            attr(&case.name)
        );
        match &case.verdict {
            Verdict::Pass => out.push_str("/>\n"),
            Verdict::Failure {
                kind,
                message,
                body,
            } => element(out, "failure", kind, message, body),
            Verdict::Error {
                kind,
                message,
                body,
            } => element(out, "error", kind, message, body),
            Verdict::Skipped { message } => {
                let _ = writeln!(
                    out,
                    ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                    attr(message)
                );
            }
        }
    }
    out.push_str("  </testsuite>\n");
}

/// Closes the open `<testcase` tag with a `<failure>` or `<error>` child and the case's end.
fn element(out: &mut String, tag: &str, kind: &str, message: &str, body: &str) {
    let _ = writeln!(
        out,
        ">\n      <{tag} message=\"{}\" type=\"{}\">{}</{tag}>\n    </testcase>",
        attr(message),
        attr(kind),
        escape(body, false)
    );
}

fn attr(text: &str) -> String {
    escape(text, true)
}

/// XML 1.0 escaping. Characters XML cannot hold at all become U+FFFD; in attributes, quotes
/// and the whitespace an attribute parser would normalise away are character references.
fn escape(text: &str, in_attribute: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if in_attribute => out.push_str("&quot;"),
            '\'' if in_attribute => out.push_str("&apos;"),
            '\n' if in_attribute => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' if in_attribute => out.push_str("&#9;"),
            '\t' | '\n' => out.push(c),
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => out.push('\u{fffd}'),
            _ => out.push(c),
        }
    }
    out
}
