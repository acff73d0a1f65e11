//! Planner tests: manifests and a compact live-state fixture in, the rendered plan out.
//!
//! `check(manifests, setup, expect)`: manifests are repo files separated by `--- <path>` lines
//! (loaded with `load::load`); `setup` has one line per fact about the foundation:
//!
//! - `applied`: start from what applying the plan against an empty foundation
//!   gives, so the desired apps run as git says; later lines change that state;
//! - `<org>/<space>/<name> key=value ...`: a live app (new, or changing one already there):
//!   `owned`, `unowned`, `stopped`, `started`, `image=REF`, `instances=`, `memory=`, `disk=`,
//!   `hc=`, `endpoint=`, `timeout=`, `command=` (web; `<type>.<field>=` for other types),
//!   `routes=a,b`, `env=K=V;K2=V2`, `noenv`, `label:k=v`, `ann:k=v`, `-ann:k`;
//! - `flag NAME=BOOL` (live), `declare NAME=BOOL` (driftless.yaml), `domain D`, `nodomain`,
//!   `-app org/space/name`, `-space org/space`, `registry REF D2` / `registry REF fail KIND reason...` /
//!   `registry REF unchecked`, `credential HOST FP`, `option prune|adopt|allow_mass_delete|
//!   revision=SHA`, `policy pin_digest=false|tag_moved=redeploy|require_digest=true|
//!   allowed=h1,h2|prune=true|adopt=true`, `invalid`.
//!
//! `D<c>` is the digest `sha256:` followed by 64 `c`s; the renderer prints such digests back
//! as `D<c>`. Every desired image resolves to `D1` unless a `registry` line says otherwise.
//! Snapshots update with `UPDATE_EXPECT=1`.

use std::collections::{BTreeMap, BTreeSet};

use expect_test::{Expect, expect};
use proptest::{prelude::*, strategy::Strategy};

use super::*;
use crate::{
    load::{self, LoadOptions, SourceFile},
    model::{
        AppName, AppSettings, DesiredApp, FoundationConfig, FoundationDesired, HealthCheckKind,
        ImageRef, ProcessSpec, RepoConfig, RouteSpec, Routes, SourceLoc, SpaceKey, TagMoved,
        live::{Live, LiveApp, LiveProcess, MANAGED_LABEL},
    },
};

// ---------------------------------------------------------------------------------------------
// The pure model of a platform: what the live state is after apply executed a plan.

/// Applies every change's work to `live` as a perfect foundation would; a refused plan changes
/// nothing. Commands come back hidden (lists hide them) and env unread, as observe sees them.
fn apply_model(live: &Live, plan: &Plan) -> Live {
    let mut out = live.clone();
    if plan.refused.is_some() {
        return out;
    }
    for change in &plan.changes {
        match (&change.target, &change.work) {
            (_, Work::Nothing) => {}
            (_, Work::SetFlag { name, enabled }) => {
                out.feature_flags.insert(name.clone(), *enabled);
            }
            (Target::App(key), Work::Create(work)) => {
                let app = LiveApp {
                    guid: format!("guid-{}", key.name.as_str().to_ascii_lowercase()),
                    started: true,
                    updated_at: "applied".to_owned(),
                    owned: work.spec.labels.get(MANAGED_LABEL).map(String::as_str) == Some("true"),
                    labels: work.spec.labels.clone(),
                    annotations: work.spec.annotations.clone(),
                    image: work.image.as_ref().map(|i| i.reference.clone()),
                    processes: work
                        .spec
                        .processes
                        .iter()
                        .map(|(k, p)| (k.clone(), live_process(p)))
                        .collect(),
                    routes: work.routes.clone().unwrap_or_default(),
                    deployment: None,
                    env: None,
                };
                out.apps.insert(key.clone(), app);
            }
            (Target::App(key), Work::Update(work)) => {
                let app = out.apps.get_mut(key).expect("an update targets a live app");
                if work.metadata {
                    app.labels.extend(work.spec.labels.clone());
                    app.annotations.extend(work.spec.annotations.clone());
                    app.owned = app.labels.get(MANAGED_LABEL).map(String::as_str) == Some("true");
                }
                for kind in work.scale.iter().chain(&work.update_processes) {
                    let target = &work.spec.processes[kind];
                    let process = app
                        .processes
                        .entry(kind.clone())
                        .or_insert_with(|| live_process(target));
                    if work.scale.contains(kind) {
                        process.instances = target.instances;
                        process.memory_mb = target.memory_mb;
                        process.disk_mb = target.disk_mb;
                    }
                    if work.update_processes.contains(kind) {
                        process.health_check_type = target.health_check_type.as_str().to_owned();
                        process.health_check_endpoint = target.health_check_endpoint.clone();
                        if target.timeout.is_some() {
                            process.timeout = target.timeout;
                        }
                        process.command = None;
                    }
                }
                if work.env && app.env.is_some() {
                    app.env = Some(work.spec.env.clone());
                }
                if let Some(routes) = &work.routes {
                    app.routes = routes.clone();
                }
                if let Some(image) = &work.image {
                    app.image = Some(image.reference.clone());
                    app.started = true;
                }
                if work.start {
                    app.started = true;
                }
                app.updated_at = "applied".to_owned();
            }
            (Target::App(key), Work::Delete { .. }) => {
                out.apps.remove(key);
            }
            (Target::FeatureFlag(_), _) => panic!("a flag change with app work"),
        }
    }
    out
}

fn live_process(p: &crate::cf::platform::ProcessTarget) -> LiveProcess {
    LiveProcess {
        guid: "process-guid".to_owned(),
        instances: p.instances,
        memory_mb: p.memory_mb,
        disk_mb: p.disk_mb,
        health_check_type: p.health_check_type.as_str().to_owned(),
        health_check_endpoint: p.health_check_endpoint.clone(),
        timeout: p.timeout,
        command: None,
        updated_at: "applied".to_owned(),
    }
}

// ---------------------------------------------------------------------------------------------
// Fixtures.

fn digest(c: char) -> String {
    format!("sha256:{}", c.to_string().repeat(64))
}

/// Expands `D<c>` shorthands (after `@` or alone) into digests.
fn expand(text: &str) -> String {
    if let Some(c) = text.strip_prefix('D').and_then(|r| r.chars().next())
        && text.len() == 2
    {
        return digest(c);
    }
    match text.split_once("@D") {
        Some((head, c)) if c.len() == 1 => format!("{head}@{}", digest(c.chars().next().unwrap())),
        _ => text.to_owned(),
    }
}

/// Prints `sha256:cccc...` (64 equal characters) back as `D<c>`.
fn shorten(text: &str) -> String {
    let mut out = text.to_owned();
    for c in "0123456789abcdef".chars() {
        out = out.replace(&digest(c), &format!("D{c}"));
    }
    out
}

fn files(fixture: &str) -> Vec<SourceFile> {
    let mut out = Vec::new();
    for chunk in fixture.split("--- ").filter(|c| !c.trim().is_empty()) {
        let (path, body) = chunk.split_once('\n').unwrap_or((chunk, ""));
        out.push(SourceFile {
            path: path.trim().to_owned(),
            bytes: body.as_bytes().to_vec(),
        });
    }
    out
}

struct Fixture {
    desired: FoundationDesired,
    live: Live,
    images: Images,
    config: RepoConfig,
    foundation: FoundationConfig,
    credentials: BTreeMap<String, String>,
    options: PlanOptions,
    diagnostics: Vec<String>,
}

impl Fixture {
    fn plan(&self) -> Plan {
        plan(&self.desired, &self.live, &self.images, &self.cx())
    }

    fn cx(&self) -> PlanContext<'_> {
        PlanContext {
            config: &self.config,
            foundation: &self.foundation,
            credentials: &self.credentials,
            options: &self.options,
        }
    }
}

fn space_guid(space: &SpaceKey) -> String {
    format!("space-{}-{}", space.org, space.space)
}

