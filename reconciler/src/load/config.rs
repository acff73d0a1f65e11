//! `driftless.yaml` -> `RepoConfig`, with located diagnostics.

use std::collections::{BTreeMap, BTreeSet};

use driftless_schema as wire;

use super::{LoadOptions, SourceFile};
use crate::{
    diag::{Diagnostic, Sink, suggest},
    model::{AppRule, Auth, FoundationConfig, Glob, ImageRef, Policy, RegistryConfig, RepoConfig},
    yaml::{self, Mark, Node},
};

/// The name of the foundation a repo without `foundations:` targets.
pub const DEFAULT_FOUNDATION: &str = "default";

/// The validated config plus the implicit default foundation.
#[derive(Debug)]
pub(super) struct RepoSetup {
    config: RepoConfig,
    implicit: Vec<FoundationConfig>,
    /// Hosts of `registries` entries that failed to load: apps pulling from them are not
    /// blamed a second time for a missing entry.
    broken_registries: BTreeSet<String>,
}

impl Default for RepoSetup {
    fn default() -> Self {
        RepoSetup {
            config: RepoConfig::default(),
            implicit: vec![FoundationConfig::default()],
            broken_registries: BTreeSet::new(),
        }
    }
}

impl RepoSetup {
    pub fn foundations(&self) -> &[FoundationConfig] {
        if self.config.foundations.is_empty() {
            &self.implicit
        } else {
            &self.config.foundations
        }
    }

    pub fn config(&self) -> &RepoConfig {
        &self.config
    }

    /// Whether the `registries` entry for `host` exists but failed to load.
    pub fn registry_is_broken(&self, host: &str) -> bool {
        self.broken_registries.contains(host)
    }

    pub fn into_config(self) -> RepoConfig {
        self.config
    }
}

impl Default for FoundationConfig {
    fn default() -> Self {
        FoundationConfig {
            name: DEFAULT_FOUNDATION.to_owned(),
            api: String::new(),
            platform: None,
            auth: None,
            feature_flags: BTreeMap::new(),
            path: String::new(),
            skip_ssl_validation: false,
        }
    }
}

pub(super) fn load(
    file: &SourceFile,
    options: &LoadOptions,
    out: &mut Vec<Diagnostic>,
) -> RepoSetup {
    let mut sink = Sink {
        path: &file.path,
        strict: options.strict,
        out,
    };
    let errors_before = sink.errors();
    let mut broken_registries = BTreeSet::new();
    let mut config = read(file, &mut sink, &mut broken_registries);
    config.valid = sink.errors() == errors_before;
    RepoSetup {
        config,
        broken_registries,
        ..RepoSetup::default()
    }
}

fn read(file: &SourceFile, sink: &mut Sink<'_>, broken: &mut BTreeSet<String>) -> RepoConfig {
    let Ok(text) = std::str::from_utf8(&file.bytes) else {
        sink.error(
            Mark { line: 1, col: 1 },
            "the file is not UTF-8 text; expected YAML",
        );
        return RepoConfig::default();
    };
    match yaml::parse(text) {
        Ok(parsed) => {
            for problem in &parsed.problems {
                sink.error(problem.mark, problem.message.clone());
            }
            match parsed.root {
                Some(root) if !root.is_null() => validate(&root, sink, broken),
                _ => RepoConfig::default(),
            }
        }
        Err(problem) => {
            sink.error(problem.mark, problem.message);
            RepoConfig::default()
        }
    }
}

/// The top-level keys of `driftless.yaml`; a test checks them against the schema.
pub(super) const CONFIG_KEYS: [&str; 4] = ["foundations", "registries", "policy", "apps"];

/// Deserializes each entry of the list at `key` on its own, so one bad entry hides no other.
fn entries<T: serde::de::DeserializeOwned>(
    root: &Node,
    key: &str,
    sink: &mut Sink<'_>,
) -> Vec<(usize, T)> {
    let Some(list) = root.get(key).filter(|n| !n.is_null()) else {
        return Vec::new();
    };
    if !matches!(list.value, yaml::Value::Seq(_)) {
        sink.error(
            list.mark,
            format!("`{key}` must be a list, found {}", list.kind()),
        );
        return Vec::new();
    }
    list.items()
        .iter()
        .enumerate()
        .filter_map(|(i, item)| one(item, sink).map(|t| (i, t)))
        .collect()
}

fn one<T: serde::de::DeserializeOwned>(node: &Node, sink: &mut Sink<'_>) -> Option<T> {
    match yaml::from_node::<T>(node) {
        Ok((value, unknown)) => {
            super::manifest::report_unknown(&unknown, sink);
            Some(value)
        }
        Err(error) => {
            sink.error(error.mark.unwrap_or(node.mark), error.message);
            None
        }
    }
}

/// The mark of the value at `path` under `node`, or of the deepest node found on the way.
pub(super) fn mark_at(node: &Node, path: &[&str]) -> Mark {
    let mut current = node;
    for key in path {
        match key.parse::<usize>() {
            Ok(index) => match current.items().get(index) {
                Some(next) => current = next,
                None => break,
            },
            Err(_) => match current.get(key) {
                Some(next) => current = next,
                None => break,
            },
        }
    }
    current.mark
}

