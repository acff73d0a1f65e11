//! Validated domain types: what the planner reasons about.
//!
//! Every invariant is checked once, where the value is built (by `load`); the planner never sees
//! a wire type. Pure: no IO, no clock. Collections are ordered (`BTreeMap`) so every output built
//! from them is deterministic.

pub mod image;
pub mod live;
pub mod rules;

use std::{
    cmp::Ordering,
    collections::{BTreeMap, BTreeSet},
    fmt,
};

pub use driftless_schema::{PlatformKind, RouteProtocol, SecretRef, Strategy, TagMoved};
pub use image::{ImageRef, ImageRefError};

/// An app name. Cloud Foundry compares app names in a space case-insensitively, so equality and
/// order here ignore ASCII case; the spelling as written is kept for display and for pushes.
#[derive(Clone, Debug)]
pub struct AppName(String);

impl AppName {
    pub fn new(name: impl Into<String>) -> Self {
        AppName(name.into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    fn folded(&self) -> impl Iterator<Item = u8> + '_ {
        self.0.bytes().map(|b| b.to_ascii_lowercase())
    }
}

impl PartialEq for AppName {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }
}

impl Eq for AppName {}

impl PartialOrd for AppName {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for AppName {
    fn cmp(&self, other: &Self) -> Ordering {
        self.folded().cmp(other.folded())
    }
}

impl fmt::Display for AppName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An org and a space, as named in the repo path `<org>/<space>/`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SpaceKey {
    pub org: String,
    pub space: String,
}

impl fmt::Display for SpaceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.org, self.space)
    }
}

/// The identity of an app in git: org, space and (case-insensitive) name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct AppKey {
    pub space: SpaceKey,
    pub name: AppName,
}

impl fmt::Display for AppKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.space, self.name)
    }
}

/// Where something was declared: a repo-relative path and a line.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SourceLoc {
    pub path: String,
    pub line: u32,
}

impl fmt::Display for SourceLoc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.path, self.line)
    }
}

/// Everything the repo declares, validated.
#[derive(Clone, Debug, Default)]
pub struct Repo {
    pub config: RepoConfig,
    /// One entry per foundation of `driftless.yaml` (or one implicit `default`), in file order.
    pub foundations: Vec<FoundationDesired>,
}

/// What one foundation should run.
#[derive(Clone, Debug, Default)]
pub struct FoundationDesired {
    pub name: String,
    pub apps: BTreeMap<AppKey, DesiredApp>,
    /// Apps whose manifest exists but did not validate: never changed, never deleted.
    pub unknown: BTreeSet<AppKey>,
    /// Spaces with a manifest that could not be read at all (or an app without a usable name):
    /// nothing in them may be pruned, since any live app there might be one git declares.
    pub unreadable_spaces: BTreeSet<SpaceKey>,
    /// Every space that has a manifest in git: the spaces this foundation manages.
    pub spaces: BTreeSet<SpaceKey>,
}

/// A docker app as git declares it. Fields left `None` were not written: the planner applies
/// Cloud Foundry's defaults to them.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredApp {
    pub key: AppKey,
    pub source: SourceLoc,
    pub image: ImageRef,
    /// The registry user (`docker.username`); its password comes from `registries`.
    pub docker_username: Option<String>,
    /// Process type -> settings; always has `web` (top-level keys describe it).
    pub processes: BTreeMap<String, ProcessSpec>,
    pub sidecars: Vec<SidecarSpec>,
    pub env: BTreeMap<String, String>,
    pub routes: Routes,
    pub services: Vec<ServiceSpec>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub stack: Option<String>,
    pub features: BTreeMap<String, bool>,
    pub settings: AppSettings,
}

