//! Both sides of a comparison in one canonical form, and the provenance hashes.
//!
//! Desired values that git left out get Cloud Foundry's defaults (one instance, 1024 MB of
//! memory and disk, a `port` check for `web` and a `process` check for other types, `/` for
//! `http` checks); live values get the same spelling (`none` checks are `process`, image
//! references in their `docker.io/library/...:latest` form, hosts lowercase). Sizes are
//! already megabytes on both sides. After an apply, the live state normalises to exactly the
//! desired form, which is what makes apply-then-plan empty.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::{
    cf::platform::{AppSpec, ProcessTarget},
    model::{
        DesiredApp, HealthCheckKind, ImageRef, ProcessSpec, Routes,
        live::{LiveApp, LiveProcess},
    },
};

/// Cloud Foundry's instance count for a process that does not say.
pub const DEFAULT_INSTANCES: u32 = 1;
/// Cloud Foundry's default memory and disk quota per instance, in MB.
pub const DEFAULT_MEMORY_MB: u64 = 1024;
pub const DEFAULT_DISK_MB: u64 = 1024;
/// Cloud Foundry's endpoint for an `http` check that names none.
pub const DEFAULT_HTTP_ENDPOINT: &str = "/";

/// The health check Cloud Foundry gives a process type that does not say: `port` for `web`,
/// `process` for the others.
pub fn default_health_check(process_type: &str) -> HealthCheckKind {
    if process_type == "web" {
        HealthCheckKind::Port
    } else {
        HealthCheckKind::Process
    }
}

/// A desired process with Cloud Foundry's defaults applied. `timeout` stays `None` when git
/// does not give one (the platform's default applies, and it is not compared).
pub fn process_target(process_type: &str, spec: &ProcessSpec) -> ProcessTarget {
    let kind = spec
        .health_check_type
        .unwrap_or_else(|| default_health_check(process_type));
    ProcessTarget {
        instances: spec.instances.unwrap_or(DEFAULT_INSTANCES),
        memory_mb: spec.memory_mb.unwrap_or(DEFAULT_MEMORY_MB),
        disk_mb: spec.disk_mb.unwrap_or(DEFAULT_DISK_MB),
        health_check_type: kind,
        health_check_endpoint: endpoint_for(kind, spec.health_check_endpoint.as_deref()),
        timeout: spec.timeout,
        command: spec.command.clone(),
    }
}

/// Every desired process type (always `web`) with defaults applied.
pub fn process_targets(app: &DesiredApp) -> BTreeMap<String, ProcessTarget> {
    let mut out: BTreeMap<String, ProcessTarget> = app
        .processes
        .iter()
        .map(|(kind, spec)| (kind.clone(), process_target(kind, spec)))
        .collect();
    out.entry("web".to_owned())
        .or_insert_with(|| process_target("web", &ProcessSpec::default()));
    out
}

/// A health check type as Cloud Foundry spells it (`none` is the old name of `process`).
pub fn health_check_kind(text: &str) -> Option<HealthCheckKind> {
    match text.to_ascii_lowercase().as_str() {
        "port" => Some(HealthCheckKind::Port),
        "process" | "none" => Some(HealthCheckKind::Process),
        "http" => Some(HealthCheckKind::Http),
        _ => None,
    }
}

/// The endpoint that matters for a check: only `http` checks have one, `/` by default.
pub fn endpoint_for(kind: HealthCheckKind, endpoint: Option<&str>) -> Option<String> {
    match kind {
        HealthCheckKind::Http => Some(endpoint.unwrap_or(DEFAULT_HTTP_ENDPOINT).to_owned()),
        HealthCheckKind::Port | HealthCheckKind::Process => None,
    }
}

/// A live process in the desired form (what a rollback restores). An unknown health check
/// type reads as `port`, the `web` default.
pub fn live_process_target(process: &LiveProcess) -> ProcessTarget {
    let kind = health_check_kind(&process.health_check_type).unwrap_or(HealthCheckKind::Port);
    ProcessTarget {
        instances: process.instances,
        memory_mb: process.memory_mb,
        disk_mb: process.disk_mb,
        health_check_type: kind,
        health_check_endpoint: endpoint_for(kind, process.health_check_endpoint.as_deref()),
        timeout: process.timeout,
        command: process.command.clone(),
    }
}

/// A live image reference in normalised form (`nginx` -> `docker.io/library/nginx:latest`);
/// kept as written when it does not parse.
pub fn image_text(raw: &str) -> String {
    ImageRef::parse(raw).map_or_else(|_| raw.to_owned(), |image| image.to_string())
}