fn validate(root: &Node, sink: &mut Sink<'_>, broken: &mut BTreeSet<String>) -> RepoConfig {
    let mut config = RepoConfig::default();
    if !matches!(root.value, yaml::Value::Map(_)) {
        sink.error(
            root.mark,
            format!("driftless.yaml must be a mapping, found {}", root.kind()),
        );
        return config;
    }
    for (key, _) in root.entries() {
        let text = key.as_scalar().unwrap_or_default();
        if !CONFIG_KEYS.contains(&text) {
            let unknown = yaml::UnknownKey {
                mark: key.mark,
                key: text.to_owned(),
                known: &CONFIG_KEYS,
            };
            super::manifest::report_unknown(std::slice::from_ref(&unknown), sink);
        }
    }
    let foundations: Vec<(usize, wire::Foundation)> = entries(root, "foundations", sink);
    let registries: Vec<(usize, wire::Registry)> = entries(root, "registries", sink);
    let registry_nodes = root.get("registries").map(Node::items).unwrap_or_default();
    for (i, item) in registry_nodes.iter().enumerate() {
        if !registries.iter().any(|(j, _)| *j == i)
            && let Some(host) = item
                .get("host")
                .and_then(Node::as_scalar)
                .and_then(|h| normalise_host(h).ok())
        {
            broken.insert(host);
        }
    }
    let policy: Option<wire::Policy> = root
        .get("policy")
        .filter(|n| !n.is_null())
        .and_then(|n| one(n, sink));
    let apps: Vec<(usize, wire::AppSettings)> = entries(root, "apps", sink);

    for (i, f) in &foundations {
        let idx = i.to_string();
        let at = |key: &str| mark_at(root, &["foundations", &idx, key]);
        let Some(name) = f.name.clone().filter(|n| !n.is_empty()) else {
            sink.error(at(""), "a foundation needs a `name`");
            continue;
        };
        if config
            .foundations
            .iter()
            .any(|o: &FoundationConfig| o.name == name)
        {
            sink.error(
                at("name"),
                format!("foundation `{name}` is defined twice; expected unique names"),
            );
            continue;
        }
        let api = match f.api.as_deref() {
            Some(api) if api.starts_with("https://") || api.starts_with("http://") => {
                api.trim_end_matches('/').to_owned()
            }
            Some(_) => {
                sink.error(
                    at("api"),
                    format!("foundation `{name}`: `api` must be an http:// or https:// URL"),
                );
                String::new()
            }
            None => {
                sink.error(
                    at(""),
                    format!("foundation `{name}` needs `api`, the Cloud Controller URL"),
                );
                String::new()
            }
        };
        let auth = f
            .auth
            .as_ref()
            .and_then(|auth| foundation_auth(auth, &name, at("auth"), sink));
        let path = match normalise_dir(f.path.as_deref().unwrap_or("")) {
            Ok(path) => path,
            Err(message) => {
                sink.error(at("path"), format!("foundation `{name}`: {message}"));
                String::new()
            }
        };
        config.foundations.push(FoundationConfig {
            name,
            api,
            platform: f.platform,
            auth,
            feature_flags: f.feature_flags.clone().unwrap_or_default(),
            path,
            skip_ssl_validation: f.skip_ssl_validation.unwrap_or(false),
        });
    }
    // Nested paths would put one manifest at two depths; equal paths (one repo, two
    // foundations) are fine.
    for (i, a) in config.foundations.iter().enumerate() {
        for b in &config.foundations[i + 1..] {
            if a.path != b.path && (a.path.starts_with(&b.path) || b.path.starts_with(&a.path)) {
                let idx = config
                    .foundations
                    .iter()
                    .position(|f| f.name == b.name)
                    .unwrap_or(0)
                    .to_string();
                sink.error(
                    mark_at(root, &["foundations", &idx, "path"]),
                    format!(
                        "foundations `{}` (path `{}`) and `{}` (path `{}`) overlap; expected separate directories",
                        a.name,
                        display_path(&a.path),
                        b.name,
                        display_path(&b.path)
                    ),
                );
            }
        }
    }

    for (i, r) in &registries {
        let idx = i.to_string();
        let at = |key: &str| mark_at(root, &["registries", &idx, key]);
        let Some(raw) = r.host.as_deref().filter(|h| !h.is_empty()) else {
            sink.error(at(""), "a registry needs a `host`");
            continue;
        };
        let host = match normalise_host(raw) {
            Ok(host) => host,
            Err(message) => {
                sink.error(at("host"), message);
                continue;
            }
        };
        if config.registry(&host).is_some() {
            sink.error(
                at("host"),
                format!("registry `{host}` is listed twice; expected one entry per host"),
            );
            continue;
        }
        if r.password.is_some() && r.username.is_none() {
            sink.error(
                at("password"),
                format!("registry `{host}`: a `password` needs a `username`"),
            );
        }
        if r.username.is_some() && r.password.is_none() && r.docker_config.is_none() {
            sink.error(at("username"), format!("registry `{host}`: `username` needs a `password` reference or a `docker_config`"));
        }
        config.registries.push(RegistryConfig {
            host,
            username: r.username.clone(),
            password: r.password.clone(),
            docker_config: r.docker_config.clone(),
            insecure: r.insecure.unwrap_or(false),
        });
    }

    if let Some(p) = &policy {
        let defaults = Policy::default();
        let mut allowed = Vec::new();
        for (i, host) in p.allowed_registries.iter().flatten().enumerate() {
            match normalise_host(host) {
                Ok(host) => allowed.push(host),
                Err(message) => sink.error(
                    mark_at(root, &["policy", "allowed_registries", &i.to_string()]),
                    message,
                ),
            }
        }
        let fraction = p
            .max_delete_fraction
            .unwrap_or(defaults.max_delete_fraction);
        if !(0.0..=1.0).contains(&fraction) {
            sink.error(
                mark_at(root, &["policy", "max_delete_fraction"]),
                "`max_delete_fraction` must be between 0 and 1",
            );
        }
        config.policy = Policy {
            allowed_registries: allowed,
            require_digest: p.require_digest.unwrap_or(defaults.require_digest),
            pin_digest: p.pin_digest.unwrap_or(defaults.pin_digest),
            prune: p.prune.unwrap_or(defaults.prune),
            adopt: p.adopt.unwrap_or(defaults.adopt),
            tag_moved: p.tag_moved.unwrap_or(defaults.tag_moved),
            max_delete_fraction: fraction.clamp(0.0, 1.0),
        };
    }

    let foundation_names: Vec<&str> = config.foundations.iter().map(|f| f.name.as_str()).collect();
    let mut rules = Vec::new();
    for (i, a) in &apps {
        let idx = i.to_string();
        let at = |key: &str| mark_at(root, &["apps", &idx, key]);
        let Some(pattern) = a.pattern.clone().filter(|p| !p.is_empty()) else {
            sink.error(
                at(""),
                "an `apps` entry needs `match`, a glob over `org/space/name`",
            );
            continue;
        };
        let segments = pattern.split('/').count();
        if segments != 3 && !pattern.contains("**") {
            sink.error(
                at("match"),
                format!(
                    "`match: {pattern}` must have three segments, `org/space/name` (or use `**`)"
                ),
            );
            continue;
        }
        if let Some(foundation) = &a.foundation
            && !foundation_names.contains(&foundation.as_str())
        {
            let hint = match suggest(foundation, &foundation_names) {
                Some(name) => format!("; did you mean `{name}`?"),
                None if foundation_names.is_empty() => "; `foundations` defines none".to_owned(),
                None => format!("; defined: {}", foundation_names.join(", ")),
            };
            sink.error(
                at("foundation"),
                format!("foundation `{foundation}` is not defined in `foundations`{hint}"),
            );
            continue;
        }
        rules.push(AppRule {
            pattern: Glob::new(pattern),
            foundation: a.foundation.clone(),
            strategy: a.strategy,
            suspend: a.suspend,
        });
    }
    config.app_rules = rules;
    config
}

