//! [`plan`]: desired x live x registry answers x policy -> [`Plan`]. Pure and deterministic.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::{
    Action, AppWork, Change, FieldDiff, ImageCheck, ImageWork, Images, Plan, PlanOptions, Previous,
    Rollout, Target, Work,
    normalise::{self, command_hash, env_hash, spec_hash},
    provenance,
};
use crate::{
    cf::platform::{AppSpec, ProcessTarget},
    model::{
        AppKey, DesiredApp, FoundationConfig, FoundationDesired, ImageRef, RepoConfig, TagMoved,
        live::{Live, LiveApp, MANAGED_LABEL},
        rules::{has_url_credentials, is_sensitive_env_name},
    },
};

/// Everything [`plan`] needs besides the desired and live states. Holds no secret:
/// credentials are known by fingerprint only.
#[derive(Clone, Copy, Debug)]
pub struct PlanContext<'a> {
    /// Policy and registries (`valid: false` blocks every change).
    pub config: &'a RepoConfig,
    /// The foundation's declared feature flags.
    pub foundation: &'a FoundationConfig,
    /// Registry host (normalised, lowercase) -> fingerprint of its credential.
    pub credentials: &'a BTreeMap<String, String>,
    pub options: &'a PlanOptions,
}

/// The flag that lets Cloud Foundry run docker images.
pub const DIEGO_DOCKER: &str = "diego_docker";

/// The reason for app changes that need docker while `diego_docker` is off and not declared.
pub const DIEGO_DOCKER_OFF: &str = "feature flag diego_docker is disabled (declare it in driftless.yaml feature_flags to let driftless enable it)";

const CONFIG_INVALID: &str = "driftless.yaml has errors";
const NOT_OWNED: &str = "exists and is not managed by driftless";
const SUSPENDED: &str = "suspended";

/// Plans one foundation. Pure: no IO, no clock; the same inputs give the same plan, its
/// changes sorted by target (feature flags, then apps by org, space and name).
///
/// Invariants: only owned apps absent from git are ever deleted, and only with prune on;
/// nothing in `desired.unknown` or in an unreadable space is deleted or changed; an unowned
/// app is changed only when adopting; nothing that starts instances proceeds unless its image
/// resolved; with `config.valid == false` nothing proceeds at all.
pub fn plan(
    desired: &FoundationDesired,
    live: &Live,
    images: &Images,
    cx: &PlanContext<'_>,
) -> Plan {
    // Every target comes up once (flags, declared apps, unknown apps, leftovers are disjoint),
    // so a sort at the end orders them without a map keyed by a clone of each target.
    let mut changes: Vec<Change> = Vec::with_capacity(desired.apps.len() + 8);
    let n_docker_apps = desired.apps.len();
    for (name, &enabled) in &cx.foundation.feature_flags {
        changes.push(flag_change(name, enabled, live, cx, n_docker_apps));
    }
    let docker_block = docker_block(live, cx);
    for (key, app) in &desired.apps {
        if desired.unknown.contains(key) {
            continue;
        }
        changes.push(app_change(
            app,
            live.apps.get(key),
            live,
            images,
            cx,
            docker_block,
        ));
    }
    for key in &desired.unknown {
        changes.push(Change {
            target: Target::App(key.clone()),
            action: Action::Blocked,
            fields: Vec::new(),
            rollout: Rollout::None,
            reason: "its manifest has errors: not created, changed or deleted".to_owned(),
            work: Work::Nothing,
        });
    }
    for (key, app) in &live.apps {
        if desired.apps.contains_key(key)
            || desired.unknown.contains(key)
            || !desired.spaces.contains(&key.space)
        {
            continue;
        }
        changes.push(leftover_change(key, app, desired, cx));
    }
    // Mostly sorted already (declared apps come in key order): the stable sort finds the runs.
    changes.sort_by(|a, b| a.target.cmp(&b.target));
    if !cx.config.valid {
        for change in &mut changes {
            if matches!(
                change.action,
                Action::Create | Action::Update | Action::Delete
            ) {
                change.action = Action::Blocked;
                change.reason = format!("{CONFIG_INVALID}: {}", change.reason);
                change.work = Work::Nothing;
            }
        }
    }
    let refused = mass_delete_guard(&changes, desired, live, cx);
    Plan {
        foundation: desired.name.clone(),
        revision: cx.options.revision.clone(),
        changes,
        refused,
    }
}

