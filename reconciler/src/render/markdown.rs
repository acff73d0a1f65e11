//! The Markdown format: GitHub-flavoured Markdown for pull-request comments and issues.
//!
//! Escaping rules: targets, paths and values are code spans (a backtick fence longer than any
//! backtick run inside, and `\|` in table cells, which GFM unescapes before inline parsing);
//! free text (reasons, errors) escapes Markdown punctuation with backslashes; text inside raw
//! HTML (`<summary>`) uses HTML entities, since Markdown is not parsed there.

use std::fmt::Write as _;

use crate::plan::{Action, Report};

use super::{counts, outcome_counts, result_at, value_text};

pub(super) fn foundation(out: &mut String, report: &Report) {
    let plan = &report.plan;
    let has_results = report.results.is_some();
    let verb = if has_results { "apply" } else { "plan" };
    let _ = writeln!(
        out,
        "### driftless {verb}: {}\n",
        code(&plan.foundation, Place::Prose)
    );
    match &plan.revision {
        Some(revision) => {
            let _ = writeln!(out, "Revision: {}\n", code(revision, Place::Prose));
        }
        None => out.push_str("Revision: *(working directory)*\n\n"),
    }
    if let Some(refused) = &plan.refused {
        let _ = writeln!(
            out,
            "> [!CAUTION]\n> **Plan refused:** {}. Nothing will be applied.\n",
            text(refused)
        );
    }

    out.push_str("| Action | Count |\n|---|---:|\n");
    for (action, n_changes) in counts(report) {
        let _ = writeln!(out, "| {} | {n_changes} |", action.as_str());
    }
    if let Some(outcomes) = outcome_counts(report) {
        out.push_str("\n| Result | Count |\n|---|---:|\n");
        for (outcome, n_results) in outcomes {
            let _ = writeln!(out, "| {} | {n_results} |", outcome.as_str());
        }
    }
    out.push('\n');

    let listed: Vec<usize> = (0..plan.changes.len())
        .filter(|&change_idx| plan.changes[change_idx].action != Action::Noop)
        .collect();
    if listed.is_empty() {
        out.push_str("No changes: the foundation matches git.\n");
        return;
    }

    if has_results {
        out.push_str("| Target | Action | Rollout | Reason | Result | Error |\n");
        out.push_str("|---|---|---|---|---|---|\n");
    } else {
        out.push_str("| Target | Action | Rollout | Reason |\n|---|---|---|---|\n");
    }
    for &change_idx in &listed {
        let change = &plan.changes[change_idx];
        let _ = write!(
            out,
            "| {} | {} | {} | {} |",
            code(&change.target.to_string(), Place::Table),
            change.action.as_str(),
            change.rollout.as_str(),
            text(&change.reason)
        );
        if has_results {
            let result = result_at(report, change_idx);
            let outcome = result.map_or("", |r| r.outcome.as_str());
            let error = result.and_then(|r| r.error.as_deref()).unwrap_or("");
            let _ = write!(out, " {outcome} | {} |", text(error));
        }
        out.push('\n');
    }

    for &change_idx in &listed {
        let change = &plan.changes[change_idx];
        if change.fields.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "\n<details><summary><code>{}</code> ({})</summary>\n",
            html(&change.target.to_string()),
            change.action.as_str()
        );
        out.push_str("| Field | Live | Desired |\n|---|---|---|\n");
        for field in &change.fields {
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                code(&field.path, Place::Table),
                code(&value_text(&field.live), Place::Table),
                code(&value_text(&field.desired), Place::Table)
            );
        }
        out.push_str("\n</details>\n");
    }
}

/// Where a code span goes: a table cell needs its pipes escaped.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    Prose,
    Table,
}

/// `text` as a code span: the fence is one backtick longer than the longest run inside, with
/// padding spaces when the text starts or ends with a backtick (or is all spaces, which GFM
/// would strip). Line breaks become spaces, since a table row is one line.
fn code(text: &str, place: Place) -> String {
    let flat = text.replace(['\r', '\n'], " ");
    let mut longest_run = 0;
    let mut run = 0;
    for c in flat.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest_run = longest_run.max(run);
    }
    let fence = "`".repeat(longest_run + 1);
    let pad = if flat.starts_with('`') || flat.ends_with('`') || flat.trim().is_empty() {
        " "
    } else {
        ""
    };
    let inner = match place {
        Place::Prose => flat,
        Place::Table => flat.replace('|', "\\|"),
    };
    format!("{fence}{pad}{inner}{pad}{fence}")
}

/// Free text for prose and table cells: Markdown punctuation and HTML starts are backslash
/// escaped, and line breaks become spaces.
fn text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' | '&' | '#' | '!' => {
                out.push('\\');
                out.push(c);
            }
            '\r' | '\n' => out.push(' '),
            c if c.is_control() => out.push('\u{fffd}'),
            _ => out.push(c),
        }
    }
    out
}

/// Text inside raw HTML, where Markdown is not parsed: entities for HTML's specials.
fn html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\r' | '\n' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}