fn foundation_auth(
    auth: &wire::FoundationAuth,
    name: &str,
    at: Mark,
    sink: &mut Sink<'_>,
) -> Option<Auth> {
    match (
        &auth.username,
        &auth.password,
        &auth.client_id,
        &auth.client_secret,
    ) {
        (Some(username), Some(password), None, None) => Some(Auth::Password {
            username: username.clone(),
            password: password.clone(),
        }),
        (None, None, Some(client_id), Some(client_secret)) => Some(Auth::Client {
            client_id: client_id.clone(),
            client_secret: client_secret.clone(),
        }),
        _ => {
            sink.error(
                at,
                format!(
                    "foundation `{name}`: `auth` needs either `username` and `password`, \
                     or `client_id` and `client_secret`"
                ),
            );
            None
        }
    }
}

/// `prod`, `./prod/`, `prod/` -> `prod/`; the empty path is the whole repo.
fn normalise_dir(path: &str) -> Result<String, String> {
    let trimmed = path.trim_start_matches("./").trim_end_matches('/');
    if trimmed.is_empty() || trimmed == "." {
        return Ok(String::new());
    }
    if path.starts_with('/') || trimmed.split('/').any(|c| c == ".." || c.is_empty()) {
        return Err(format!(
            "`path: {path}` must be a directory inside the repo, such as `prod/`"
        ));
    }
    Ok(format!("{trimmed}/"))
}

fn display_path(path: &str) -> &str {
    if path.is_empty() { "." } else { path }
}

/// A registry host as image references spell it, normalised (Docker Hub is `docker.io`).
fn normalise_host(host: &str) -> Result<String, String> {
    ImageRef::parse(&format!("{host}/probe"))
        .ok()
        .filter(|image| host.contains(['.', ':']) || host == "localhost" || image.registry != crate::model::image::DOCKER_HUB)
        .map(|image| image.registry)
        .ok_or_else(|| format!("`{host}` is not a registry host; expected `host[:port]`, such as `registry.example.com:5000`"))
}