fn flag_change(
    name: &str,
    enabled: bool,
    live: &Live,
    cx: &PlanContext<'_>,
    n_docker_apps: usize,
) -> Change {
    let target = Target::FeatureFlag(name.to_owned());
    let Some(&current) = live.feature_flags.get(name) else {
        return Change {
            target,
            action: Action::Blocked,
            fields: Vec::new(),
            rollout: Rollout::None,
            reason: format!("the foundation has no feature flag `{name}`"),
            work: Work::Nothing,
        };
    };
    if current == enabled {
        return Change {
            target,
            action: Action::Noop,
            fields: Vec::new(),
            rollout: Rollout::None,
            reason: "as declared".to_owned(),
            work: Work::Nothing,
        };
    }
    let mut reason = format!("{name} {current} -> {enabled}");
    if name == DIEGO_DOCKER && !enabled {
        // A declared `false` is explicit, so it is honoured, but loudly.
        reason.push_str(&format!(
            ", as declared in driftless.yaml: this stops every docker app on the foundation \
             ({n_docker_apps} declared in git)"
        ));
    }
    let action = if cx.config.valid {
        Action::Update
    } else {
        reason = format!("{CONFIG_INVALID}: {reason}");
        Action::Blocked
    };
    let work = match action {
        Action::Update => Work::SetFlag {
            name: name.to_owned(),
            enabled,
        },
        _ => Work::Nothing,
    };
    Change {
        target,
        action,
        fields: vec![FieldDiff {
            path: "enabled".to_owned(),
            live: json!(current),
            desired: json!(enabled),
        }],
        rollout: Rollout::None,
        reason,
        work,
    }
}