fn fixture(manifests: &str, setup: &str) -> Fixture {
    let loaded = load::load(&files(manifests), &LoadOptions::default());
    let diagnostics = loaded.diagnostics.iter().map(ToString::to_string).collect();
    let config = loaded.repo.config.clone();
    let foundation = config.foundations.first().cloned().unwrap_or_default();
    let desired = loaded.repo.foundations.first().cloned().unwrap_or_default();
    let mut live = Live {
        spaces: desired
            .spaces
            .iter()
            .map(|s| (s.clone(), space_guid(s)))
            .collect(),
        apps: BTreeMap::new(),
        feature_flags: BTreeMap::from([(DIEGO_DOCKER.to_owned(), true)]),
        default_domain: Some("apps.example.com".to_owned()),
    };
    let images: Images = desired
        .apps
        .values()
        .map(|a| {
            (
                a.image.to_string(),
                ImageCheck::Resolved {
                    digest: digest('1'),
                },
            )
        })
        .collect();
    let mut fx = Fixture {
        desired,
        live: live.clone(),
        images,
        config,
        foundation,
        credentials: BTreeMap::new(),
        options: PlanOptions::default(),
        diagnostics,
    };
    let lines: Vec<&str> = setup
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let applied = lines.contains(&"applied");
    // Options and policy first, so that `applied` is applied under them.
    for line in &lines {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["option", "prune"] => fx.options.prune = true,
            ["option", "adopt"] => fx.options.adopt = true,
            ["option", "allow_mass_delete"] => fx.options.allow_mass_delete = true,
            ["option", rev] if rev.starts_with("revision=") => {
                fx.options.revision = Some(rev["revision=".len()..].to_owned());
            }
            ["credential", host, fp] => {
                fx.credentials.insert((*host).to_owned(), (*fp).to_owned());
            }
            ["policy", setting] => {
                let (k, v) = setting.split_once('=').unwrap();
                let policy = &mut fx.config.policy;
                match k {
                    "pin_digest" => policy.pin_digest = v == "true",
                    "require_digest" => policy.require_digest = v == "true",
                    "prune" => policy.prune = v == "true",
                    "adopt" => policy.adopt = v == "true",
                    "tag_moved" if v == "redeploy" => policy.tag_moved = TagMoved::Redeploy,
                    "allowed" => {
                        policy.allowed_registries = v.split(',').map(str::to_owned).collect();
                    }
                    _ => panic!("unknown policy line {line}"),
                }
            }
            ["declare", setting] => {
                let (k, v) = setting.split_once('=').unwrap();
                fx.foundation
                    .feature_flags
                    .insert(k.to_owned(), v == "true");
            }
            _ => {}
        }
    }
    if applied {
        // What driftless would have made of an empty foundation, with every image resolved,
        // applied without flags or guards in the way.
        let mut config = RepoConfig {
            valid: true,
            ..fx.config.clone()
        };
        config.policy.allowed_registries.clear();
        config.policy.require_digest = false;
        let mut desired = fx.desired.clone();
        for app in desired.apps.values_mut() {
            app.settings.suspend = false;
        }
        let foundation = FoundationConfig::default();
        let options = PlanOptions {
            revision: fx.options.revision.clone(),
            ..PlanOptions::default()
        };
        let cx = PlanContext {
            config: &config,
            foundation: &foundation,
            credentials: &fx.credentials,
            options: &options,
        };
        // driftless creates only `web`; other process types come from a person's `cf push`
        // with a manifest, after which driftless converges them (and records their commands).
        let mut web_only = desired.clone();
        for app in web_only.apps.values_mut() {
            app.processes.retain(|kind, _| kind == "web");
        }
        let first = plan(&web_only, &live, &fx.images, &cx);
        live = apply_model(&live, &first);
        for change in &first.changes {
            let (Target::App(key), Work::Create(work)) = (&change.target, &change.work) else {
                continue;
            };
            let (Some(app), Some(deployed)) = (desired.apps.get(key), live.apps.get_mut(key))
            else {
                continue;
            };
            let targets = crate::plan::normalise::process_targets(app);
            for (kind, target) in &targets {
                if kind != "web" {
                    deployed
                        .processes
                        .insert(kind.clone(), live_process(target));
                }
            }
            let mut spec = work.spec.clone();
            spec.processes = targets;
            let written = work.image.as_ref().map_or("", |i| i.written.as_str());
            deployed.annotations.insert(
                crate::plan::provenance::SPEC_HASH.to_owned(),
                crate::plan::spec_hash(&spec, work.routes.as_ref(), written),
            );
            deployed.annotations.insert(
                crate::plan::provenance::COMMAND_HASH.to_owned(),
                crate::plan::command_hash(&spec.processes),
            );
        }
    }
    for line in lines.iter().filter(|l| **l != "applied") {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["option", ..] | ["credential", ..] | ["policy", ..] | ["declare", ..] => {}
            ["invalid"] => fx.config.valid = false,
            ["flag", setting] => {
                let (k, v) = setting.split_once('=').unwrap();
                live.feature_flags.insert(k.to_owned(), v == "true");
            }
            ["domain", domain] => live.default_domain = Some((*domain).to_owned()),
            ["nodomain"] => live.default_domain = None,
            ["-app", app] => {
                let parts: Vec<&str> = app.split('/').collect();
                live.apps.remove(&AppKey {
                    space: SpaceKey {
                        org: parts[0].to_owned(),
                        space: parts[1].to_owned(),
                    },
                    name: AppName::new(parts[2]),
                });
            }
            ["-space", space] => {
                let (org, space) = space.split_once('/').unwrap();
                live.spaces.remove(&SpaceKey {
                    org: org.to_owned(),
                    space: space.to_owned(),
                });
            }
            ["registry", reference, rest @ ..] => {
                let key = ImageRef::parse(&expand(reference)).unwrap().to_string();
                match rest {
                    ["unchecked"] => {
                        fx.images.remove(&key);
                    }
                    ["fail", kind, reason @ ..] => {
                        fx.images.insert(
                            key,
                            ImageCheck::Failed {
                                kind: (*kind).to_owned(),
                                reason: reason.join(" "),
                            },
                        );
                    }
                    [d] => {
                        fx.images
                            .insert(key, ImageCheck::Resolved { digest: expand(d) });
                    }
                    _ => panic!("bad registry line {line}"),
                }
            }
            [app, tokens @ ..] if app.matches('/').count() == 2 => {
                live_app_line(&mut live, app, tokens)
            }
            _ => panic!("unknown setup line {line}"),
        }
    }
    fx.live = live;
    fx
}

