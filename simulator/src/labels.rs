//! CF metadata: the label and annotation key/value grammar, the deep-merge PATCH with `null`
//! deletes, and the `label_selector` query grammar.
//!
//! Pure functions over strings and maps; every rejection names the offending input.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ApiError;

/// Labels and annotations of one resource.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// Labels, queryable with `label_selector`.
    pub labels: BTreeMap<String, String>,
    /// Annotations, free-form.
    pub annotations: BTreeMap<String, String>,
}

impl Metadata {
    /// The `{"labels":{},"annotations":{}}` JSON.
    pub fn to_json(&self) -> Value {
        serde_json::json!({"labels": self.labels, "annotations": self.annotations})
    }
}

const MAX_NAME: usize = 63;
const MAX_PREFIX: usize = 253;
const MAX_ANNOTATION_VALUE: usize = 5000;

fn is_alnum(c: char) -> bool {
    c.is_ascii_alphanumeric()
}

/// A name part or a label value: alphanumeric at both ends, `-_.` allowed inside.
fn valid_name(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    let last = s.chars().last().unwrap_or(first);
    is_alnum(first)
        && is_alnum(last)
        && s.chars()
            .all(|c| is_alnum(c) || matches!(c, '-' | '_' | '.'))
}

/// A DNS subdomain: dot-separated labels of alphanumerics and inner dashes.
fn valid_prefix(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_PREFIX
        && s.split('.').all(|part| {
            !part.is_empty()
                && part.starts_with(|c: char| c.is_ascii_alphanumeric())
                && part.ends_with(|c: char| c.is_ascii_alphanumeric())
                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// Checks a label or annotation key (`[prefix/]name`). `kind` is `label` or `annotation`.
pub fn validate_key(kind: &str, key: &str) -> Result<(), ApiError> {
    let err =
        |why: &str| ApiError::unprocessable(format!("Metadata {kind} key error: '{key}' {why}"));
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if name.contains('/') {
        return Err(err("contains more than one '/'"));
    }
    if let Some(prefix) = prefix {
        if !valid_prefix(prefix) {
            return Err(err("prefix must be a valid DNS subdomain"));
        }
        if prefix == "cloudfoundry.org" || prefix.ends_with(".cloudfoundry.org") {
            return Err(err("prefix 'cloudfoundry.org' is reserved"));
        }
    }
    if name.is_empty() {
        return Err(err("key cannot be empty string"));
    }
    if name.len() > MAX_NAME {
        return Err(err(&format!("is greater than {MAX_NAME} characters")));
    }
    if !valid_name(name) {
        return Err(err(
            "must begin and end with an alphanumeric character and contain only alphanumeric characters, '-', '_' or '.'",
        ));
    }
    Ok(())
}

/// Checks a label value: empty, or at most 63 name characters.
pub fn validate_label_value(value: &str) -> Result<(), ApiError> {
    if value.is_empty() {
        return Ok(());
    }
    if value.len() > MAX_NAME {
        return Err(ApiError::unprocessable(format!(
            "Metadata label value error: '{value}' is greater than {MAX_NAME} characters"
        )));
    }
    if !valid_name(value) {
        return Err(ApiError::unprocessable(format!(
            "Metadata label value error: '{value}' contains invalid characters"
        )));
    }
    Ok(())
}

/// Applies a `metadata` PATCH body: keys merge, `null` deletes, everything is validated first
/// so a rejected patch changes nothing.
pub fn apply_patch(current: &Metadata, patch: &Value) -> Result<Metadata, ApiError> {
    let Some(obj) = patch.as_object() else {
        return Err(ApiError::unprocessable("Metadata must be an object"));
    };
    for key in obj.keys() {
        if key != "labels" && key != "annotations" {
            return Err(ApiError::unprocessable(format!(
                "Metadata Unknown field(s): '{key}'"
            )));
        }
    }
    let mut out = current.clone();
    for (kind, target) in [
        ("label", &mut out.labels),
        ("annotation", &mut out.annotations),
    ] {
        let field = format!("{kind}s");
        let Some(section) = obj.get(&field) else {
            continue;
        };
        if section.is_null() {
            continue;
        }
        let Some(section) = section.as_object() else {
            return Err(ApiError::unprocessable(format!(
                "Metadata {field} must be an object"
            )));
        };
        for (key, value) in section {
            validate_key(kind, key)?;
            match value {
                Value::Null => {
                    target.remove(key);
                }
                Value::String(v) => {
                    if kind == "label" {
                        validate_label_value(v)?;
                    } else if v.len() > MAX_ANNOTATION_VALUE {
                        return Err(ApiError::unprocessable(format!(
                            "Metadata annotation error: value of '{key}' is greater than {MAX_ANNOTATION_VALUE} characters"
                        )));
                    }
                    target.insert(key.clone(), v.clone());
                }
                _ => {
                    return Err(ApiError::unprocessable(format!(
                        "Metadata {kind} value error: '{key}' must be a string or null"
                    )));
                }
            }
        }
    }
    Ok(out)
}

/// One requirement of a label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// `key`: the key is present.
    Exists(String),
    /// `!key`: the key is absent.
    NotExists(String),
    /// `key=v` or `key==v`.
    Equals(String, String),
    /// `key!=v`: absent, or present with another value.
    NotEquals(String, String),
    /// `key in (a,b)`.
    In(String, BTreeSet<String>),
    /// `key notin (a,b)`: absent, or present with a value outside the set.
    NotIn(String, BTreeSet<String>),
}

impl Requirement {
    /// Whether `labels` satisfy this requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match self {
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::NotExists(k) => !labels.contains_key(k),
            Requirement::Equals(k, v) => labels.get(k) == Some(v),
            Requirement::NotEquals(k, v) => labels.get(k) != Some(v),
            Requirement::In(k, vs) => labels.get(k).is_some_and(|v| vs.contains(v)),
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|v| !vs.contains(v)),
        }
    }
}