/// Why nothing may start docker instances, when `diego_docker` will be off after this plan.
fn docker_block(live: &Live, cx: &PlanContext<'_>) -> Option<&'static str> {
    let declared = cx.foundation.feature_flags.get(DIEGO_DOCKER).copied();
    let current = live.feature_flags.get(DIEGO_DOCKER).copied();
    let after = if cx.config.valid {
        declared.or(current)
    } else {
        current
    };
    // A foundation that does not list the flag is not known to forbid docker.
    match (after.unwrap_or(true), declared) {
        (true, _) => None,
        (false, Some(false)) => {
            Some("feature flag diego_docker is declared false in driftless.yaml")
        }
        (false, _) => Some(DIEGO_DOCKER_OFF),
    }
}

/// A live app in a managed space that git does not declare.
fn leftover_change(
    key: &AppKey,
    app: &LiveApp,
    desired: &FoundationDesired,
    cx: &PlanContext<'_>,
) -> Change {
    let target = Target::App(key.clone());
    let prune = cx.options.prune || cx.config.policy.prune;
    let (action, reason, work) = if !app.owned {
        (
            Action::Unowned,
            "not managed by driftless (no driftless.dev/managed label)".to_owned(),
            Work::Nothing,
        )
    } else if desired.unreadable_spaces.contains(&key.space) {
        (
            Action::Orphan,
            format!(
                "not in git, but a manifest in {} could not be read: not pruned",
                key.space
            ),
            Work::Nothing,
        )
    } else if prune {
        (
            Action::Delete,
            "not in git; prune is on".to_owned(),
            Work::Delete {
                guid: app.guid.clone(),
                observed_updated_at: app.stamp(),
            },
        )
    } else {
        (
            Action::Orphan,
            "not in git; prune is off".to_owned(),
            Work::Nothing,
        )
    };
    Change {
        target,
        action,
        fields: Vec::new(),
        rollout: Rollout::None,
        reason,
        work,
    }
}

fn mass_delete_guard(
    changes: &[Change],
    desired: &FoundationDesired,
    live: &Live,
    cx: &PlanContext<'_>,
) -> Option<String> {
    let n_deletes = changes
        .iter()
        .filter(|c| c.action == Action::Delete)
        .count();
    let n_managed = live
        .apps
        .iter()
        .filter(|(key, app)| app.owned && desired.spaces.contains(&key.space))
        .count();
    let fraction = cx.config.policy.max_delete_fraction;
    // Counts are small; the float comparison is exact enough for "more than half".
    #[allow(clippy::cast_precision_loss)]
    let too_many = n_deletes as f64 > fraction * n_managed as f64;
    (n_deletes >= 2 && too_many && !cx.options.allow_mass_delete).then(|| {
        format!(
            "the plan would delete {n_deletes} of {n_managed} managed apps, more than {}%; \
             pass --allow-mass-delete if that is intended",
            (fraction * 100.0).round()
        )
    })
}

/// What differs between a desired app and what runs (or nothing, for a create).
#[derive(Default)]
struct Delta {
    fields: Vec<FieldDiff>,
    /// A new package and build: new image or digest, new credential, no droplet.
    image: bool,
    /// The tag as written is deployed, but it now resolves to another digest: (old, new).
    tag_moved: Option<(String, String)>,
    scale: BTreeSet<String>,
    update_processes: BTreeSet<String>,
    /// Instances go up somewhere (new instances start).
    scale_up: bool,
    /// Memory, disk, health check, command or env change: running instances must restart.
    restart: bool,
    instances_changed: bool,
    env: bool,
    routes: Option<BTreeSet<String>>,
    start: bool,
}

impl Delta {
    fn push(&mut self, path: impl Into<String>, live: Value, desired: Value) {
        self.fields.push(FieldDiff {
            path: path.into(),
            live,
            desired,
        });
    }

    fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

/// The desired app in its applied form.
struct Wanted<'a> {
    app: &'a DesiredApp,
    written: String,
    /// What would be deployed: pinned when the digest is known, `None` when it is needed but
    /// unknown (the registry did not answer).
    deploy: Option<ImageRef>,
    resolved: Option<&'a str>,
    credential: Option<&'a String>,
    processes: BTreeMap<String, ProcessTarget>,
    routes: Option<BTreeSet<String>>,
    labels: BTreeMap<String, String>,
}

fn app_change(
    app: &DesiredApp,
    live_app: Option<&LiveApp>,
    live: &Live,
    images: &Images,
    cx: &PlanContext<'_>,
    docker_block: Option<&str>,
) -> Change {
    let policy = &cx.config.policy;
    let written = app.image.to_string();
    let check = images.get(&written);
    let resolved = match check {
        Some(ImageCheck::Resolved { digest }) => Some(digest.as_str()),
        _ => None,
    };
    let deploy = match (policy.pin_digest, resolved) {
        (true, Some(digest)) => Some(app.image.pinned(digest)),
        (true, None) => None,
        (false, _) => Some(app.image.clone()),
    };
    let mut labels = app.labels.clone();
    labels.insert(MANAGED_LABEL.to_owned(), "true".to_owned());
    let wanted = Wanted {
        app,
        written,
        deploy,
        resolved,
        credential: cx.credentials.get(&app.image.registry.to_ascii_lowercase()),
        processes: normalise::process_targets(app),
        routes: normalise::desired_routes(app, live_app, live.default_domain.as_deref()),
        labels,
    };
    let target = Target::App(app.key.clone());
    let delta = diff(&wanted, live_app);
    let strategy_rollout = Rollout::for_strategy(app.settings.strategy);
    let rollout = if live_app.is_none() {
        Rollout::None
    } else if delta.image || delta.restart {
        strategy_rollout
    } else if delta.instances_changed || delta.routes.is_some() || delta.start {
        Rollout::InPlace
    } else {
        Rollout::None
    };
    let starts =
        live_app.is_none() || delta.image || delta.restart || delta.start || delta.scale_up;
    let blocked = |reason: String, delta: Delta| Change {
        target: target.clone(),
        action: Action::Blocked,
        fields: delta.fields,
        rollout,
        reason,
        work: Work::Nothing,
    };

    let adopting = live_app.is_some_and(|a| !a.owned);
    let adopt = cx.options.adopt || policy.adopt;
    if app.settings.suspend {
        if delta.is_empty() {
            return noop(target, SUSPENDED);
        }
        return blocked(SUSPENDED.to_owned(), delta);
    }
    if adopting && !adopt {
        return blocked(NOT_OWNED.to_owned(), delta);
    }
    if delta.is_empty() {
        return noop(target, "up to date");
    }
    if let Some(deployment) = live_app.and_then(|a| a.deployment.as_ref()) {
        // Someone (or an earlier apply) is rolling the app out: acting now would fight it, and
        // its processes show a moment of the rollout, not a settled state.
        return blocked(
            format!("deployment {deployment} is in progress; planned again after it finishes"),
            delta,
        );
    }
    if live_app.is_none() && !live.spaces.contains_key(&app.key.space) {
        return blocked(
            format!(
                "space {} does not exist on the foundation (driftless does not create spaces)",
                app.key.space
            ),
            delta,
        );
    }
    // Cloud Foundry gives a docker app only `web`; other types appear only through `cf push`
    // with a manifest (apply_manifest), which driftless does not drive yet.
    let missing: Vec<&str> = wanted
        .processes
        .keys()
        .filter(|kind| *kind != "web" && live_app.is_none_or(|a| !a.processes.contains_key(*kind)))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return blocked(
            format!(
                "process type {} does not exist on the app, and driftless cannot create it yet (a docker app gets only `web` outside `cf push` with a manifest); run it as its own app",
                missing.join(", ")
            ),
            delta,
        );
    }
    if !policy.allowed_registries.is_empty()
        && !policy
            .allowed_registries
            .iter()
            .any(|host| host.eq_ignore_ascii_case(&app.image.registry))
    {
        return blocked(
            format!(
                "registry {} is not in policy.allowed_registries",
                app.image.registry
            ),
            delta,
        );
    }
    if policy.require_digest && app.image.digest.is_none() {
        return blocked(
            format!(
                "image {} is a tag without a digest, and policy.require_digest is on",
                wanted.written
            ),
            delta,
        );
    }
    if let Some((old, new)) = &delta.tag_moved
        && policy.tag_moved == TagMoved::Report
    {
        let reason = format!(
            "tag moved: {} was {old}, now {new} (policy.tag_moved is report)",
            wanted.written
        );
        return blocked(reason, delta);
    }
    if starts {
        if let Some(reason) = docker_block {
            return blocked(reason.to_owned(), delta);
        }
        match check {
            Some(ImageCheck::Resolved { .. }) => {}
            Some(ImageCheck::Failed { kind, reason }) => {
                let kind = kind.replace('_', " ");
                return blocked(
                    format!("registry {} {kind}: {reason}", app.image.registry),
                    delta,
                );
            }
            None => {
                return blocked(
                    format!("image {} was not checked in its registry", wanted.written),
                    delta,
                );
            }
        }
    }

    let reason = match (&delta.tag_moved, live_app) {
        (_, None) => format!("new app ({})", wanted.written),
        (Some((old, new)), Some(_)) if delta.image => {
            format!("tag moved: redeploying {} ({old} -> {new})", wanted.written)
        }
        _ => summarise(&delta.fields),
    };
    let reason = if adopting {
        format!("adopt: {reason}")
    } else {
        reason
    };
    let work = app_work(&wanted, live_app, live, &delta, cx);
    // A rollout that failed before (same revision, digest and spec) is not tried again.
    if (delta.image || delta.restart)
        && let Some(failed) = live_app.and_then(|a| a.annotations.get(provenance::FAILED_ROLLOUT))
        && *failed == super::rollout_key(&work.spec.annotations)
    {
        return blocked(
            format!(
                "the rollout of {} at revision {} failed and was rolled back; not retried until git or the image moves",
                wanted.written,
                cx.options
                    .revision
                    .as_deref()
                    .unwrap_or("(working directory)")
            ),
            delta,
        );
    }
    let action = if live_app.is_some() {
        Action::Update
    } else {
        Action::Create
    };
    Change {
        target,
        action,
        fields: delta.fields,
        rollout,
        reason,
        work: match action {
            Action::Create => Work::Create(Box::new(work)),
            _ => Work::Update(Box::new(work)),
        },
    }
}

