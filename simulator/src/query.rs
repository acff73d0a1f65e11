//! Query strings as CF reads them: only known parameters (anything else is 400
//! CF-BadQueryParameter), comma-separated filters, `per_page` 1..=5000, and pagination with
//! absolute `first/last/next/previous` links that keep the filters.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::labels::{Selector, parse_selector};

/// Largest `per_page` CF accepts.
pub const MAX_PER_PAGE: usize = 5000;
/// `per_page` when none is given.
pub const DEFAULT_PER_PAGE: usize = 50;

/// A parsed query string.
#[derive(Debug, Clone, Default)]
pub struct Query {
    params: BTreeMap<String, String>,
}

impl Query {
    /// Parses `raw` and rejects any parameter not in `allowed` (pagination keys are always
    /// allowed for lists; pass `list = false` for single-resource endpoints).
    pub fn parse(raw: Option<&str>, allowed: &[&str], list: bool) -> Result<Self, ApiError> {
        let mut params = BTreeMap::new();
        for (k, v) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
            params.insert(k.into_owned(), v.into_owned());
        }
        let mut valid: Vec<&str> = allowed.to_vec();
        if list {
            valid.extend(["page", "per_page", "order_by"]);
        }
        let unknown: Vec<&String> = params
            .keys()
            .filter(|k| !valid.contains(&k.as_str()))
            .collect();
        if !unknown.is_empty() {
            let unknown: Vec<String> = unknown.iter().map(|k| format!("'{k}'")).collect();
            let valid: Vec<String> = valid.iter().map(|k| format!("'{k}'")).collect();
            return Err(ApiError::bad_query(format!(
                "Unknown query parameter(s): {}. Valid parameters are: {}",
                unknown.join(", "),
                valid.join(", ")
            )));
        }
        Ok(Self { params })
    }

    /// The raw value of a parameter.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.params.get(key).map(String::as_str)
    }

    /// A comma-separated filter, as a set.
    pub fn list(&self, key: &str) -> Option<BTreeSet<String>> {
        self.get(key)
            .map(|v| v.split(',').map(str::to_owned).collect())
    }

    /// The parsed `label_selector`, if given.
    pub fn selector(&self) -> Result<Option<Selector>, ApiError> {
        self.get("label_selector").map(parse_selector).transpose()
    }

    /// The `include` values, checked against `allowed`.
    pub fn includes(&self, allowed: &[&str]) -> Result<BTreeSet<String>, ApiError> {
        let Some(set) = self.list("include") else {
            return Ok(BTreeSet::new());
        };
        for v in &set {
            if !allowed.contains(&v.as_str()) {
                let valid: Vec<String> = allowed.iter().map(|a| format!("'{a}'")).collect();
                return Err(ApiError::bad_query(format!(
                    "Invalid included resource: '{v}'. Valid included resources are: {}",
                    valid.join(", ")
                )));
            }
        }
        Ok(set)
    }

    /// `page` and `per_page`, validated as CF does.
    pub fn page(&self) -> Result<(usize, usize), ApiError> {
        let page = match self.get("page") {
            None => 1,
            Some(v) => match v.parse::<usize>() {
                Ok(n) if n >= 1 => n,
                _ => return Err(ApiError::bad_query("Page must be greater than 0")),
            },
        };
        let per_page = match self.get("per_page") {
            None => DEFAULT_PER_PAGE,
            Some(v) => match v.parse::<usize>() {
                Ok(n) if (1..=MAX_PER_PAGE).contains(&n) => n,
                _ => {
                    return Err(ApiError::bad_query(format!(
                        "Per page must be between 1 and {MAX_PER_PAGE}"
                    )));
                }
            },
        };
        Ok((page, per_page))
    }

    /// `order_by`: a field and direction; `allowed` lists sortable fields.
    pub fn order_by(&self, allowed: &[&str]) -> Result<(String, bool), ApiError> {
        let Some(raw) = self.get("order_by") else {
            return Ok(("created_at".into(), false));
        };
        let (field, desc) = match raw.strip_prefix('-') {
            Some(f) => (f, true),
            None => (raw.strip_prefix('+').unwrap_or(raw), false),
        };
        if !allowed.contains(&field) {
            let valid: Vec<String> = allowed.iter().map(|a| format!("'{a}'")).collect();
            return Err(ApiError::bad_query(format!(
                "Order by can only be: {}",
                valid.join(", ")
            )));
        }
        Ok((field.to_owned(), desc))
    }

    fn link(&self, base: &str, path: &str, page: usize, per_page: usize) -> Value {
        let mut params: BTreeMap<&str, String> = self
            .params
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        params.insert("page", page.to_string());
        params.insert("per_page", per_page.to_string());
        let mut ser = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &params {
            ser.append_pair(k, v);
        }
        json!({"href": format!("{base}{path}?{}", ser.finish())})
    }

    /// One page of `items` in the v3 list shape, rendered straight to the response.
    pub fn paginate_typed<T, S: Serialize>(
        &self,
        base: &str,
        path: &str,
        items: &[T],
        render: impl Fn(&T) -> S,
    ) -> Result<PageBody<S>, ApiError> {
        let (page, per_page) = self.page()?;
        let total = items.len();
        let start = (page - 1).saturating_mul(per_page);
        let resources: Vec<S> = items
            .iter()
            .skip(start)
            .take(per_page)
            .map(render)
            .collect();
        Ok(PageBody {
            pagination: self.pagination(base, path, page, per_page, total),
            resources,
            included: None,
        })
    }

    fn pagination(
        &self,
        base: &str,
        path: &str,
        page: usize,
        per_page: usize,
        total: usize,
    ) -> Value {
        let total_pages = total.div_ceil(per_page).max(1);
        let next = if page < total_pages {
            self.link(base, path, page + 1, per_page)
        } else {
            Value::Null
        };
        let previous = if page > 1 && page <= total_pages + 1 {
            self.link(base, path, page - 1, per_page)
        } else {
            Value::Null
        };
        json!({
            "total_results": total,
            "total_pages": total_pages,
            "first": self.link(base, path, 1, per_page),
            "last": self.link(base, path, total_pages, per_page),
            "next": next,
            "previous": previous,
        })
    }

    /// One page of `items` in the v3 list shape. `items` are already filtered and ordered.
    pub fn paginate<T>(
        &self,
        base: &str,
        path: &str,
        items: &[T],
        render: impl Fn(&T) -> Value,
    ) -> Result<Value, ApiError> {
        let (page, per_page) = self.page()?;
        let total = items.len();
        let total_pages = total.div_ceil(per_page).max(1);
        let start = (page - 1).saturating_mul(per_page);
        let resources: Vec<Value> = items
            .iter()
            .skip(start)
            .take(per_page)
            .map(render)
            .collect();
        let next = if page < total_pages {
            self.link(base, path, page + 1, per_page)
        } else {
            Value::Null
        };
        let previous = if page > 1 && page <= total_pages + 1 {
            self.link(base, path, page - 1, per_page)
        } else {
            Value::Null
        };
        Ok(json!({
            "pagination": {
                "total_results": total,
                "total_pages": total_pages,
                "first": self.link(base, path, 1, per_page),
                "last": self.link(base, path, total_pages, per_page),
                "next": next,
                "previous": previous,
            },
            "resources": resources,
        }))
    }
}

/// A v3 list body whose resources serialize straight to the response.
#[derive(Debug, Serialize)]
pub struct PageBody<S> {
    /// The `pagination` object.
    pub pagination: Value,
    /// This page's resources.
    pub resources: Vec<S>,
    /// `included` resources, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub included: Option<Value>,
}