/// A parsed `label_selector`: every requirement must hold (comma means AND).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selector(pub Vec<Requirement>);

impl Selector {
    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|r| r.matches(labels))
    }
}

fn invalid_selector() -> ApiError {
    ApiError::bad_query("Invalid label_selector value")
}

fn split_top_level(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

fn parse_set(rest: &str) -> Result<BTreeSet<String>, ApiError> {
    let rest = rest.trim();
    let inner = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(invalid_selector)?;
    let mut set = BTreeSet::new();
    for v in inner.split(',') {
        let v = v.trim();
        validate_label_value(v).map_err(|_| invalid_selector())?;
        set.insert(v.to_owned());
    }
    Ok(set)
}

fn checked_key(key: &str) -> Result<String, ApiError> {
    let key = key.trim();
    validate_key("label", key).map_err(|_| invalid_selector())?;
    Ok(key.to_owned())
}

fn checked_value(value: &str) -> Result<String, ApiError> {
    let value = value.trim();
    validate_label_value(value).map_err(|_| invalid_selector())?;
    Ok(value.to_owned())
}

/// Parses a `label_selector` value; a malformed one is 400 CF-BadQueryParameter.
pub fn parse_selector(raw: &str) -> Result<Selector, ApiError> {
    if raw.trim().is_empty() {
        return Err(invalid_selector());
    }
    let mut reqs = Vec::new();
    for part in split_top_level(raw) {
        let part = part.trim();
        if part.is_empty() {
            return Err(invalid_selector());
        }
        let req = if let Some(key) = part.strip_prefix('!') {
            Requirement::NotExists(checked_key(key)?)
        } else if let Some((k, v)) = part.split_once("!=") {
            Requirement::NotEquals(checked_key(k)?, checked_value(v)?)
        } else if let Some((k, v)) = part.split_once("==") {
            Requirement::Equals(checked_key(k)?, checked_value(v)?)
        } else if let Some((k, v)) = part.split_once('=') {
            Requirement::Equals(checked_key(k)?, checked_value(v)?)
        } else if let Some((k, rest)) = part.split_once(" notin ") {
            Requirement::NotIn(checked_key(k)?, parse_set(rest)?)
        } else if let Some((k, rest)) = part.split_once(" in ") {
            Requirement::In(checked_key(k)?, parse_set(rest)?)
        } else {
            Requirement::Exists(checked_key(part)?)
        };
        reqs.push(req);
    }
    Ok(Selector(reqs))
}