fn noop(target: Target, reason: &str) -> Change {
    Change {
        target,
        action: Action::Noop,
        fields: Vec::new(),
        rollout: Rollout::None,
        reason: reason.to_owned(),
        work: Work::Nothing,
    }
}

/// "instances 1 -> 3, memory 1024 -> 2048", at most three fields named.
fn summarise(fields: &[FieldDiff]) -> String {
    let mut parts: Vec<String> = fields
        .iter()
        .take(3)
        .map(|f| {
            if f.live == f.desired {
                // Both sides hidden (a secret-looking env value): only the change is news.
                format!("{} changed", f.path)
            } else {
                format!("{} {} -> {}", f.path, show(&f.live), show(&f.desired))
            }
        })
        .collect();
    if fields.len() > 3 {
        parts.push(format!("and {} more", fields.len() - 3));
    }
    parts.join(", ")
}

/// A JSON value in a reason: strings bare, `null` as `(none)`, lists in brackets.
fn show(value: &Value) -> String {
    match value {
        Value::Null => "(none)".to_owned(),
        Value::String(s) => s.clone(),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(show).collect::<Vec<_>>().join(", ")
        ),
        other => other.to_string(),
    }
}

fn diff(wanted: &Wanted<'_>, live: Option<&LiveApp>) -> Delta {
    let mut delta = Delta::default();
    let app = wanted.app;
    diff_image(wanted, live, &mut delta);
    for (kind, target) in &wanted.processes {
        diff_process(kind, target, live, &mut delta);
    }
    diff_commands(wanted, live, &mut delta);
    if let Some(live) = live
        && !live.started
    {
        delta.push("state", json!("STOPPED"), json!("STARTED"));
        delta.start = true;
    }
    if let Some(routes) = &wanted.routes {
        let current = live.map(normalise::live_routes).unwrap_or_default();
        if *routes != current {
            let live_value = match live {
                Some(_) => json!(current),
                None => Value::Null,
            };
            delta.push("routes", live_value, json!(routes));
            delta.routes = Some(routes.clone());
        }
    }
    for (k, v) in &wanted.labels {
        let current = live.and_then(|l| l.labels.get(k));
        if current != Some(v) {
            delta.push(format!("labels.{k}"), json!(current), json!(v));
        }
    }
    for (k, v) in &app.annotations {
        let current = live.and_then(|l| l.annotations.get(k));
        if current != Some(v) {
            delta.push(format!("annotations.{k}"), json!(current), json!(v));
        }
    }
    diff_env(&app.env, live, &mut delta);
    delta
}