/// Settings of one process type.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcessSpec {
    pub instances: Option<u32>,
    pub memory_mb: Option<u64>,
    pub disk_mb: Option<u64>,
    pub log_rate_limit: Option<LogRateLimit>,
    pub command: Option<String>,
    pub health_check_type: Option<HealthCheckKind>,
    /// For `http` checks; Cloud Foundry's default is `/`.
    pub health_check_endpoint: Option<String>,
    pub health_check_invocation_timeout: Option<u32>,
    pub health_check_interval: Option<u32>,
    pub readiness_check_type: Option<HealthCheckKind>,
    pub readiness_check_endpoint: Option<String>,
    pub readiness_check_invocation_timeout: Option<u32>,
    pub readiness_check_interval: Option<u32>,
    /// Seconds an instance may take to become healthy.
    pub timeout: Option<u32>,
    pub user: Option<String>,
}

/// A health check type (`none` is read as `process`, as Cloud Foundry does).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum HealthCheckKind {
    Port,
    Process,
    Http,
}

impl HealthCheckKind {
    pub fn as_str(self) -> &'static str {
        match self {
            HealthCheckKind::Port => "port",
            HealthCheckKind::Process => "process",
            HealthCheckKind::Http => "http",
        }
    }
}

/// A log rate limit per instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogRateLimit {
    Unlimited,
    BytesPerSecond(u64),
}

/// A sidecar process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SidecarSpec {
    pub name: String,
    pub process_types: BTreeSet<String>,
    pub command: String,
    pub memory_mb: Option<u64>,
}

/// A service binding.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceSpec {
    pub name: String,
    pub binding_name: Option<String>,
    pub parameters: BTreeMap<String, serde_json::Value>,
}

/// The routes an app gets, following `cf push`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Routes {
    /// No `routes` and no `no-route`: one route on the org's default domain.
    Default,
    /// `no-route: true`.
    None,
    /// `random-route: true`: a random host on the default domain.
    Random,
    /// Exactly these routes, sorted.
    Listed(Vec<RouteSpec>),
}

/// One route: `host.domain[:port][/path]`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RouteSpec {
    /// Lowercase, as Cloud Foundry compares hosts and domains case-insensitively.
    pub url: String,
    pub protocol: Option<RouteProtocol>,
    pub options: BTreeMap<String, String>,
}

/// driftless's per-app settings, from the first matching `apps:` entry of `driftless.yaml`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppSettings {
    pub strategy: Strategy,
    pub suspend: bool,
}

impl Default for AppSettings {
    fn default() -> Self {
        AppSettings {
            strategy: Strategy::Rolling,
            suspend: false,
        }
    }
}

/// `driftless.yaml`, validated.
#[derive(Clone, Debug)]
pub struct RepoConfig {
    /// `false` when driftless.yaml had errors: then nothing may be changed on any foundation,
    /// since its policy and targets are not known for sure.
    pub valid: bool,
    pub foundations: Vec<FoundationConfig>,
    pub registries: Vec<RegistryConfig>,
    pub policy: Policy,
    pub app_rules: Vec<AppRule>,
}

impl Default for RepoConfig {
    fn default() -> Self {
        RepoConfig {
            valid: true,
            foundations: Vec::new(),
            registries: Vec::new(),
            policy: Policy::default(),
            app_rules: Vec::new(),
        }
    }
}

impl RepoConfig {
    /// The credentials entry for a registry host, if any (hosts compare case-insensitively).
    pub fn registry(&self, host: &str) -> Option<&RegistryConfig> {
        self.registries
            .iter()
            .find(|r| r.host.eq_ignore_ascii_case(host))
    }
}

/// One foundation.
#[derive(Clone, Debug, PartialEq)]
pub struct FoundationConfig {
    pub name: String,
    pub api: String,
    pub platform: Option<PlatformKind>,
    pub auth: Option<Auth>,
    pub feature_flags: BTreeMap<String, bool>,
    /// A repo-relative directory prefix ending in `/`, or empty for the whole repo.
    pub path: String,
    pub skip_ssl_validation: bool,
}

impl FoundationConfig {
    /// The foundation of a repo without `driftless.yaml` (or not listed in it): named, and
    /// given entirely by flags and the environment.
    pub fn implicit(name: impl Into<String>) -> FoundationConfig {
        FoundationConfig {
            name: name.into(),
            ..FoundationConfig::default()
        }
    }
}

