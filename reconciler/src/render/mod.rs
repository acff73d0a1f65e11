//! Renderers: a [`Report`] (a plan, and what apply did with it) as text for a person, a stable
//! JSON document for machines, Markdown for pull-request comments, or JUnit XML for CI.
//!
//! Pure and deterministic: no IO, no clock; the output depends on the reports alone, in their
//! order. Nothing here unmasks anything: a plan never holds a secret, and the masked values
//! `"(sensitive)"` and `"(credential changed)"` pass through verbatim (bare, without JSON
//! quotes, in the human formats).
//!
//! - **Text** ([`Format::Text`]) reads like Terraform's plan. Per foundation a header (name and
//!   revision, or `(working directory)`), a prominent `PLAN REFUSED` line when the plan was
//!   refused, then one line per change: a sign (`+` create, `~` update, `-` delete, `!` blocked,
//!   `?` orphan), the target, the rollout in brackets unless it is `none`, and the reason,
//!   followed by the field diffs indented as `path: live -> desired` (values as compact JSON)
//!   and, after an apply, the result. Unchanged targets are only counted; apps that exist but
//!   are not managed by driftless are listed in a section of their own. It ends with
//!   `Plan: 1 to create, 2 to update, 0 to delete, 1 blocked, 1 orphan.` and, after an apply,
//!   `Apply: 3 applied, 1 failed, 0 blocked, 2 skipped.`
//! - **JSON** ([`Format::Json`], [`json`]) is the stable document of DESIGN.md §3: `revision`
//!   (`null` for a plain directory), `foundation`, `refused` (`null` unless refused), `changes`
//!   (`target`, `action`, `fields`, `rollout`, `reason`, and after an apply `result` and
//!   `error`) and `summary` with a count for every action, zeros included. One report renders
//!   as one pretty-printed object, several as an array of them.
//! - **Markdown** ([`Format::Markdown`]): a heading per foundation, a table of counts by action,
//!   a table of the changes (target, action, rollout, reason, and after an apply result and
//!   error), and a collapsed `<details>` per change with its field diffs as a table. Unchanged
//!   targets are counted, not listed. Values are escaped for GitHub-flavoured Markdown: code
//!   spans with a long enough backtick fence, `\|` in tables, HTML entities inside HTML.
//! - **JUnit XML** ([`Format::Junit`]): `<testsuites>` with a `<testsuite>` per foundation and a
//!   `<testcase classname="<foundation>" name="<target>">` per change. Drift is a `<failure>`
//!   whose message is the reason and whose body holds the field diffs; unowned apps are
//!   `<skipped/>`; a refused plan adds a failing `plan` test case. After an apply, a failed
//!   change is an `<error>` carrying the apply error, a blocked one a `<failure>`, a skipped
//!   one `<skipped/>`, an applied one passes. Suites carry `tests`, `failures`, `errors` and
//!   `skipped` counts.

mod junit;
mod markdown;
mod text;

#[cfg(test)]
mod tests;

use std::{fmt, str::FromStr};

use serde::Serialize;
use serde_json::Value;

use crate::plan::{Action, ChangeResult, FieldDiff, Outcome, Report};

/// An output format (`--output text|json|markdown|junit`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Format {
    /// Terraform-like text for a person.
    #[default]
    Text,
    /// The stable JSON document (DESIGN.md §3).
    Json,
    /// GitHub-flavoured Markdown for pull-request comments and issues.
    Markdown,
    /// JUnit XML for CI test reports.
    Junit,
}

impl Format {
    /// Every format, in the order `--help` lists them.
    pub const ALL: [Format; 4] = [Format::Text, Format::Json, Format::Markdown, Format::Junit];

    /// The name on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Json => "json",
            Format::Markdown => "markdown",
            Format::Junit => "junit",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A format name that is not one of `text`, `json`, `markdown`, `junit`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown output format `{0}`; expected one of text, json, markdown, junit")]
pub struct UnknownFormat(pub String);

impl FromStr for Format {
    type Err = UnknownFormat;

    /// The exact lowercase names, as clap's `ValueEnum` spells them.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Format::ALL
            .into_iter()
            .find(|format| format.as_str() == name)
            .ok_or_else(|| UnknownFormat(name.to_owned()))
    }
}

/// Renders reports (one per foundation, in the order given) in `format`. The result ends with a
/// newline. JSON of one report is that report's object; of several (or none), an array. JSON
/// keys come in the order of DESIGN.md §3.
pub fn render(reports: &[Report], format: Format) -> String {
    match format {
        Format::Text => per_foundation(reports, text::foundation),
        Format::Json => match reports {
            [report] => pretty(&Document::of(report)),
            _ => pretty(&reports.iter().map(Document::of).collect::<Vec<_>>()),
        },
        Format::Markdown => per_foundation(reports, markdown::foundation),
        Format::Junit => junit::render(reports),
    }
}