fn diff_image(wanted: &Wanted<'_>, live: Option<&LiveApp>, delta: &mut Delta) {
    let Some(live) = live else {
        let desired = wanted
            .deploy
            .as_ref()
            .map_or_else(|| wanted.written.clone(), ToString::to_string);
        delta.push("image", Value::Null, json!(desired));
        delta.image = true;
        return;
    };
    // Parsed once; its normalised text (`normalise::image_text`) only when a diff shows it.
    let live_parsed = live
        .image
        .as_deref()
        .map(|raw| (raw, ImageRef::parse(raw).ok()));
    let live_image = || {
        live_parsed.as_ref().map(|(raw, parsed)| {
            parsed
                .as_ref()
                .map_or_else(|| (*raw).to_owned(), ToString::to_string)
        })
    };
    let live_written = live.annotations.get(provenance::IMAGE);
    let live_digest = live.annotations.get(provenance::DIGEST);
    let moved = match (live_written, live_digest, wanted.resolved) {
        (Some(w), Some(old), Some(new)) if *w == wanted.written && old != new => {
            Some((old.clone(), new.to_owned()))
        }
        _ => None,
    };
    if let Some((old, new)) = moved {
        delta.push("digest", json!(old), json!(new));
        delta.tag_moved = Some((old, new));
        delta.image = true;
    } else {
        let changed = match &wanted.deploy {
            Some(deploy) => !live_parsed
                .as_ref()
                .is_some_and(|(_, parsed)| same_image(parsed.as_ref(), live_image, deploy)),
            // The digest is unknown: compare what git wrote with what was deployed from git.
            None => {
                let deployed = live_written.cloned().or_else(|| {
                    live_parsed
                        .as_ref()
                        .and_then(|(_, parsed)| parsed.as_ref())
                        .map(normalise::tag_form)
                });
                deployed.as_deref() != Some(normalise::tag_form(&wanted.app.image).as_str())
            }
        };
        if changed {
            let desired = wanted
                .deploy
                .as_ref()
                .map_or_else(|| wanted.written.clone(), ToString::to_string);
            delta.push("image", json!(live_image()), json!(desired));
            delta.image = true;
        }
    }
    // A credential no longer needed (a public image) needs no new build: the old one pulls.
    let live_credential = live.annotations.get(provenance::CREDENTIAL);
    if wanted.credential.is_some() && live_credential != wanted.credential {
        let shown = |c: Option<&String>, text: &str| match c {
            Some(_) => json!(text),
            None => Value::Null,
        };
        delta.push(
            "docker.credential",
            shown(live_credential, "(credential)"),
            shown(wanted.credential, "(credential changed)"),
        );
        delta.image = true;
    }
}