/// How to log in to a foundation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Auth {
    Password {
        username: String,
        password: SecretRef,
    },
    Client {
        client_id: String,
        client_secret: SecretRef,
    },
}

/// Credentials for one registry host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryConfig {
    /// Normalised like image hosts (`docker.io` for Docker Hub).
    pub host: String,
    pub username: Option<String>,
    pub password: Option<SecretRef>,
    pub docker_config: Option<String>,
    pub insecure: bool,
}

/// What driftless may do.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    /// Empty: any registry.
    pub allowed_registries: Vec<String>,
    pub require_digest: bool,
    pub pin_digest: bool,
    pub prune: bool,
    pub adopt: bool,
    pub tag_moved: TagMoved,
    pub max_delete_fraction: f64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            allowed_registries: Vec::new(),
            require_digest: false,
            pin_digest: true,
            prune: false,
            adopt: false,
            tag_moved: TagMoved::Report,
            max_delete_fraction: 0.5,
        }
    }
}

/// One `apps:` entry of `driftless.yaml`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppRule {
    pub pattern: Glob,
    pub foundation: Option<String>,
    pub strategy: Option<Strategy>,
    pub suspend: Option<bool>,
}

/// A glob over `org/space/name`: `*` matches within one segment, `**` any number of segments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Glob(String);

impl Glob {
    pub fn new(pattern: impl Into<String>) -> Self {
        Glob(pattern.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `key` (as `org/space/name`) matches. App names match case-insensitively.
    pub fn matches(&self, key: &AppKey) -> bool {
        let subject = [
            key.space.org.as_str(),
            key.space.space.as_str(),
            key.name.as_str(),
        ];
        let pattern: Vec<&str> = self.0.split('/').collect();
        match_segments(&pattern, &subject)
    }
}

fn match_segments(pattern: &[&str], subject: &[&str]) -> bool {
    match pattern.split_first() {
        None => subject.is_empty(),
        Some((&"**", rest)) => {
            (0..=subject.len()).any(|skip| match_segments(rest, &subject[skip..]))
        }
        Some((first, rest)) => {
            let last = subject.len() == 1 && rest.is_empty();
            subject.split_first().is_some_and(|(head, tail)| {
                match_wildcard(first.as_bytes(), head.as_bytes(), last)
                    && match_segments(rest, tail)
            })
        }
    }
}

/// `*` matches any run of bytes within a segment; the name segment compares without case.
fn match_wildcard(pattern: &[u8], text: &[u8], fold: bool) -> bool {
    let eq = |a: u8, b: u8| {
        if fold {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => {
            (0..=text.len()).any(|skip| match_wildcard(rest, &text[skip..], fold))
        }
        Some((&p, rest)) => text
            .split_first()
            .is_some_and(|(&t, tail)| eq(p, t) && match_wildcard(rest, tail, fold)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(org: &str, space: &str, name: &str) -> AppKey {
        AppKey {
            space: SpaceKey {
                org: org.into(),
                space: space.into(),
            },
            name: AppName::new(name),
        }
    }

    #[test]
    fn app_names_compare_without_case() {
        assert_eq!(key("o", "s", "Billing"), key("o", "s", "billing"));
        assert_ne!(key("o", "S", "billing"), key("o", "s", "billing"));
        assert!(AppName::new("a") < AppName::new("B"));
    }

    #[test]
    fn globs_match_segments() {
        let cases = [
            ("*/prod/*", "acme/prod/web", true),
            ("*/prod/*", "acme/staging/web", false),
            ("acme/**", "acme/prod/web", true),
            ("**/web", "acme/prod/WEB", true),
            ("acme/*/api-*", "acme/dev/api-billing", true),
            ("acme/*/api-*", "acme/dev/web", false),
            ("*", "acme/prod/web", false),
            ("**", "acme/prod/web", true),
        ];
        for (pattern, subject, expected) in cases {
            let parts: Vec<&str> = subject.split('/').collect();
            let k = key(parts[0], parts[1], parts[2]);
            assert_eq!(
                Glob::new(pattern).matches(&k),
                expected,
                "{pattern} vs {subject}"
            );
        }
    }
}