/// The image without its digest (the tag form, as git writes it), unless it has no tag.
pub fn tag_form(image: &ImageRef) -> String {
    match image.tag {
        Some(_) => ImageRef {
            digest: None,
            ..image.clone()
        }
        .to_string(),
        None => image.to_string(),
    }
}

/// The routes the app must have, or `None` when they are not compared: a random route that
/// the app already has (one route), or a default route with no known default domain.
pub fn desired_routes(
    app: &DesiredApp,
    live: Option<&LiveApp>,
    default_domain: Option<&str>,
) -> Option<BTreeSet<String>> {
    let name = app.key.name.as_str().to_ascii_lowercase();
    match &app.routes {
        Routes::None => Some(BTreeSet::new()),
        Routes::Listed(routes) => Some(
            routes
                .iter()
                .map(|route| route.url.to_ascii_lowercase())
                .collect(),
        ),
        Routes::Default => {
            default_domain.map(|domain| BTreeSet::from([format!("{name}.{domain}")]))
        }
        Routes::Random => {
            if live.is_some_and(|app| app.routes.len() == 1) {
                return None;
            }
            // Deterministic, so a plan is reproducible: the host is the name and a hash of
            // the app's identity, unique per org and space.
            let suffix = short_hash(app.key.to_string().to_ascii_lowercase().as_bytes());
            default_domain
                .map(|domain| BTreeSet::from([format!("{name}-{}.{domain}", &suffix[..8])]))
        }
    }
}

/// Normalises live route URLs for comparison (hosts and domains are case-insensitive).
pub fn live_routes(app: &LiveApp) -> BTreeSet<String> {
    app.routes.iter().map(|r| r.to_ascii_lowercase()).collect()
}

/// Feeds what serde_json writes straight into the hash (no intermediate string).
struct HashWriter(Sha256);

impl std::io::Write for HashWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The first 16 hex digits of a sha256.
fn short_hex(hasher: Sha256) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = hasher.finalize();
    let mut out = String::with_capacity(16);
    for b in digest.iter().take(8) {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out
}

/// The first 16 hex digits of sha256 over `bytes`.
fn short_hash(bytes: &[u8]) -> String {
    short_hex(Sha256::new_with_prefix(bytes))
}

/// The first 16 hex digits of sha256 over the compact JSON of `value`: the same bytes as
/// `Value::to_string()` of its `json!` form, without building either. Canonical, since maps
/// here are `BTreeMap`s (or `Value` objects built from them) and serialise in key order.
fn hash_json(value: &impl serde::Serialize) -> String {
    let mut writer = HashWriter(Sha256::new());
    // Writing to a hasher cannot fail, and these maps have string keys only.
    let _ = serde_json::to_writer(&mut writer, value);
    short_hex(writer.0)
}

/// The env-hash annotation: 16 hex digits of sha256 over the canonical JSON of the map.
/// Equal maps give equal hashes; the values cannot be read back from it.
pub fn env_hash(env: &BTreeMap<String, String>) -> String {
    hash_json(env)
}

/// The command-hash annotation: 16 hex digits of sha256 over process type -> command (`null`
/// when the image's own command runs).
pub fn command_hash(processes: &BTreeMap<String, ProcessTarget>) -> String {
    let commands: BTreeMap<&String, Option<&String>> = processes
        .iter()
        .map(|(kind, target)| (kind, target.command.as_ref()))
        .collect();
    hash_json(&commands)
}

/// The spec-hash annotation: 16 hex digits of sha256 over the applied processes, routes,
/// labels, the annotations that are not provenance, and the image as written. `routes` is
/// `None` when they are not managed.
pub fn spec_hash(spec: &AppSpec, routes: Option<&BTreeSet<String>>, image: &str) -> String {
    let processes: BTreeMap<&String, Value> = spec
        .processes
        .iter()
        .map(|(kind, p)| (kind, process_json(p)))
        .collect();
    let annotations: BTreeMap<&String, &String> = spec
        .annotations
        .iter()
        .filter(|(k, _)| !is_provenance(k))
        .collect();
    hash_json(&json!({
        "image": image,
        "processes": processes,
        "routes": routes,
        "labels": spec.labels,
        "annotations": annotations,
    }))
}

/// Whether an annotation key is one driftless writes itself.
pub fn is_provenance(key: &str) -> bool {
    // Every annotation driftless writes lives under its own prefix.
    key.starts_with("driftless.dev/")
}

fn process_json(p: &ProcessTarget) -> Value {
    json!({
        "instances": p.instances,
        "memory_mb": p.memory_mb,
        "disk_mb": p.disk_mb,
        "health_check_type": p.health_check_type.as_str(),
        "health_check_endpoint": p.health_check_endpoint,
        "timeout": p.timeout,
        "command": p.command,
    })
}