/// Whether a live reference (`live` parsed, `live_text` its normalised text) runs `deploy`:
/// two pinned references are the same image when repository and digest agree (the tag beside
/// a digest is only a label).
fn same_image(
    live: Option<&ImageRef>,
    live_text: impl FnOnce() -> Option<String>,
    deploy: &ImageRef,
) -> bool {
    match (live, &deploy.digest) {
        (Some(live), Some(digest)) if live.digest.is_some() => {
            live.registry == deploy.registry
                && live.repository == deploy.repository
                && live.digest.as_ref() == Some(digest)
        }
        _ => live_text().is_some_and(|text| text == deploy.to_string()),
    }
}

fn field_path(kind: &str, field: &str) -> String {
    if kind == "web" {
        field.to_owned()
    } else {
        format!("processes.{kind}.{field}")
    }
}

fn diff_process(kind: &str, target: &ProcessTarget, live: Option<&LiveApp>, delta: &mut Delta) {
    let path = |field: &str| field_path(kind, field);
    let current = live.and_then(|l| l.processes.get(kind));
    let Some(current) = current else {
        delta.push(path("instances"), Value::Null, json!(target.instances));
        delta.push(path("memory"), Value::Null, json!(target.memory_mb));
        delta.push(path("disk"), Value::Null, json!(target.disk_mb));
        delta.push(
            path("health_check_type"),
            Value::Null,
            json!(target.health_check_type.as_str()),
        );
        if let Some(endpoint) = &target.health_check_endpoint {
            delta.push(
                path("health_check_http_endpoint"),
                Value::Null,
                json!(endpoint),
            );
        }
        if let Some(timeout) = target.timeout {
            delta.push(path("timeout"), Value::Null, json!(timeout));
        }
        if live.is_some() {
            // A process type the app does not have yet: scale and configure it.
            delta.scale.insert(kind.to_owned());
            delta.update_processes.insert(kind.to_owned());
            delta.scale_up |= target.instances > 0;
            delta.instances_changed = true;
        }
        return;
    };
    let now = normalise::live_process_target(current);
    if now.instances != target.instances {
        delta.push(
            path("instances"),
            json!(now.instances),
            json!(target.instances),
        );
        delta.scale.insert(kind.to_owned());
        delta.instances_changed = true;
        delta.scale_up |= target.instances > now.instances;
    }
    if now.memory_mb != target.memory_mb {
        delta.push(
            path("memory"),
            json!(now.memory_mb),
            json!(target.memory_mb),
        );
        delta.scale.insert(kind.to_owned());
        delta.restart = true;
    }
    if now.disk_mb != target.disk_mb {
        delta.push(path("disk"), json!(now.disk_mb), json!(target.disk_mb));
        delta.scale.insert(kind.to_owned());
        delta.restart = true;
    }
    let live_kind = normalise::health_check_kind(&current.health_check_type).map_or_else(
        || current.health_check_type.clone(),
        |k| k.as_str().to_owned(),
    );
    if live_kind != target.health_check_type.as_str() {
        delta.push(
            path("health_check_type"),
            json!(live_kind),
            json!(target.health_check_type.as_str()),
        );
        delta.update_processes.insert(kind.to_owned());
        delta.restart = true;
    }
    if target.health_check_endpoint.is_some()
        && now.health_check_endpoint != target.health_check_endpoint
    {
        delta.push(
            path("health_check_http_endpoint"),
            json!(now.health_check_endpoint),
            json!(target.health_check_endpoint),
        );
        delta.update_processes.insert(kind.to_owned());
        delta.restart = true;
    }
    if let Some(timeout) = target.timeout
        && now.timeout != Some(timeout)
    {
        delta.push(path("timeout"), json!(now.timeout), json!(timeout));
        delta.update_processes.insert(kind.to_owned());
        delta.restart = true;
    }
}

