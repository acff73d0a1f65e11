//! The text format: a Terraform-like plan (and apply) report for a person.

use std::fmt::Write as _;

use crate::plan::{Action, Report, Rollout};

use super::{counts, diff_line, outcome_counts, result_at};

pub(super) fn foundation(out: &mut String, report: &Report) {
    let plan = &report.plan;
    let revision = plan.revision.as_deref().unwrap_or("(working directory)");
    let _ = writeln!(out, "Foundation {} at {revision}", plan.foundation);
    if let Some(refused) = &plan.refused {
        let _ = writeln!(out, "PLAN REFUSED: {refused}");
        let _ = writeln!(out, "Nothing will be applied.");
    }
    out.push('\n');

    let mut n_listed = 0;
    for (change_idx, change) in plan.changes.iter().enumerate() {
        let Some(sign) = sign(change.action) else {
            continue;
        };
        n_listed += 1;
        let _ = write!(out, "{sign} {}", change.target);
        if change.rollout != Rollout::None {
            let _ = write!(out, " [{}]", change.rollout.as_str());
        }
        if !change.reason.is_empty() {
            let _ = write!(out, ": {}", one_line(&change.reason));
        }
        out.push('\n');
        for field in &change.fields {
            let _ = writeln!(out, "    {}", one_line(&diff_line(field)));
        }
        if let Some(result) = result_at(report, change_idx) {
            let _ = write!(out, "    => {}", result.outcome.as_str());
            if let Some(error) = &result.error {
                let _ = write!(out, ": {}", one_line(error));
            }
            out.push('\n');
        }
    }
    if n_listed == 0 {
        let _ = writeln!(out, "No changes: the foundation matches git.");
    }

    let unowned: Vec<_> = plan
        .changes
        .iter()
        .filter(|c| c.action == Action::Unowned)
        .collect();
    if !unowned.is_empty() {
        let _ = writeln!(out, "\nNot managed by driftless:");
        for change in unowned {
            let _ = write!(out, "    {}", change.target);
            if !change.reason.is_empty() {
                let _ = write!(out, ": {}", one_line(&change.reason));
            }
            out.push('\n');
        }
    }

    let [create, update, delete, orphan, blocked, noop, unowned] = counts(report).map(|(_, n)| n);
    out.push('\n');
    if noop > 0 || unowned > 0 {
        let _ = writeln!(out, "{noop} unchanged, {unowned} not managed by driftless.");
    }
    let _ = writeln!(
        out,
        "Plan: {create} to create, {update} to update, {delete} to delete, {blocked} blocked, \
         {orphan} orphan."
    );
    if plan.refused.is_some() {
        let _ = writeln!(out, "The plan was refused: nothing will be applied.");
    }
    if let Some([applied, failed, blocked, skipped]) =
        outcome_counts(report).map(|counts| counts.map(|(_, n)| n))
    {
        let _ = writeln!(
            out,
            "Apply: {applied} applied, {failed} failed, {blocked} blocked, {skipped} skipped."
        );
    }
}

/// The sign of a listed change; unchanged and unowned targets are not listed one by one.
fn sign(action: Action) -> Option<char> {
    match action {
        Action::Create => Some('+'),
        Action::Update => Some('~'),
        Action::Delete => Some('-'),
        Action::Blocked => Some('!'),
        Action::Orphan => Some('?'),
        Action::Noop | Action::Unowned => None,
    }
}

/// Free text (reasons, errors) kept on its line, so the layout cannot be forged or broken, and
/// free of control characters, so it cannot drive the terminal.
fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push('\t'),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}