/// The stable JSON document of one report (DESIGN.md §3). `result` and `error` are present on
/// every change exactly when the report has apply results; every summary key is present.
pub fn json(report: &Report) -> Value {
    serde_json::to_value(Document::of(report))
        .expect("a document of strings, numbers and JSON values always serializes")
}

/// The JSON document, with its keys in contract order.
#[derive(Serialize)]
struct Document<'a> {
    revision: Option<&'a str>,
    foundation: &'a str,
    refused: Option<&'a str>,
    changes: Vec<ChangeDocument<'a>>,
    summary: Summary,
}

#[derive(Serialize)]
struct ChangeDocument<'a> {
    target: String,
    action: &'static str,
    fields: Vec<FieldDocument<'a>>,
    rollout: &'static str,
    reason: &'a str,
    /// `Some(null)` when apply reported nothing for this change.
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<Option<&'static str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<Option<&'a str>>,
}

#[derive(Serialize)]
struct FieldDocument<'a> {
    path: &'a str,
    live: &'a Value,
    desired: &'a Value,
}

#[derive(Serialize)]
struct Summary {
    create: usize,
    update: usize,
    delete: usize,
    orphan: usize,
    blocked: usize,
    noop: usize,
    unowned: usize,
}

impl<'a> Document<'a> {
    fn of(report: &'a Report) -> Document<'a> {
        let plan = &report.plan;
        let changes = plan
            .changes
            .iter()
            .enumerate()
            .map(|(change_idx, change)| {
                let applied = report
                    .results
                    .as_ref()
                    .map(|_| result_at(report, change_idx));
                ChangeDocument {
                    target: change.target.to_string(),
                    action: change.action.as_str(),
                    fields: change
                        .fields
                        .iter()
                        .map(|field| FieldDocument {
                            path: &field.path,
                            live: &field.live,
                            desired: &field.desired,
                        })
                        .collect(),
                    rollout: change.rollout.as_str(),
                    reason: &change.reason,
                    result: applied.map(|r| r.map(|r| r.outcome.as_str())),
                    error: applied.map(|r| r.and_then(|r| r.error.as_deref())),
                }
            })
            .collect();
        let [create, update, delete, orphan, blocked, noop, unowned] =
            counts(report).map(|(_, n_changes)| n_changes);
        Document {
            revision: plan.revision.as_deref(),
            foundation: &plan.foundation,
            refused: plan.refused.as_deref(),
            changes,
            summary: Summary {
                create,
                update,
                delete,
                orphan,
                blocked,
                noop,
                unowned,
            },
        }
    }
}

fn pretty(document: &impl Serialize) -> String {
    let mut out = serde_json::to_string_pretty(document)
        .expect("a document of strings, numbers and JSON values always serializes");
    out.push('\n');
    out
}

/// Every action in summary order, with how many changes of the report have it (zeros included).
/// The foundations' sections one after another, a blank line between them.
fn per_foundation(reports: &[Report], section: fn(&mut String, &Report)) -> String {
    let mut out = String::new();
    for (i, report) in reports.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        section(&mut out, report);
    }
    out
}

fn counts(report: &Report) -> [(Action, usize); 7] {
    const ORDER: [Action; 7] = [
        Action::Create,
        Action::Update,
        Action::Delete,
        Action::Orphan,
        Action::Blocked,
        Action::Noop,
        Action::Unowned,
    ];
    ORDER.map(|action| {
        let n_changes = report
            .plan
            .changes
            .iter()
            .filter(|c| c.action == action)
            .count();
        (action, n_changes)
    })
}

/// Every outcome, with how many results of the report have it (`None` without results).
fn outcome_counts(report: &Report) -> Option<[(Outcome, usize); 4]> {
    const ORDER: [Outcome; 4] = [
        Outcome::Applied,
        Outcome::Failed,
        Outcome::Blocked,
        Outcome::Skipped,
    ];
    let results = report.results.as_ref()?;
    Some(ORDER.map(|outcome| {
        let n_results = results.iter().filter(|r| r.outcome == outcome).count();
        (outcome, n_results)
    }))
}

/// The apply result of the change at `change_idx`, if apply ran and reported one.
fn result_at(report: &Report, change_idx: usize) -> Option<&ChangeResult> {
    report.results.as_ref()?.get(change_idx)
}

/// The values the planner masks: shown as they are, never quoted or altered.
const MASKED: [&str; 2] = ["(sensitive)", "(credential changed)"];

/// A field value for the human formats: compact JSON on one line (strings quoted, newlines
/// escaped), except a masked value, which is shown bare.
fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) if MASKED.contains(&s.as_str()) => s.clone(),
        other => other.to_string(),
    }
}

/// `path: live -> desired`, the one-line form of a field diff in text and JUnit.
fn diff_line(field: &FieldDiff) -> String {
    format!(
        "{}: {} -> {}",
        field.path,
        value_text(&field.live),
        value_text(&field.desired)
    )
}