/// Commands: a live command that was read is compared directly; a hidden one (lists hide
/// commands) through the command-hash annotation.
fn diff_commands(wanted: &Wanted<'_>, live: Option<&LiveApp>, delta: &mut Delta) {
    let Some(live) = live else {
        for (kind, target) in &wanted.processes {
            if let Some(command) = &target.command {
                delta.push(field_path(kind, "command"), Value::Null, json!(command));
            }
        }
        return;
    };
    let hash_matches = live
        .annotations
        .get(provenance::COMMAND_HASH)
        .map(|h| *h == command_hash(&wanted.processes));
    let mut hidden_changed = Vec::new();
    for (kind, target) in &wanted.processes {
        let Some(current) = live.processes.get(kind) else {
            if let Some(command) = &target.command {
                delta.push(field_path(kind, "command"), Value::Null, json!(command));
            }
            continue;
        };
        match (&current.command, hash_matches) {
            (Some(now), _) => {
                if Some(now) != target.command.as_ref() {
                    delta.push(
                        field_path(kind, "command"),
                        json!(now),
                        json!(target.command),
                    );
                    delta.update_processes.insert(kind.clone());
                    delta.restart = true;
                }
            }
            // Hidden, and recorded as what git wants.
            (None, Some(true)) => {}
            // Hidden and never recorded: an unset command is taken to be unset.
            (None, None) if target.command.is_none() => {}
            (None, _) => hidden_changed.push(kind.clone()),
        }
    }
    if hidden_changed.is_empty() {
        return;
    }
    let with_command: Vec<&String> = hidden_changed
        .iter()
        .filter(|k| {
            wanted
                .processes
                .get(*k)
                .is_some_and(|t| t.command.is_some())
        })
        .collect();
    if with_command.is_empty() {
        delta.push("commands", Value::Null, json!("(changed)"));
    }
    for kind in with_command {
        let command = wanted.processes.get(kind).and_then(|t| t.command.clone());
        delta.push(field_path(kind, "command"), Value::Null, json!(command));
    }
    delta.update_processes.extend(hidden_changed);
    delta.restart = true;
}

fn env_value(key: &str, value: Option<&String>) -> Value {
    match value {
        None => Value::Null,
        Some(v) if is_sensitive_env_name(key) || has_url_credentials(v) => json!("(sensitive)"),
        Some(v) => json!(v),
    }
}

fn diff_env(env: &BTreeMap<String, String>, live: Option<&LiveApp>, delta: &mut Delta) {
    let Some(live) = live else {
        for (k, v) in env {
            delta.push(format!("env.{k}"), Value::Null, env_value(k, Some(v)));
        }
        return;
    };
    match &live.env {
        Some(current) => {
            let keys: BTreeSet<&String> = env.keys().chain(current.keys()).collect();
            for k in keys {
                let (now, want) = (current.get(k), env.get(k));
                if now != want {
                    delta.push(format!("env.{k}"), env_value(k, now), env_value(k, want));
                    delta.env = true;
                }
            }
        }
        None => {
            if live.annotations.get(provenance::ENV_HASH) != Some(&env_hash(env)) {
                delta.push("env", Value::Null, json!("(changed)"));
                delta.env = true;
            }
        }
    }
    if delta.env {
        delta.restart = true;
    }
}