fn live_app_line(live: &mut Live, app: &str, tokens: &[&str]) {
    let parts: Vec<&str> = app.split('/').collect();
    let key = AppKey {
        space: SpaceKey {
            org: parts[0].to_owned(),
            space: parts[1].to_owned(),
        },
        name: AppName::new(parts[2]),
    };
    let domain = live.default_domain.clone().unwrap_or_default();
    live.spaces
        .entry(key.space.clone())
        .or_insert_with(|| space_guid(&key.space));
    let app = live.apps.entry(key.clone()).or_insert_with(|| LiveApp {
        guid: format!("guid-{}", parts[2].to_ascii_lowercase()),
        started: true,
        updated_at: "2026-01-01T00:00:00Z".to_owned(),
        owned: false,
        labels: BTreeMap::new(),
        annotations: BTreeMap::new(),
        image: None,
        processes: BTreeMap::from([(
            "web".to_owned(),
            live_process(&crate::plan::normalise::process_target(
                "web",
                &ProcessSpec::default(),
            )),
        )]),
        routes: BTreeSet::from([format!("{}.{domain}", parts[2].to_ascii_lowercase())]),
        deployment: None,
        env: None,
    });
    for token in tokens {
        let (k, v) = token.split_once('=').unwrap_or((token, ""));
        match k {
            "owned" => {
                app.owned = true;
                app.labels
                    .insert(MANAGED_LABEL.to_owned(), "true".to_owned());
            }
            "unowned" => {
                app.owned = false;
                app.labels.remove(MANAGED_LABEL);
            }
            "stopped" => app.started = false,
            "started" => app.started = true,
            "image" => app.image = Some(expand(v)),
            "routes" => {
                app.routes = v
                    .split(',')
                    .filter(|r| !r.is_empty())
                    .map(str::to_owned)
                    .collect();
            }
            "env" => {
                app.env = Some(
                    v.split(';')
                        .filter(|kv| !kv.is_empty())
                        .map(|kv| {
                            let (a, b) = kv.split_once('=').unwrap();
                            (a.to_owned(), b.to_owned())
                        })
                        .collect(),
                );
            }
            "noenv" => app.env = None,
            "deployment" => app.deployment = Some(v.to_owned()),
            _ if k.starts_with("label:") => {
                app.labels
                    .insert(k["label:".len()..].to_owned(), v.to_owned());
            }
            _ if k.starts_with("ann:") => {
                app.annotations
                    .insert(k["ann:".len()..].to_owned(), expand(v));
            }
            _ if k.starts_with("-ann:") => {
                app.annotations.remove(&k["-ann:".len()..]);
            }
            _ => {
                let (kind, field) = k.split_once('.').unwrap_or(("web", k));
                let process = app.processes.entry(kind.to_owned()).or_insert_with(|| {
                    live_process(&crate::plan::normalise::process_target(
                        kind,
                        &ProcessSpec::default(),
                    ))
                });
                match field {
                    "instances" => process.instances = v.parse().unwrap(),
                    "memory" => process.memory_mb = v.parse().unwrap(),
                    "disk" => process.disk_mb = v.parse().unwrap(),
                    "hc" => process.health_check_type = v.to_owned(),
                    "endpoint" => process.health_check_endpoint = Some(v.to_owned()),
                    "timeout" => process.timeout = Some(v.parse().unwrap()),
                    "command" => process.command = Some(v.replace('_', " ")),
                    _ => panic!("unknown live app token {token}"),
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The renderer.

fn render_value(value: &serde_json::Value) -> String {
    shorten(&value.to_string())
}

fn render_work(work: &Work) -> Option<String> {
    let list = |set: &BTreeSet<String>| {
        format!("[{}]", set.iter().cloned().collect::<Vec<_>>().join(", "))
    };
    match work {
        Work::Nothing => None,
        Work::SetFlag { name, enabled } => Some(format!("set {name}={enabled}")),
        Work::Delete { guid, .. } => Some(format!("delete {guid}")),
        Work::Create(w) | Work::Update(w) => {
            let mut out = vec![
                if matches!(work, Work::Create(_)) {
                    "create"
                } else {
                    "update"
                }
                .to_owned(),
            ];
            if let Some(image) = &w.image {
                out.push(format!("image={}", image.reference));
                if let Some(user) = &image.username {
                    out.push(format!("user={user}"));
                }
            }
            if !w.scale.is_empty() {
                out.push(format!("scale={}", list(&w.scale)));
            }
            if !w.update_processes.is_empty() {
                out.push(format!("processes={}", list(&w.update_processes)));
            }
            if w.env {
                out.push("env".to_owned());
            }
            if w.metadata {
                out.push("metadata".to_owned());
            }
            if let Some(routes) = &w.routes {
                out.push(format!("routes={}", list(routes)));
            }
            if w.start {
                out.push("start".to_owned());
            }
            if w.restart {
                out.push("restart".to_owned());
            }
            Some(shorten(&out.join(" ")))
        }
    }
}

fn render(plan: &Plan, verbose_noop: bool) -> String {
    let mut out = String::new();
    if let Some(refused) = &plan.refused {
        out.push_str(&format!("refused: {refused}\n"));
    }
    for change in &plan.changes {
        if change.action == Action::Noop && !verbose_noop {
            out.push_str(&format!("noop {} {}\n", change.target, change.reason));
            continue;
        }
        out.push_str(&shorten(&format!(
            "{} {} {} {}\n",
            change.action.as_str(),
            change.target,
            change.rollout.as_str(),
            change.reason
        )));
        for field in &change.fields {
            out.push_str(&format!(
                "    {}: {} -> {}\n",
                field.path,
                render_value(&field.live),
                render_value(&field.desired)
            ));
        }
        if let Some(work) = render_work(&change.work) {
            out.push_str(&format!("    work: {work}\n"));
        }
    }
    out
}

#[track_caller]
fn check(manifests: &str, setup: &str, expect: Expect) {
    let fx = fixture(manifests, setup);
    let plan = fx.plan();
    let mut out = String::new();
    for d in &fx.diagnostics {
        out.push_str(&format!("diag: {d}\n"));
    }
    out.push_str(&render(&plan, false));
    expect.assert_eq(&out);
    // Every snapshot is also an idempotence check: applying it leaves nothing to do.
    if plan.refused.is_none() {
        let after = apply_model(&fx.live, &plan);
        let again = plan_with(&fx, &after);
        let pending: Vec<&Change> = again
            .changes
            .iter()
            .filter(|c| matches!(c.action, Action::Create | Action::Update | Action::Delete))
            .collect();
        assert!(
            pending.is_empty(),
            "re-plan after apply:\n{}",
            render(&again, true)
        );
    }
}

fn plan_with(fx: &Fixture, live: &Live) -> Plan {
    plan(&fx.desired, live, &fx.images, &fx.cx())
}

const WEB: &str = "--- acme/prod/manifest.yml
applications:
- name: web
  docker: {image: nginx:1.27}
";

// ---------------------------------------------------------------------------------------------
// Actions.

#[test]
fn a_new_app_is_created_with_its_full_spec_and_provenance() {
    let fx = fixture(
        "--- acme/prod/manifest.yml
applications:
- name: Web
  docker: {image: nginx:1.27}
  instances: 2
  env: {GREETING: hello, DB_PASSWORD_FILE: /x}
  metadata: {labels: {team: core}, annotations: {owner: ops}}
",
        "option revision=abc123",
    );
    let plan = fx.plan();
    let Work::Create(work) = &plan.changes[0].work else {
        panic!("expected a create");
    };
    let mut spec = format!("{:#?}", work.spec);
    spec = shorten(&spec);
    expect![[r#"
        AppSpec {
            name: "Web",
            space_guid: "space-acme-prod",
            env: {
                "DB_PASSWORD_FILE": "/x",
                "GREETING": "hello",
            },
            processes: {
                "web": ProcessTarget {
                    instances: 2,
                    memory_mb: 1024,
                    disk_mb: 1024,
                    health_check_type: Port,
                    health_check_endpoint: None,
                    timeout: None,
                    command: None,
                },
            },
            labels: {
                "driftless.dev/managed": "true",
                "team": "core",
            },
            annotations: {
                "driftless.dev/command-hash": "9365965ded86342a",
                "driftless.dev/digest": "D1",
                "driftless.dev/env-hash": "deeffb3c43503e72",
                "driftless.dev/image": "docker.io/library/nginx:1.27",
                "driftless.dev/revision": "abc123",
                "driftless.dev/source": "acme/prod/manifest.yml:2",
                "driftless.dev/spec-hash": "c6b967578b6ae733",
                "owner": "ops",
            },
        }"#]]
    .assert_eq(&spec);
    check(
        "--- acme/prod/manifest.yml
applications:
- name: Web
  docker: {image: nginx:1.27}
  instances: 2
  env: {GREETING: hello, DB_PASSWORD_FILE: /x}
  metadata: {labels: {team: core}, annotations: {owner: ops}}
",
        "",
        expect![[r#"
            create app:acme/prod/Web none new app (docker.io/library/nginx:1.27)
                image: null -> "docker.io/library/nginx:1.27@D1"
                instances: null -> 2
                memory: null -> 1024
                disk: null -> 1024
                health_check_type: null -> "port"
                routes: null -> ["web.apps.example.com"]
                labels.driftless.dev/managed: null -> "true"
                labels.team: null -> "core"
                annotations.owner: null -> "ops"
                env.DB_PASSWORD_FILE: null -> "(sensitive)"
                env.GREETING: null -> "hello"
                work: create image=docker.io/library/nginx:1.27@D1 routes=[web.apps.example.com]
        "#]],
    );
}

#[test]
fn an_app_as_applied_is_a_noop() {
    check(
        WEB,
        "applied",
        expect![[r#"
        noop app:acme/prod/web up to date
    "#]],
    );
}

#[test]
fn instances_only_is_an_in_place_scale() {
    check(
        "--- acme/prod/manifest.yml
applications:
- name: web
  docker: {image: nginx:1.27}
  instances: 3
",
        "applied\nacme/prod/web instances=1",
        expect![[r#"
            update app:acme/prod/web in_place instances 1 -> 3
                instances: 1 -> 3
                work: update scale=[web]
        "#]],
    );
    check(
        WEB,
        "applied\nacme/prod/web instances=3",
        expect![[r#"
        update app:acme/prod/web in_place instances 3 -> 1
            instances: 3 -> 1
            work: update scale=[web]
    "#]],
    );
}

#[test]
fn memory_disk_and_health_checks_restart_with_the_strategy() {
    check(
        "--- acme/prod/manifest.yml
applications:
- name: web
  docker: {image: nginx:1.27}
  memory: 512M
  disk_quota: 2G
  health-check-type: http
  health-check-http-endpoint: /health
  timeout: 90
--- driftless.yaml
apps:
- match: acme/prod/*
  strategy: canary
",
        "applied\nacme/prod/web memory=1024 disk=1024 hc=port",
        expect![[r#"
            update app:acme/prod/web canary memory 1024 -> 512, disk 1024 -> 2048, health_check_type port -> http, and 1 more
                memory: 1024 -> 512
                disk: 1024 -> 2048
                health_check_type: "port" -> "http"
                health_check_http_endpoint: null -> "/health"
                work: update scale=[web] processes=[web] restart
        "#]],
    );
}

#[test]
fn the_restart_strategy_gives_a_restart_rollout() {
    check(
        "--- acme/prod/manifest.yml
applications:
- name: web
  docker: {image: nginx:1.27}
  command: bin/serve --port 8080
--- driftless.yaml
apps:
- match: \"**\"
  strategy: restart
",
        "applied\nacme/prod/web command=bin/serve",
        expect![[r#"
            update app:acme/prod/web restart command bin/serve -> bin/serve --port 8080
                command: "bin/serve" -> "bin/serve --port 8080"
                work: update processes=[web] restart
        "#]],
    );
}

#[test]
fn a_new_image_is_a_rolling_deployment_pinned_to_its_digest() {
    check(
        "--- acme/prod/manifest.yml
applications:
- name: web
  docker: {image: nginx:1.28}
",
        "applied
acme/prod/web image=docker.io/library/nginx:1.27@D1 ann:driftless.dev/image=docker.io/library/nginx:1.27
registry nginx:1.28 D2",
        expect![[r#"
            update app:acme/prod/web rolling image docker.io/library/nginx:1.27@D1 -> docker.io/library/nginx:1.28@D2
                image: "docker.io/library/nginx:1.27@D1" -> "docker.io/library/nginx:1.28@D2"
                work: update image=docker.io/library/nginx:1.28@D2 metadata
        "#]],
    );
}

#[test]
fn routes_only_are_in_place_and_metadata_only_is_none() {
    check(
        "--- acme/prod/manifest.yml
applications:
- name: web
  docker: {image: nginx:1.27}
  routes: [{route: www.example.com}, {route: Api.Example.com/v1}]
- name: worker
  docker: {image: nginx:1.27}
  no-route: true
  metadata: {labels: {tier: backend}}
",
        "applied
acme/prod/web routes=www.example.com
acme/prod/worker label:tier=frontend",
        expect![[r#"
            update app:acme/prod/web in_place routes [www.example.com] -> [api.example.com/v1, www.example.com]
                routes: ["www.example.com"] -> ["api.example.com/v1","www.example.com"]
                work: update routes=[api.example.com/v1, www.example.com]
            update app:acme/prod/worker none labels.tier frontend -> backend
                labels.tier: "frontend" -> "backend"
                work: update metadata
        "#]],
    );
}

#[test]
fn a_stopped_app_is_started() {
    check(
        WEB,
        "applied\nacme/prod/web stopped",
        expect![[r#"
        update app:acme/prod/web in_place state STOPPED -> STARTED
            state: "STOPPED" -> "STARTED"
            work: update start
    "#]],
    );
}

#[test]
fn apps_not_in_git_are_orphans_without_prune_and_deleted_with_it() {
    let live = "applied
acme/prod/old owned image=nginx:1.0
acme/prod/theirs image=nginx:1.0";
    check(
        WEB,
        live,
        expect![[r#"
        orphan app:acme/prod/old none not in git; prune is off
        unowned app:acme/prod/theirs none not managed by driftless (no driftless.dev/managed label)
        noop app:acme/prod/web up to date
    "#]],
    );
    check(
        WEB,
        &format!("{live}\noption prune"),
        expect![[r#"
        delete app:acme/prod/old none not in git; prune is on
            work: delete guid-old
        unowned app:acme/prod/theirs none not managed by driftless (no driftless.dev/managed label)
        noop app:acme/prod/web up to date
    "#]],
    );
    check(
        WEB,
        &format!("{live}\npolicy prune=true"),
        expect![[r#"
        delete app:acme/prod/old none not in git; prune is on
            work: delete guid-old
        unowned app:acme/prod/theirs none not managed by driftless (no driftless.dev/managed label)
        noop app:acme/prod/web up to date
    "#]],
    );
}

#[test]
fn unowned_apps_are_reported_but_are_not_drift() {
    let fx = fixture(WEB, "applied\nacme/prod/theirs image=nginx:1.0");
    let plan = fx.plan();
    assert!(!has_drift(&plan), "{}", render(&plan, true));
    assert_eq!(summary(&plan).get(&Action::Unowned), Some(&1));
}

#[test]
fn apps_outside_the_managed_spaces_are_not_targets() {
    check(
        WEB,
        "applied\nacme/other/app owned image=nginx:1.0\noption prune",
        expect![[r#"
            noop app:acme/prod/web up to date
        "#]],
    );
}

// ---------------------------------------------------------------------------------------------
// Normalisation.

#[test]
fn cf_defaults_fill_what_git_leaves_out() {
    // A live app created by `cf push --docker-image nginx` with no other flags.
    check(
        WEB,
        "acme/prod/web owned image=nginx:1.27@D1 env=",
        expect![[r#"
            noop app:acme/prod/web up to date
        "#]],
    );
}

#[test]
fn units_image_names_env_routes_and_name_case_normalise() {
    check(
        "--- acme/prod/manifest.yml
applications:
- name: Billing-API
  docker: {image: library/nginx}
  memory: 1G
  disk-quota: 1024MB
  env: {B: '2', A: '1'}
  routes: [{route: b.example.com}, {route: A.example.com}]
  health-check-type: http
",
        "applied
acme/prod/billing-api image=index.docker.io/library/nginx@D1 hc=http env=A=1;B=2 routes=a.example.com,b.example.com",
        expect![[r#"
            noop app:acme/prod/Billing-API up to date
        "#]],
    );
}

#[test]
fn a_default_route_is_the_lowercased_name_on_the_default_domain() {
    check(
        "--- acme/prod/manifest.yml
applications:
- name: Web
  docker: {image: nginx:1.27}
",
        "applied\ndomain apps.internal\nacme/prod/web routes=web.apps.example.com",
        expect![[r#"
            update app:acme/prod/Web in_place routes [web.apps.example.com] -> [web.apps.internal]
                routes: ["web.apps.example.com"] -> ["web.apps.internal"]
                work: update metadata routes=[web.apps.internal]
        "#]],
    );
}

#[test]
fn a_random_route_is_kept_when_the_app_has_one() {
    let manifest = "--- acme/prod/manifest.yml
applications:
- name: web
  docker: {image: nginx:1.27}
  random-route: true
";
    check(
        manifest,
        "applied\nacme/prod/web routes=web-lucky-fox.apps.example.com",
        expect![[r#"
            noop app:acme/prod/web up to date
        "#]],
    );
    check(
        manifest,
        "applied\nacme/prod/web routes=",
        expect![[r#"
        update app:acme/prod/web in_place routes [] -> [web-13042e48.apps.example.com]
            routes: [] -> ["web-13042e48.apps.example.com"]
            work: update routes=[web-13042e48.apps.example.com]
    "#]],
    );
}

#[test]
fn live_process_types_git_does_not_declare_are_ignored() {
    check(
        WEB,
        "applied\nacme/prod/web worker.instances=2",
        expect![[r#"
            noop app:acme/prod/web up to date
        "#]],
    );
}

/// Cloud Foundry gives a docker app only `web`; driftless cannot create other types, so an app
/// that needs one it does not have is blocked with the reason (never a create that half works).
#[test]
fn a_process_type_the_app_lacks_blocks_it() {
    check(
        "--- acme/prod/manifest.yml
applications:
- name: web
  docker: {image: nginx:1.27}
  processes:
  - type: worker
    command: bin/work
",
        "",
        expect![[r#"
            blocked app:acme/prod/web none process type worker does not exist on the app, and driftless cannot create it yet (a docker app gets only `web` outside `cf push` with a manifest); run it as its own app
                image: null -> "docker.io/library/nginx:1.27@D1"
                instances: null -> 1
                memory: null -> 1024
                disk: null -> 1024
                health_check_type: null -> "port"
                processes.worker.instances: null -> 1
                processes.worker.memory: null -> 1024
                processes.worker.disk: null -> 1024
                processes.worker.health_check_type: null -> "process"
                processes.worker.command: null -> "bin/work"
                routes: null -> ["web.apps.example.com"]
                labels.driftless.dev/managed: null -> "true"
        "#]],
    );
}

#[test]
fn other_process_types_are_diffed_by_path() {
    check(
        "--- acme/prod/manifest.yml
applications:
- name: web
  docker: {image: nginx:1.27}
  processes:
  - type: worker
    command: bin/work
    instances: 2
",
        "applied\nacme/prod/web worker.instances=1 worker.memory=512",
        expect![[r#"
            update app:acme/prod/web rolling processes.worker.instances 1 -> 2, processes.worker.memory 512 -> 1024
                processes.worker.instances: 1 -> 2
                processes.worker.memory: 512 -> 1024
                work: update scale=[worker] restart
        "#]],
    );
}

// ---------------------------------------------------------------------------------------------
// Env and commands: read values, and hashes when they are hidden.

#[test]
fn read_env_is_diffed_per_key_and_secrets_never_show() {
    check(
        "--- acme/prod/manifest.yml
applications:
- name: web
  docker: {image: nginx:1.27}
  env: {GREETING: hello, API_TOKEN: new-token}
",
        "applied\nacme/prod/web env=GREETING=hi;API_TOKEN=old-token;EXTRA=1",
        expect![[r#"
            update app:acme/prod/web rolling env.API_TOKEN changed, env.EXTRA 1 -> (none), env.GREETING hi -> hello
                env.API_TOKEN: "(sensitive)" -> "(sensitive)"
                env.EXTRA: "1" -> null
                env.GREETING: "hi" -> "hello"
                work: update env restart
        "#]],
    );
}

/// A value with URL credentials is sensitive whatever its key is called.
#[test]
fn url_credentials_in_env_values_never_show() {
    check(
        "--- acme/prod/manifest.yml
applications:
- name: web
  docker: {image: nginx:1.27}
  env: {DATABASE_URL: 'postgres://app:new-pw@db/app'}
",
        "applied\nacme/prod/web env=DATABASE_URL=postgres://app:old-pw@db/app",
        expect![[r#"
            update app:acme/prod/web rolling env.DATABASE_URL changed
                env.DATABASE_URL: "(sensitive)" -> "(sensitive)"
                work: update env restart
        "#]],
    );
}

#[test]
fn hidden_env_is_compared_through_its_hash() {
    check(
        "--- acme/prod/manifest.yml
applications:
- name: web
  docker: {image: nginx:1.27}
  env: {GREETING: hello}
",
        "applied\nacme/prod/web ann:driftless.dev/env-hash=0000000000000000",
        expect![[r#"
            update app:acme/prod/web rolling env (none) -> (changed)
                env: null -> "(changed)"
                work: update env metadata restart
        "#]],
    );
}

#[test]
fn hidden_commands_are_compared_through_their_hash() {
    check(
        "--- acme/prod/manifest.yml
applications:
- name: web
  docker: {image: nginx:1.27}
  command: bin/serve
",
        "applied\nacme/prod/web ann:driftless.dev/command-hash=0000000000000000",
        expect![[r#"
            update app:acme/prod/web rolling command (none) -> bin/serve
                command: null -> "bin/serve"
                work: update processes=[web] metadata restart
        "#]],
    );
}

// ---------------------------------------------------------------------------------------------
// Ownership.

#[test]
fn an_unowned_app_git_declares_is_blocked_unless_adopted() {
    let live = "acme/prod/web image=nginx:1.27@D1 instances=2";
    check(
        WEB,
        live,
        expect![[r#"
        blocked app:acme/prod/web rolling exists and is not managed by driftless
            instances: 2 -> 1
            labels.driftless.dev/managed: null -> "true"
            env: null -> "(changed)"
    "#]],
    );
    check(
        WEB,
        &format!("{live}\noption adopt"),
        expect![[r#"
        update app:acme/prod/web rolling adopt: instances 2 -> 1, labels.driftless.dev/managed (none) -> true, env (none) -> (changed)
            instances: 2 -> 1
            labels.driftless.dev/managed: null -> "true"
            env: null -> "(changed)"
            work: update scale=[web] env metadata restart
    "#]],
    );
    check(
        WEB,
        &format!("{live}\npolicy adopt=true"),
        expect![[r#"
        update app:acme/prod/web rolling adopt: instances 2 -> 1, labels.driftless.dev/managed (none) -> true, env (none) -> (changed)
            instances: 2 -> 1
            labels.driftless.dev/managed: null -> "true"
            env: null -> "(changed)"
            work: update scale=[web] env metadata restart
    "#]],
    );
}

#[test]
fn a_drifting_app_with_a_deployment_in_progress_waits() {
    check(
        WEB,
        "applied\nacme/prod/web instances=2 deployment=dep-1",
        expect![[r#"
            blocked app:acme/prod/web in_place deployment dep-1 is in progress; planned again after it finishes
                instances: 2 -> 1
        "#]],
    );
}

#[test]
fn a_create_in_a_missing_space_is_blocked() {
    check(
        WEB,
        "-space acme/prod",
        expect![[r#"
        blocked app:acme/prod/web none space acme/prod does not exist on the foundation (driftless does not create spaces)
            image: null -> "docker.io/library/nginx:1.27@D1"
            instances: null -> 1
            memory: null -> 1024
            disk: null -> 1024
            health_check_type: null -> "port"
            routes: null -> ["web.apps.example.com"]
            labels.driftless.dev/managed: null -> "true"
    "#]],
    );
}

#[test]
fn suspended_apps_are_left_alone() {
    let manifest = "--- acme/prod/manifest.yml
applications:
- name: web
  docker: {image: nginx:1.27}
--- driftless.yaml
apps:
- match: acme/prod/web
  suspend: true
";
    check(
        manifest,
        "applied",
        expect![[r#"
            noop app:acme/prod/web suspended
        "#]],
    );
    check(
        manifest,
        "applied\nacme/prod/web instances=5",
        expect![[r#"
            blocked app:acme/prod/web in_place suspended
                instances: 5 -> 1
        "#]],
    );
}

// ---------------------------------------------------------------------------------------------
// Guards.

#[test]
fn the_mass_delete_guard_refuses_and_can_be_overridden() {
    let live = "applied
acme/prod/a owned image=nginx:1
acme/prod/b owned image=nginx:1
option prune";
    check(
        WEB,
        live,
        expect![[r#"
        refused: the plan would delete 2 of 3 managed apps, more than 50%; pass --allow-mass-delete if that is intended
        delete app:acme/prod/a none not in git; prune is on
            work: delete guid-a
        delete app:acme/prod/b none not in git; prune is on
            work: delete guid-b
        noop app:acme/prod/web up to date
    "#]],
    );
    check(
        WEB,
        &format!("{live}\noption allow_mass_delete"),
        expect![[r#"
            delete app:acme/prod/a none not in git; prune is on
                work: delete guid-a
            delete app:acme/prod/b none not in git; prune is on
                work: delete guid-b
            noop app:acme/prod/web up to date
        "#]],
    );
    // One delete is never a mass delete.
    check(
        WEB,
        "applied\nacme/prod/a owned image=nginx:1\noption prune",
        expect![[r#"
            delete app:acme/prod/a none not in git; prune is on
                work: delete guid-a
            noop app:acme/prod/web up to date
        "#]],
    );
}

#[test]
fn invalid_apps_and_unreadable_spaces_are_never_deleted() {
    check(
        "--- acme/prod/manifest.yml
applications:
- name: web
  docker: {image: nginx:1.27}
- name: broken
  docker: {image: Not/Valid}
--- acme/dev/manifest.yml
applications: [
",
        "applied
acme/prod/broken owned image=nginx:1
acme/dev/api owned image=nginx:1
acme/dev/theirs image=nginx:1
option prune",
        expect![[r#"
            diag: acme/dev/manifest.yml:2:1: invalid YAML: while parsing a node, did not find expected node content
            diag: acme/prod/manifest.yml:5:19: invalid image reference `Not/Valid`: the repository path `Valid` must be lowercase; expected `[host[:port]/]repository[:tag][@sha256:<64 hex digits>]`
            orphan app:acme/dev/api none not in git, but a manifest in acme/dev could not be read: not pruned
            unowned app:acme/dev/theirs none not managed by driftless (no driftless.dev/managed label)
            blocked app:acme/prod/broken none its manifest has errors: not created, changed or deleted
            noop app:acme/prod/web up to date
        "#]],
    );
}

#[test]
fn an_invalid_driftless_yaml_blocks_every_change() {
    check(
        "--- driftless.yaml
policy: {prune: maybe}
--- acme/prod/manifest.yml
applications:
- name: web
  docker: {image: nginx:1.27}
- name: api
  docker: {image: nginx:1.27}
",
        "acme/prod/api owned image=nginx:1.0
acme/prod/old owned image=nginx:1.0
option prune",
        expect![[r#"
            diag: driftless.yaml:1:17: expected a boolean, found a string
            blocked app:acme/prod/api rolling driftless.yaml has errors: image docker.io/library/nginx:1.0 -> docker.io/library/nginx:1.27@D1, env (none) -> (changed)
                image: "docker.io/library/nginx:1.0" -> "docker.io/library/nginx:1.27@D1"
                env: null -> "(changed)"
            blocked app:acme/prod/old none driftless.yaml has errors: not in git; prune is on
            blocked app:acme/prod/web none driftless.yaml has errors: new app (docker.io/library/nginx:1.27)
                image: null -> "docker.io/library/nginx:1.27@D1"
                instances: null -> 1
                memory: null -> 1024
                disk: null -> 1024
                health_check_type: null -> "port"
                routes: null -> ["web.apps.example.com"]
                labels.driftless.dev/managed: null -> "true"
        "#]],
    );
}

// ---------------------------------------------------------------------------------------------
// Images and the preflight.

#[test]
fn a_registry_failure_blocks_what_starts_instances_only() {
    let manifest = "--- acme/prod/manifest.yml
applications:
- name: new
  docker: {image: localhost:5000/team/new:1}
- name: up
  docker: {image: registry.example.com/team/up:1}
  instances: 3
- name: down
  docker: {image: registry.example.com/team/down:1}
  instances: 1
  metadata: {labels: {tier: web}}
- name: moved
  docker: {image: registry.example.com/team/moved:2}
";
    check(
        manifest,
        "applied
-app acme/prod/new
acme/prod/up instances=1
acme/prod/down instances=4 -ann:driftless.dev/image
registry localhost:5000/team/new:1 fail unreachable connect to localhost:5000: connection refused
registry registry.example.com/team/up:1 fail unauthorized the registry refused the credential
registry registry.example.com/team/down:1 fail not_found manifest unknown
acme/prod/moved image=registry.example.com/team/moved:1@D1 ann:driftless.dev/image=registry.example.com/team/moved:1
registry registry.example.com/team/moved:2 fail not_found manifest unknown: registry.example.com/team/moved:2",
        expect![[r#"
            update app:acme/prod/down in_place instances 4 -> 1
                instances: 4 -> 1
                work: update scale=[web] metadata
            blocked app:acme/prod/moved rolling registry registry.example.com not found: manifest unknown: registry.example.com/team/moved:2
                image: "registry.example.com/team/moved:1@D1" -> "registry.example.com/team/moved:2"
            blocked app:acme/prod/new none registry localhost:5000 unreachable: connect to localhost:5000: connection refused
                image: null -> "localhost:5000/team/new:1"
                instances: null -> 1
                memory: null -> 1024
                disk: null -> 1024
                health_check_type: null -> "port"
                routes: null -> ["new.apps.example.com"]
                labels.driftless.dev/managed: null -> "true"
            blocked app:acme/prod/up in_place registry registry.example.com unauthorized: the registry refused the credential
                instances: 1 -> 3
        "#]],
    );
    check(
        manifest,
        "registry localhost:5000/team/new:1 unchecked",
        expect![[r#"
            create app:acme/prod/down none new app (registry.example.com/team/down:1)
                image: null -> "registry.example.com/team/down:1@D1"
                instances: null -> 1
                memory: null -> 1024
                disk: null -> 1024
                health_check_type: null -> "port"
                routes: null -> ["down.apps.example.com"]
                labels.driftless.dev/managed: null -> "true"
                labels.tier: null -> "web"
                work: create image=registry.example.com/team/down:1@D1 routes=[down.apps.example.com]
            create app:acme/prod/moved none new app (registry.example.com/team/moved:2)
                image: null -> "registry.example.com/team/moved:2@D1"
                instances: null -> 1
                memory: null -> 1024
                disk: null -> 1024
                health_check_type: null -> "port"
                routes: null -> ["moved.apps.example.com"]
                labels.driftless.dev/managed: null -> "true"
                work: create image=registry.example.com/team/moved:2@D1 routes=[moved.apps.example.com]
            blocked app:acme/prod/new none image localhost:5000/team/new:1 was not checked in its registry
                image: null -> "localhost:5000/team/new:1"
                instances: null -> 1
                memory: null -> 1024
                disk: null -> 1024
                health_check_type: null -> "port"
                routes: null -> ["new.apps.example.com"]
                labels.driftless.dev/managed: null -> "true"
            create app:acme/prod/up none new app (registry.example.com/team/up:1)
                image: null -> "registry.example.com/team/up:1@D1"
                instances: null -> 3
                memory: null -> 1024
                disk: null -> 1024
                health_check_type: null -> "port"
                routes: null -> ["up.apps.example.com"]
                labels.driftless.dev/managed: null -> "true"
                work: create image=registry.example.com/team/up:1@D1 routes=[up.apps.example.com]
        "#]],
    );
}

#[test]
fn policy_refuses_registries_and_mutable_tags() {
    let manifest = "--- acme/prod/manifest.yml
applications:
- name: web
  docker: {image: nginx:1.27}
- name: api
  docker: {image: registry.example.com/api@sha256:2222222222222222222222222222222222222222222222222222222222222222}
";
    check(
        manifest,
        "policy allowed=registry.example.com\nregistry registry.example.com/api@D2 D2",
        expect![[r#"
            create app:acme/prod/api none new app (registry.example.com/api@D2)
                image: null -> "registry.example.com/api@D2"
                instances: null -> 1
                memory: null -> 1024
                disk: null -> 1024
                health_check_type: null -> "port"
                routes: null -> ["api.apps.example.com"]
                labels.driftless.dev/managed: null -> "true"
                work: create image=registry.example.com/api@D2 routes=[api.apps.example.com]
            blocked app:acme/prod/web none registry docker.io is not in policy.allowed_registries
                image: null -> "docker.io/library/nginx:1.27@D1"
                instances: null -> 1
                memory: null -> 1024
                disk: null -> 1024
                health_check_type: null -> "port"
                routes: null -> ["web.apps.example.com"]
                labels.driftless.dev/managed: null -> "true"
        "#]],
    );
    check(
        manifest,
        "policy require_digest=true\nregistry registry.example.com/api@D2 D2",
        expect![[r#"
            create app:acme/prod/api none new app (registry.example.com/api@D2)
                image: null -> "registry.example.com/api@D2"
                instances: null -> 1
                memory: null -> 1024
                disk: null -> 1024
                health_check_type: null -> "port"
                routes: null -> ["api.apps.example.com"]
                labels.driftless.dev/managed: null -> "true"
                work: create image=registry.example.com/api@D2 routes=[api.apps.example.com]
            blocked app:acme/prod/web none image docker.io/library/nginx:1.27 is a tag without a digest, and policy.require_digest is on
                image: null -> "docker.io/library/nginx:1.27@D1"
                instances: null -> 1
                memory: null -> 1024
                disk: null -> 1024
                health_check_type: null -> "port"
                routes: null -> ["web.apps.example.com"]
                labels.driftless.dev/managed: null -> "true"
        "#]],
    );
}

#[test]
fn diego_docker_off_blocks_docker_apps_unless_declared() {
    check(
        WEB,
        "flag diego_docker=false",
        expect![[r#"
        blocked app:acme/prod/web none feature flag diego_docker is disabled (declare it in driftless.yaml feature_flags to let driftless enable it)
            image: null -> "docker.io/library/nginx:1.27@D1"
            instances: null -> 1
            memory: null -> 1024
            disk: null -> 1024
            health_check_type: null -> "port"
            routes: null -> ["web.apps.example.com"]
            labels.driftless.dev/managed: null -> "true"
    "#]],
    );
    check(
        WEB,
        "flag diego_docker=false\ndeclare diego_docker=true",
        expect![[r#"
            update feature_flag:diego_docker none diego_docker false -> true
                enabled: false -> true
                work: set diego_docker=true
            create app:acme/prod/web none new app (docker.io/library/nginx:1.27)
                image: null -> "docker.io/library/nginx:1.27@D1"
                instances: null -> 1
                memory: null -> 1024
                disk: null -> 1024
                health_check_type: null -> "port"
                routes: null -> ["web.apps.example.com"]
                labels.driftless.dev/managed: null -> "true"
                work: create image=docker.io/library/nginx:1.27@D1 routes=[web.apps.example.com]
        "#]],
    );
    // A running app that only scales down starts nothing: it may proceed.
    check(
        WEB,
        "applied\nflag diego_docker=false\nacme/prod/web instances=2",
        expect![[r#"
            update app:acme/prod/web in_place instances 2 -> 1
                instances: 2 -> 1
                work: update scale=[web]
        "#]],
    );
}

#[test]
fn a_declared_false_diego_docker_is_honoured_loudly() {
    check(
        WEB,
        "applied\ndeclare diego_docker=false\nacme/prod/web instances=3",
        expect![[r#"
            update feature_flag:diego_docker none diego_docker true -> false, as declared in driftless.yaml: this stops every docker app on the foundation (1 declared in git)
                enabled: true -> false
                work: set diego_docker=false
            update app:acme/prod/web in_place instances 3 -> 1
                instances: 3 -> 1
                work: update scale=[web]
        "#]],
    );
}

#[test]
fn undeclared_flags_are_not_targets_and_unknown_ones_are_blocked() {
    check(
        WEB,
        "applied\nflag user_org_creation=true\ndeclare task_creation=true",
        expect![[r#"
            blocked feature_flag:task_creation none the foundation has no feature flag `task_creation`
            noop app:acme/prod/web up to date
        "#]],
    );
}

#[test]
fn a_moved_tag_is_reported_or_redeployed() {
    // Deployed at D1; the tag now resolves to D2.
    let live = "applied\nregistry nginx:1.27 D2";
    check(
        WEB,
        live,
        expect![[r#"
        blocked app:acme/prod/web rolling tag moved: docker.io/library/nginx:1.27 was D1, now D2 (policy.tag_moved is report)
            digest: "D1" -> "D2"
    "#]],
    );
    check(
        WEB,
        &format!("{live}\npolicy tag_moved=redeploy"),
        expect![[r#"
            update app:acme/prod/web rolling tag moved: redeploying docker.io/library/nginx:1.27 (D1 -> D2)
                digest: "D1" -> "D2"
                work: update image=docker.io/library/nginx:1.27@D2 metadata
        "#]],
    );
    check(
        WEB,
        "policy pin_digest=false\napplied\nregistry nginx:1.27 D2\npolicy tag_moved=redeploy",
        expect![[r#"
            update app:acme/prod/web rolling tag moved: redeploying docker.io/library/nginx:1.27 (D1 -> D2)
                digest: "D1" -> "D2"
                work: update image=docker.io/library/nginx:1.27 metadata
        "#]],
    );
}

#[test]
fn without_pinning_the_tag_is_deployed_as_written() {
    check(
        WEB,
        "policy pin_digest=false",
        expect![[r#"
        create app:acme/prod/web none new app (docker.io/library/nginx:1.27)
            image: null -> "docker.io/library/nginx:1.27"
            instances: null -> 1
            memory: null -> 1024
            disk: null -> 1024
            health_check_type: null -> "port"
            routes: null -> ["web.apps.example.com"]
            labels.driftless.dev/managed: null -> "true"
            work: create image=docker.io/library/nginx:1.27 routes=[web.apps.example.com]
    "#]],
    );
    check(
        WEB,
        "policy pin_digest=false\napplied",
        expect![[r#"
            noop app:acme/prod/web up to date
        "#]],
    );
}

#[test]
fn a_changed_credential_needs_a_new_build() {
    let manifest = "--- driftless.yaml
registries:
- host: registry.example.com
  username: ci-pull
  password: {env: REGISTRY_PASSWORD}
--- acme/prod/manifest.yml
applications:
- name: web
  docker: {image: registry.example.com/team/web:1, username: ci-pull}
";
    check(
        manifest,
        "credential registry.example.com sha256:aaaaaaaaaaaaaaaa
applied
acme/prod/web ann:driftless.dev/credential=sha256:bbbbbbbbbbbbbbbb",
        expect![[r#"
            update app:acme/prod/web rolling docker.credential (credential) -> (credential changed)
                docker.credential: "(credential)" -> "(credential changed)"
                work: update image=registry.example.com/team/web:1@D1 user=ci-pull metadata
        "#]],
    );
}

// ---------------------------------------------------------------------------------------------
// Determinism and purity.

#[test]
fn hashes_are_stable_and_order_free() {
    let a = BTreeMap::from([
        ("A".to_owned(), "1".to_owned()),
        ("B".to_owned(), "2".to_owned()),
    ]);
    let b = BTreeMap::from([
        ("B".to_owned(), "2".to_owned()),
        ("A".to_owned(), "1".to_owned()),
    ]);
    assert_eq!(env_hash(&a), env_hash(&b));
    assert_ne!(env_hash(&a), env_hash(&BTreeMap::new()));
    assert_eq!(env_hash(&a).len(), 16);
}

// ---------------------------------------------------------------------------------------------
// Properties.

const SPACES: [(&str, &str); 2] = [("acme", "prod"), ("acme", "dev")];
const NAMES: [&str; 4] = ["web", "API", "worker", "db"];
const IMAGES: [&str; 4] = [
    "docker.io/library/nginx:1.27",
    "docker.io/library/nginx:latest",
    "registry.example.com:5000/team/app:2",
    "registry.example.com:5000/team/app@sha256:3333333333333333333333333333333333333333333333333333333333333333",
];

#[derive(Clone, Debug)]
struct DesiredGen {
    image: usize,
    instances: Option<u32>,
    memory: Option<u64>,
    http: Option<Option<&'static str>>,
    command: Option<&'static str>,
    timeout: Option<u32>,
    env: BTreeMap<String, String>,
    routes: u8,
    label: Option<&'static str>,
    worker: bool,
    suspend: bool,
}

#[derive(Clone, Debug)]
struct LiveGen {
    owned: bool,
    started: bool,
    image: Option<(usize, Option<char>)>,
    annotated: Option<(usize, char)>,
    instances: u32,
    memory: u64,
    hc: &'static str,
    command: Option<&'static str>,
    env: Option<BTreeMap<String, String>>,
    env_hash_known: bool,
    routes: u8,
    label: Option<&'static str>,
    credential: Option<&'static str>,
}

#[derive(Clone, Debug)]
struct SlotGen {
    desired: Option<DesiredGen>,
    unknown: bool,
    live: Option<LiveGen>,
    /// Start from what applying the desired app gives, then change it by `mutations`.
    synced: bool,
    mutations: Vec<u8>,
}

#[derive(Clone, Debug)]
struct WorldGen {
    slots: Vec<SlotGen>,
    unreadable: Vec<bool>,
    images: Vec<Option<Result<char, &'static str>>>,
    flag_live: Option<bool>,
    flag_declared: Option<bool>,
    prune: bool,
    adopt: bool,
    allow_mass_delete: bool,
    pin_digest: bool,
    redeploy: bool,
    require_digest: bool,
    valid: bool,
    credential: Option<&'static str>,
    domain: bool,
}

fn env_gen() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map(
        prop::sample::select(vec!["A".to_owned(), "B".to_owned(), "API_KEY".to_owned()]),
        prop::sample::select(vec!["1".to_owned(), "2".to_owned()]),
        0..3,
    )
}

fn desired_gen() -> impl Strategy<Value = DesiredGen> {
    (
        (
            0..IMAGES.len(),
            prop::option::of(0u32..4),
            prop::option::of(prop::sample::select(vec![256u64, 1024])),
        ),
        (
            prop::option::of(prop::option::of(prop::sample::select(vec!["/", "/health"]))),
            prop::option::of(prop::sample::select(vec!["bin/a", "bin/b"])),
            prop::option::of(prop::sample::select(vec![30u32, 60])),
        ),
        (
            env_gen(),
            0u8..4,
            prop::option::of(prop::sample::select(vec!["x", "y"])),
        ),
        (any::<bool>(), prop::bool::weighted(0.1)),
    )
        .prop_map(
            |(
                (image, instances, memory),
                (http, command, timeout),
                (env, routes, label),
                (worker, suspend),
            )| {
                DesiredGen {
                    image,
                    instances,
                    memory,
                    http,
                    command,
                    timeout,
                    env,
                    routes,
                    label,
                    worker,
                    suspend,
                }
            },
        )
}

fn live_gen() -> impl Strategy<Value = LiveGen> {
    (
        (any::<bool>(), prop::bool::weighted(0.8)),
        (
            prop::option::of((
                0..IMAGES.len(),
                prop::option::of(prop::sample::select(vec!['1', '2'])),
            )),
            prop::option::of((0..IMAGES.len(), prop::sample::select(vec!['1', '2']))),
        ),
        (
            0u32..4,
            prop::sample::select(vec![256u64, 1024]),
            prop::sample::select(vec!["port", "http", "process", "none"]),
        ),
        (
            prop::option::of(prop::sample::select(vec!["bin/a", "bin/b"])),
            prop::option::of(env_gen()),
            any::<bool>(),
        ),
        (
            0u8..4,
            prop::option::of(prop::sample::select(vec!["x", "y"])),
            prop::option::of(prop::sample::select(vec!["fp1", "fp2"])),
        ),
    )
        .prop_map(
            |(
                (owned, started),
                (image, annotated),
                (instances, memory, hc),
                (command, env, env_hash_known),
                (routes, label, credential),
            )| LiveGen {
                owned,
                started,
                image,
                annotated,
                instances,
                memory,
                hc,
                command,
                env,
                env_hash_known,
                routes,
                label,
                credential,
            },
        )
}

fn world_gen() -> impl Strategy<Value = WorldGen> {
    let slot = (
        prop::option::of(desired_gen()),
        prop::bool::weighted(0.1),
        prop::option::of(live_gen()),
        prop::bool::weighted(0.6),
        prop::collection::vec(0u8..13, 0..3),
    )
        .prop_map(|(desired, unknown, live, synced, mutations)| SlotGen {
            desired,
            unknown,
            live,
            synced,
            mutations,
        });
    (
        prop::collection::vec(slot, SPACES.len() * NAMES.len()),
        prop::collection::vec(prop::bool::weighted(0.2), SPACES.len()),
        prop::collection::vec(
            prop::option::weighted(
                0.9,
                prop_oneof![
                    4 => prop::sample::select(vec!['1', '2']).prop_map(Ok),
                    1 => Just(Err("unreachable")),
                ],
            ),
            IMAGES.len(),
        ),
        (
            prop_oneof![6 => Just(Some(true)), 1 => Just(Some(false)), 1 => Just(None)],
            prop_oneof![6 => Just(None), 1 => Just(Some(true)), 1 => Just(Some(false))],
        ),
        (any::<bool>(), any::<bool>(), any::<bool>()),
        (
            prop::bool::weighted(0.8),
            any::<bool>(),
            prop::bool::weighted(0.1),
            prop::bool::weighted(0.9),
        ),
        (
            prop::option::of(prop::sample::select(vec!["fp1", "fp2"])),
            prop::bool::weighted(0.9),
        ),
    )
        .prop_map(
            |(
                slots,
                unreadable,
                images,
                (flag_live, flag_declared),
                (prune, adopt, allow_mass_delete),
                (pin_digest, redeploy, require_digest, valid),
                (credential, domain),
            )| WorldGen {
                slots,
                unreadable,
                images,
                flag_live,
                flag_declared,
                prune,
                adopt,
                allow_mass_delete,
                pin_digest,
                redeploy,
                require_digest,
                valid,
                credential,
                domain,
            },
        )
}

fn world_key(index: usize) -> AppKey {
    let (org, space) = SPACES[index / NAMES.len()];
    AppKey {
        space: SpaceKey {
            org: org.to_owned(),
            space: space.to_owned(),
        },
        name: AppName::new(NAMES[index % NAMES.len()]),
    }
}

fn desired_app(key: &AppKey, g: &DesiredGen) -> DesiredApp {
    let mut web = ProcessSpec {
        instances: g.instances,
        memory_mb: g.memory,
        timeout: g.timeout,
        command: g.command.map(str::to_owned),
        ..ProcessSpec::default()
    };
    if let Some(endpoint) = g.http {
        web.health_check_type = Some(HealthCheckKind::Http);
        web.health_check_endpoint = endpoint.map(str::to_owned);
    }
    let mut processes = BTreeMap::from([("web".to_owned(), web)]);
    if g.worker {
        processes.insert(
            "worker".to_owned(),
            ProcessSpec {
                command: Some("bin/work".to_owned()),
                instances: Some(0),
                ..ProcessSpec::default()
            },
        );
    }
    DesiredApp {
        key: key.clone(),
        source: SourceLoc {
            path: format!("{}/manifest.yml", key.space),
            line: 2,
        },
        image: ImageRef::parse(IMAGES[g.image]).unwrap(),
        docker_username: None,
        processes,
        sidecars: Vec::new(),
        env: g.env.clone(),
        routes: match g.routes {
            0 => Routes::Default,
            1 => Routes::None,
            2 => Routes::Random,
            _ => Routes::Listed(vec![RouteSpec {
                url: "a.example.com".to_owned(),
                protocol: None,
                options: BTreeMap::new(),
            }]),
        },
        services: Vec::new(),
        labels: g
            .label
            .map(|l| BTreeMap::from([("tier".to_owned(), l.to_owned())]))
            .unwrap_or_default(),
        annotations: BTreeMap::new(),
        stack: None,
        features: BTreeMap::new(),
        settings: AppSettings {
            suspend: g.suspend,
            ..AppSettings::default()
        },
    }
}

fn live_app(key: &AppKey, g: &LiveGen) -> LiveApp {
    let name = key.name.as_str().to_ascii_lowercase();
    let mut labels = BTreeMap::new();
    if g.owned {
        labels.insert(MANAGED_LABEL.to_owned(), "true".to_owned());
    }
    if let Some(l) = g.label {
        labels.insert("tier".to_owned(), l.to_owned());
    }
    let mut annotations = BTreeMap::new();
    if let Some((image, d)) = g.annotated {
        annotations.insert(provenance::IMAGE.to_owned(), IMAGES[image].to_owned());
        annotations.insert(provenance::DIGEST.to_owned(), digest(d));
    }
    if g.env_hash_known {
        annotations.insert(provenance::ENV_HASH.to_owned(), env_hash(&BTreeMap::new()));
    }
    if let Some(c) = g.credential {
        annotations.insert(provenance::CREDENTIAL.to_owned(), c.to_owned());
    }
    LiveApp {
        guid: format!("guid-{key}"),
        started: g.started,
        updated_at: "t0".to_owned(),
        owned: g.owned,
        labels,
        annotations,
        image: g.image.map(|(i, d)| {
            let image = ImageRef::parse(IMAGES[i]).unwrap();
            match d {
                Some(d) => image.pinned(&digest(d)).to_string(),
                None => image.to_string(),
            }
        }),
        processes: BTreeMap::from([(
            "web".to_owned(),
            LiveProcess {
                guid: "p".to_owned(),
                instances: g.instances,
                memory_mb: g.memory,
                disk_mb: 1024,
                health_check_type: g.hc.to_owned(),
                health_check_endpoint: (g.hc == "http").then(|| "/".to_owned()),
                timeout: None,
                command: g.command.map(str::to_owned),
                updated_at: "t0".to_owned(),
            },
        )]),
        routes: match g.routes {
            0 => BTreeSet::new(),
            1 => BTreeSet::from([format!("{name}.apps.example.com")]),
            2 => BTreeSet::from(["a.example.com".to_owned()]),
            _ => BTreeSet::from(["a.example.com".to_owned(), "b.example.com".to_owned()]),
        },
        deployment: None,
        env: g.env.clone(),
    }
}

fn mutate(app: &mut LiveApp, mutation: u8) {
    let web = app.processes.get_mut("web").expect("applied apps have web");
    match mutation {
        0 => web.instances += 1,
        1 => web.instances = 0,
        2 => web.memory_mb = 256,
        3 => app.started = false,
        4 => {
            app.image = app.image.as_deref().map(|i| {
                let image = ImageRef::parse(i).unwrap();
                image.pinned(&digest('2')).to_string()
            });
        }
        5 => {
            app.annotations.remove(provenance::ENV_HASH);
        }
        6 => app.env = Some(BTreeMap::new()),
        7 => app.routes.clear(),
        8 => {
            app.labels.insert("tier".to_owned(), "z".to_owned());
        }
        9 => {
            app.labels.remove(MANAGED_LABEL);
            app.owned = false;
        }
        10 => {
            app.annotations.remove(provenance::COMMAND_HASH);
        }
        11 => {
            app.annotations
                .insert(provenance::DIGEST.to_owned(), digest('2'));
        }
        _ => {
            web.health_check_type = "http".to_owned();
            web.health_check_endpoint = None;
        }
    }
}

struct World {
    desired: FoundationDesired,
    live: Live,
    images: Images,
    config: RepoConfig,
    foundation: FoundationConfig,
    credentials: BTreeMap<String, String>,
    options: PlanOptions,
}

fn world(g: &WorldGen) -> World {
    let mut desired = FoundationDesired {
        name: "default".to_owned(),
        ..FoundationDesired::default()
    };
    let mut live = Live {
        default_domain: g.domain.then(|| "apps.example.com".to_owned()),
        ..Live::default()
    };
    for (org, space) in SPACES {
        let key = SpaceKey {
            org: org.to_owned(),
            space: space.to_owned(),
        };
        desired.spaces.insert(key.clone());
        live.spaces.insert(key.clone(), space_guid(&key));
    }
    for (i, unreadable) in g.unreadable.iter().enumerate() {
        if *unreadable {
            let (org, space) = SPACES[i];
            desired.unreadable_spaces.insert(SpaceKey {
                org: org.to_owned(),
                space: space.to_owned(),
            });
        }
    }
    for (i, slot) in g.slots.iter().enumerate() {
        let key = world_key(i);
        if slot.unknown {
            desired.unknown.insert(key.clone());
        } else if let Some(d) = &slot.desired {
            desired.apps.insert(key.clone(), desired_app(&key, d));
        }
        if let Some(l) = &slot.live {
            live.apps.insert(key.clone(), live_app(&key, l));
        }
    }
    if let Some(flag) = g.flag_live {
        live.feature_flags.insert(DIEGO_DOCKER.to_owned(), flag);
    }
    let mut foundation = FoundationConfig::default();
    if let Some(flag) = g.flag_declared {
        foundation
            .feature_flags
            .insert(DIEGO_DOCKER.to_owned(), flag);
    }
    let images: Images = g
        .images
        .iter()
        .enumerate()
        .filter_map(|(i, answer)| {
            let check = match answer.as_ref()? {
                Ok(d) => ImageCheck::Resolved { digest: digest(*d) },
                Err(kind) => ImageCheck::Failed {
                    kind: (*kind).to_owned(),
                    reason: "connection refused".to_owned(),
                },
            };
            Some((ImageRef::parse(IMAGES[i]).unwrap().to_string(), check))
        })
        .collect();
    let mut config = RepoConfig {
        valid: g.valid,
        ..RepoConfig::default()
    };
    config.policy.pin_digest = g.pin_digest;
    config.policy.require_digest = g.require_digest;
    if g.redeploy {
        config.policy.tag_moved = TagMoved::Redeploy;
    }
    let credentials = g
        .credential
        .map(|fp| BTreeMap::from([("registry.example.com:5000".to_owned(), fp.to_owned())]))
        .unwrap_or_default();
    // The synced slots: what driftless would have deployed, changed a little behind its back.
    let mut base_config = RepoConfig::default();
    base_config.policy.pin_digest = g.pin_digest;
    let base_images: Images = IMAGES
        .iter()
        .map(|i| {
            let key = ImageRef::parse(i).unwrap().to_string();
            let check = match images.get(&key) {
                Some(ImageCheck::Resolved { digest }) => ImageCheck::Resolved {
                    digest: digest.clone(),
                },
                _ => ImageCheck::Resolved {
                    digest: digest('1'),
                },
            };
            (key, check)
        })
        .collect();
    let mut base_desired = desired.clone();
    for app in base_desired.apps.values_mut() {
        app.settings.suspend = false;
    }
    let empty = Live {
        spaces: live.spaces.clone(),
        apps: BTreeMap::new(),
        feature_flags: BTreeMap::from([(DIEGO_DOCKER.to_owned(), true)]),
        default_domain: live.default_domain.clone(),
    };
    let base_options = PlanOptions::default();
    let base_foundation = FoundationConfig::default();
    let base_cx = PlanContext {
        config: &base_config,
        foundation: &base_foundation,
        credentials: &credentials,
        options: &base_options,
    };
    let base = apply_model(&empty, &plan(&base_desired, &empty, &base_images, &base_cx));
    for (i, slot) in g.slots.iter().enumerate() {
        let key = world_key(i);
        if let (true, Some(app)) = (slot.synced, base.apps.get(&key)) {
            let mut app = app.clone();
            for m in &slot.mutations {
                mutate(&mut app, *m);
            }
            live.apps.insert(key, app);
        }
    }
    World {
        desired,
        live,
        images,
        config,
        foundation,
        credentials,
        options: PlanOptions {
            revision: Some("r1".to_owned()),
            prune: g.prune,
            adopt: g.adopt,
            allow_mass_delete: g.allow_mass_delete,
        },
    }
}

impl World {
    fn plan(&self, live: &Live) -> Plan {
        let cx = PlanContext {
            config: &self.config,
            foundation: &self.foundation,
            credentials: &self.credentials,
            options: &self.options,
        };
        plan(&self.desired, live, &self.images, &cx)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn apply_then_plan_leaves_nothing_to_do(g in world_gen()) {
        let w = world(&g);
        let first = w.plan(&w.live);
        prop_assume!(first.refused.is_none());
        let after = apply_model(&w.live, &first);
        let again = w.plan(&after);
        let pending: Vec<&Change> = again
            .changes
            .iter()
            .filter(|c| matches!(c.action, Action::Create | Action::Update | Action::Delete))
            .collect();
        prop_assert!(
            pending.is_empty(),
            "first:\n{}\nagain:\n{}",
            render(&first, true),
            render(&again, true)
        );
    }

    #[test]
    fn nothing_unowned_unknown_or_unreadable_is_ever_touched(g in world_gen()) {
        let w = world(&g);
        let plan = w.plan(&w.live);
        let adopt = w.options.adopt || w.config.policy.adopt;
        for change in &plan.changes {
            let Target::App(key) = &change.target else { continue };
            let live = w.live.apps.get(key);
            match &change.work {
                Work::Nothing => continue,
                Work::SetFlag { .. } => prop_assert!(false, "flag work on an app"),
                Work::Delete { .. } => {
                    prop_assert!(live.is_some_and(|l| l.owned), "deletes unowned {key}");
                    prop_assert!(!w.desired.unreadable_spaces.contains(&key.space), "deletes in an unreadable space: {key}");
                    prop_assert!(w.options.prune || w.config.policy.prune, "deletes without prune: {key}");
                    prop_assert!(!w.desired.apps.contains_key(key), "deletes a desired app {key}");
                }
                Work::Create(_) => prop_assert!(live.is_none(), "creates over a live app {key}"),
                Work::Update(_) => {
                    prop_assert!(live.is_some_and(|l| l.owned) || adopt, "updates unowned {key}");
                }
            }
            prop_assert!(!w.desired.unknown.contains(key), "touches unknown {key}");
            prop_assert!(w.config.valid, "changes with an invalid driftless.yaml: {key}");
        }
    }

    #[test]
    fn plans_are_deterministic(g in world_gen()) {
        let w = world(&g);
        prop_assert_eq!(w.plan(&w.live), w.plan(&w.live));
    }
}