fn app_work(
    wanted: &Wanted<'_>,
    live_app: Option<&LiveApp>,
    live: &Live,
    delta: &Delta,
    cx: &PlanContext<'_>,
) -> AppWork {
    let app = wanted.app;
    let mut spec = AppSpec {
        name: app.key.name.as_str().to_owned(),
        space_guid: live.spaces.get(&app.key.space).cloned().unwrap_or_default(),
        env: app.env.clone(),
        processes: wanted.processes.clone(),
        labels: wanted.labels.clone(),
        annotations: app.annotations.clone(),
    };
    let hash = spec_hash(&spec, wanted.routes.as_ref(), &wanted.written);
    let annotations = &mut spec.annotations;
    if let Some(revision) = &cx.options.revision {
        annotations.insert(provenance::REVISION.to_owned(), revision.clone());
    }
    annotations.insert(provenance::SOURCE.to_owned(), app.source.to_string());
    annotations.insert(provenance::IMAGE.to_owned(), wanted.written.clone());
    // Without a fresh answer from the registry, the digest deployed is still the one recorded.
    let digest = wanted
        .resolved
        .map(str::to_owned)
        .or_else(|| live_app.and_then(|l| l.annotations.get(provenance::DIGEST).cloned()));
    if let Some(digest) = digest {
        annotations.insert(provenance::DIGEST.to_owned(), digest);
    }
    annotations.insert(provenance::SPEC_HASH.to_owned(), hash);
    annotations.insert(provenance::ENV_HASH.to_owned(), env_hash(&app.env));
    annotations.insert(
        provenance::COMMAND_HASH.to_owned(),
        command_hash(&wanted.processes),
    );
    if let Some(fingerprint) = wanted.credential {
        annotations.insert(provenance::CREDENTIAL.to_owned(), fingerprint.clone());
    }
    let image = delta.image.then(|| ImageWork {
        reference: wanted
            .deploy
            .as_ref()
            .map_or_else(|| wanted.written.clone(), ToString::to_string),
        written: wanted.written.clone(),
        registry: app.image.registry.clone(),
        username: app.docker_username.clone().or_else(|| {
            cx.config
                .registry(&app.image.registry)
                .and_then(|r| r.username.clone())
        }),
        digest: wanted.resolved.map(str::to_owned),
    });
    let metadata = live_app.is_some_and(|l| {
        spec.labels.iter().any(|(k, v)| l.labels.get(k) != Some(v))
            || spec
                .annotations
                .iter()
                .any(|(k, v)| l.annotations.get(k) != Some(v))
    });
    match live_app {
        None => AppWork {
            guid: None,
            observed_updated_at: None,
            spec,
            strategy: app.settings.strategy,
            image,
            scale: BTreeSet::new(),
            update_processes: BTreeSet::new(),
            env: false,
            metadata: false,
            routes: wanted.routes.clone(),
            start: false,
            restart: false,
            previous: None,
        },
        Some(l) => AppWork {
            guid: Some(l.guid.clone()),
            observed_updated_at: Some(l.stamp()),
            spec,
            strategy: app.settings.strategy,
            scale: delta.scale.clone(),
            update_processes: delta.update_processes.clone(),
            env: delta.env,
            metadata,
            routes: delta.routes.clone(),
            // A deploy starts a stopped app itself, and restarts a running one.
            start: delta.start && image.is_none(),
            restart: delta.restart && l.started && image.is_none(),
            image,
            previous: Some(Previous {
                env: l.env.clone(),
                processes: l
                    .processes
                    .iter()
                    .map(|(k, p)| (k.clone(), normalise::live_process_target(p)))
                    .collect(),
            }),
        },
    }
}
