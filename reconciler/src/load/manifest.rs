//! One manifest's `applications:` -> `DesiredApp`s, every problem located.

use std::collections::{BTreeMap, BTreeSet};

use driftless_schema::{self as wire, HealthCheckType, ProcessFields, Scalar, ServiceBinding};

use super::config::{RepoSetup, mark_at};
use crate::{
    diag::{Sink, suggest},
    model::{
        AppKey, AppName, AppSettings, DesiredApp, FoundationConfig, HealthCheckKind, ImageRef,
        LogRateLimit, ProcessSpec, RouteSpec, Routes, ServiceSpec, SidecarSpec, SourceLoc,
        SpaceKey, rules,
    },
    yaml::{self, Mark, Node, UnknownKey},
};

/// The apps of one manifest for one foundation.
#[derive(Debug, Default)]
pub(super) struct LoadedApps {
    /// Valid apps.
    pub apps: Vec<DesiredApp>,
    /// Every named entry, valid or not, with its mark: for duplicate names.
    pub declared: Vec<(AppKey, Mark)>,
    /// Apps with a name whose entry has errors.
    pub unknown: BTreeSet<AppKey>,
    /// An entry had no usable name: its space must not be pruned.
    pub unkeyed: bool,
}

pub(super) const TOP_LEVEL_KEYS: [&str; 2] = ["applications", "version"];

pub(super) fn load_apps(
    root: &Node,
    space: &SpaceKey,
    foundation: &FoundationConfig,
    setup: &RepoSetup,
    sink: &mut Sink<'_>,
) -> LoadedApps {
    let mut out = LoadedApps::default();
    for (key, value) in root.entries() {
        let text = key.as_scalar().unwrap_or_default();
        if text == "version" {
            if value.as_scalar().map(str::trim) != Some("1") {
                sink.error(
                    value.mark,
                    "`version` must be 1, the only Cloud Foundry manifest version",
                );
            }
        } else if !TOP_LEVEL_KEYS.contains(&text) {
            let unknown = UnknownKey {
                mark: key.mark,
                key: text.to_owned(),
                known: &TOP_LEVEL_KEYS,
            };
            if report_unknown(std::slice::from_ref(&unknown), sink) {
                out.unkeyed = true;
            }
        }
    }
    let Some(applications) = root.get("applications") else {
        return out;
    };
    if !matches!(applications.value, yaml::Value::Seq(_)) {
        sink.error(
            applications.mark,
            format!(
                "`applications` must be a list of apps, found {}",
                applications.kind()
            ),
        );
        out.unkeyed = true;
        return out;
    }
    for node in applications.items() {
        let errors_before = sink.errors();
        let name = node
            .get("name")
            .and_then(Node::as_scalar)
            .filter(|n| !n.trim().is_empty());
        let key = name.map(|name| AppKey {
            space: space.clone(),
            name: AppName::new(name.trim()),
        });
        if let Some(key) = &key {
            out.declared.push((key.clone(), node.mark));
        }
        let app = match yaml::from_node::<wire::ManifestApp>(node) {
            Ok((wire, unknown)) => {
                report_unknown(&unknown, sink);
                app(&wire, node, space, foundation, setup, sink)
            }
            Err(error) => {
                sink.error(error.mark.unwrap_or(node.mark), error.message);
                None
            }
        };
        match (app, key) {
            (Some(app), _) if sink.errors() == errors_before => out.apps.push(app),
            (_, Some(key)) => {
                out.unknown.insert(key);
            }
            (_, None) => out.unkeyed = true,
        }
    }
    out
}

/// Reports unknown keys as warnings (errors under `--strict`). Returns whether any was an error.
pub(super) fn report_unknown(unknown: &[UnknownKey], sink: &mut Sink<'_>) -> bool {
    let mut any_error = false;
    for key in unknown {
        let hint = match suggest(&key.key, key.known) {
            Some(known) => format!("; did you mean `{known}`?"),
            None => String::new(),
        };
        any_error |= sink.warn(key.mark, format!("unknown key `{}`{hint}", key.key));
    }
    any_error
}

fn app(
    wire: &wire::ManifestApp,
    node: &Node,
    space: &SpaceKey,
    foundation: &FoundationConfig,
    setup: &RepoSetup,
    sink: &mut Sink<'_>,
) -> Option<DesiredApp> {
    let at = |path: &[&str]| mark_at(node, path);
    let name = wire
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty());
    match name {
        None => sink.error(node.mark, "this app has no `name`; every app needs one"),
        Some(name) if name.contains('/') => {
            sink.error(at(&["name"]), format!("app name `{name}` contains `/`"))
        }
        Some(_) => {}
    }
    // Checking goes on without a name, so that one run reports every problem of the entry.
    let shown = name.unwrap_or("(unnamed)");

    // Only docker apps: buildpack keys are either mixed in (a CF error) or the wrong tool.
    let buildpack_keys: Vec<&str> = [
        ("buildpack", wire.buildpack.is_some()),
        ("buildpacks", wire.buildpacks.is_some()),
        ("path", wire.path.is_some()),
    ]
    .into_iter()
    .filter_map(|(k, present)| present.then_some(k))
    .collect();
    for k in &buildpack_keys {
        let message = if wire.docker.is_some() {
            format!(
                "`{k}` cannot be combined with `docker`: an app is either a buildpack app or a docker app"
            )
        } else {
            format!(
                "`{k}` is for buildpack apps; driftless deploys docker images: expected `docker: {{ image: ... }}`"
            )
        };
        sink.error(at(&[k]), message);
    }
    let image = match &wire.docker {
        None => {
            if buildpack_keys.is_empty() {
                sink.error(
                    node.mark,
                    format!("app `{shown}` has no `docker.image`; driftless deploys docker images"),
                );
            }
            None
        }
        Some(docker) => {
            if docker.password.is_some() {
                sink.error(
                    at(&["docker", "password"]),
                    "`docker.password` is not allowed: a secret must never be in git; give the registry's \
                     password in driftless.yaml `registries` as `{ env: NAME }` or `{ file: PATH }`",
                );
            }
            match docker.image.as_deref() {
                None => {
                    sink.error(at(&["docker"]), "`docker` needs `image`");
                    None
                }
                Some(text) => match ImageRef::parse(text) {
                    Ok(image) => Some(image),
                    Err(error) => {
                        let shown = if error.reason.contains("credentials") {
                            "(redacted)"
                        } else {
                            text
                        };
                        sink.error(
                            at(&["docker", "image"]),
                            format!("invalid image reference `{shown}`: {error}"),
                        );
                        None
                    }
                },
            }
        }
    };
    let docker_username = wire.docker.as_ref().and_then(|d| d.username.clone());
    if let (Some(image), Some(username)) = (&image, &docker_username) {
        let mark = at(&["docker", "username"]);
        match setup.config().registry(&image.registry) {
            None if setup.registry_is_broken(&image.registry) => {}
            None => sink.error(
                mark,
                format!(
                    "`docker.username` is set but driftless.yaml has no `registries` entry for `{}`; \
                     add one with the password as `{{ env: NAME }}` or `{{ file: PATH }}`",
                    image.registry
                ),
            ),
            Some(registry) => {
                if let Some(expected) = registry.username.as_deref().filter(|u| u != username) {
                    sink.error(
                        mark,
                        format!(
                            "`docker.username: {username}` does not match the `registries` entry for `{}` \
                             (username `{expected}`)",
                            image.registry
                        ),
                    );
                }
            }
        }
    }

    let processes = processes(wire, node, sink);
    let env = env(wire.env.as_ref(), node, sink);
    let routes = routes(wire, node, sink);
    let sidecars = sidecars(wire, node, &processes, sink);
    let services = services(wire, node, sink);
    let (labels, annotations) = metadata(wire, node, sink);

    let key = AppKey {
        space: space.clone(),
        name: AppName::new(name?),
    };
    let settings = setup
        .config()
        .app_rules
        .iter()
        .filter(|rule| {
            rule.foundation
                .as_ref()
                .is_none_or(|f| *f == foundation.name)
        })
        .find(|rule| rule.pattern.matches(&key))
        .map(|rule| AppSettings {
            strategy: rule.strategy.unwrap_or(AppSettings::default().strategy),
            suspend: rule.suspend.unwrap_or(false),
        })
        .unwrap_or_default();

    Some(DesiredApp {
        key,
        source: SourceLoc {
            path: sink.path.to_owned(),
            line: node.mark.line,
        },
        image: image?,
        docker_username,
        processes: processes?,
        sidecars,
        env,
        routes,
        services,
        labels,
        annotations,
        stack: wire.stack.clone(),
        features: wire.features.clone().unwrap_or_default(),
        settings,
    })
}

/// The `web` process from the top-level keys, merged with `processes[]`.
fn processes(
    wire: &wire::ManifestApp,
    node: &Node,
    sink: &mut Sink<'_>,
) -> Option<BTreeMap<String, ProcessSpec>> {
    let before = sink.errors();
    let mut out = BTreeMap::new();
    let top = wire.process_fields();
    let mut web = process(&top, node, sink);
    let mut listed_web = false;
    for (i, p) in wire.processes.iter().flatten().enumerate() {
        let pnode = node
            .get("processes")
            .and_then(|n| n.items().get(i))
            .unwrap_or(node);
        let Some(kind) = p.kind.as_deref().map(str::trim).filter(|k| !k.is_empty()) else {
            sink.error(
                pnode.mark,
                "this process has no `type`; expected one such as `web` or `worker`",
            );
            continue;
        };
        if out.contains_key(kind) || (kind == "web" && listed_web) {
            sink.error(
                mark_at(pnode, &["type"]),
                format!("process type `{kind}` is listed twice"),
            );
            continue;
        }
        let spec = process(&p.process_fields(), pnode, sink);
        if kind == "web" {
            listed_web = true;
            web = merge_web(web, spec, &top, &p.process_fields(), pnode, sink);
        } else {
            out.insert(kind.to_owned(), spec);
        }
    }
    out.insert("web".to_owned(), web);
    (sink.errors() == before).then_some(out)
}

/// The top-level keys and a `processes: [{type: web}]` entry describe one process: each key
/// may be given in one place only.
fn merge_web(
    top: ProcessSpec,
    listed: ProcessSpec,
    top_raw: &ProcessFields,
    listed_raw: &ProcessFields,
    pnode: &Node,
    sink: &mut Sink<'_>,
) -> ProcessSpec {
    for (key, both) in field_presence(top_raw)
        .into_iter()
        .zip(field_presence(listed_raw))
    {
        if key.1 && both.1 {
            sink.error(mark_at(pnode, &[key.0]), format!("`{}` is given both at the app's top level and in its `web` process; give it once", key.0));
        }
    }
    ProcessSpec {
        instances: listed.instances.or(top.instances),
        memory_mb: listed.memory_mb.or(top.memory_mb),
        disk_mb: listed.disk_mb.or(top.disk_mb),
        log_rate_limit: listed.log_rate_limit.or(top.log_rate_limit),
        command: listed.command.or(top.command),
        health_check_type: listed.health_check_type.or(top.health_check_type),
        health_check_endpoint: listed.health_check_endpoint.or(top.health_check_endpoint),
        health_check_invocation_timeout: listed
            .health_check_invocation_timeout
            .or(top.health_check_invocation_timeout),
        health_check_interval: listed.health_check_interval.or(top.health_check_interval),
        readiness_check_type: listed.readiness_check_type.or(top.readiness_check_type),
        readiness_check_endpoint: listed
            .readiness_check_endpoint
            .or(top.readiness_check_endpoint),
        readiness_check_invocation_timeout: listed
            .readiness_check_invocation_timeout
            .or(top.readiness_check_invocation_timeout),
        readiness_check_interval: listed
            .readiness_check_interval
            .or(top.readiness_check_interval),
        timeout: listed.timeout.or(top.timeout),
        user: listed.user.or(top.user),
    }
}

fn field_presence(f: &ProcessFields) -> [(&'static str, bool); 15] {
    [
        ("instances", f.instances.is_some()),
        ("memory", f.memory.is_some()),
        ("disk_quota", f.disk_quota.is_some()),
        (
            "log-rate-limit-per-second",
            f.log_rate_limit_per_second.is_some(),
        ),
        ("command", f.command.is_some()),
        ("health-check-type", f.health_check_type.is_some()),
        (
            "health-check-http-endpoint",
            f.health_check_http_endpoint.is_some(),
        ),
        (
            "health-check-invocation-timeout",
            f.health_check_invocation_timeout.is_some(),
        ),
        ("health-check-interval", f.health_check_interval.is_some()),
        (
            "readiness-health-check-type",
            f.readiness_health_check_type.is_some(),
        ),
        (
            "readiness-health-check-http-endpoint",
            f.readiness_health_check_http_endpoint.is_some(),
        ),
        (
            "readiness-health-check-invocation-timeout",
            f.readiness_health_check_invocation_timeout.is_some(),
        ),
        (
            "readiness-health-check-interval",
            f.readiness_health_check_interval.is_some(),
        ),
        ("timeout", f.timeout.is_some()),
        ("user", f.user.is_some()),
    ]
}

fn process(f: &ProcessFields, node: &Node, sink: &mut Sink<'_>) -> ProcessSpec {
    let mut check = |key: &str,
                     value: &Option<Scalar>,
                     parse: fn(&str, &str) -> Result<u64, String>|
     -> Option<u64> {
        let text = &value.as_ref()?.0;
        parse(text, key)
            .map_err(|message| sink.error(mark_at(node, &[key]), message))
            .ok()
    };
    let instances = check("instances", &f.instances, |t, k| {
        rules::count(t, k).map(u64::from)
    });
    let memory_mb = check("memory", &f.memory, rules::size_mb);
    let disk_mb = check("disk_quota", &f.disk_quota, rules::size_mb);
    let log_rate_limit = check(
        "log-rate-limit-per-second",
        &f.log_rate_limit_per_second,
        |t, k| {
            if t.trim() == "-1" {
                Ok(u64::MAX)
            } else {
                rules::size_bytes(t, k)
            }
        },
    )
    .map(|bytes| {
        if bytes == u64::MAX {
            LogRateLimit::Unlimited
        } else {
            LogRateLimit::BytesPerSecond(bytes)
        }
    });
    let secs = |t: &str, k: &str| rules::seconds(t, k).map(u64::from);
    let invocation = check(
        "health-check-invocation-timeout",
        &f.health_check_invocation_timeout,
        secs,
    );
    let interval = check("health-check-interval", &f.health_check_interval, secs);
    let r_invocation = check(
        "readiness-health-check-invocation-timeout",
        &f.readiness_health_check_invocation_timeout,
        secs,
    );
    let r_interval = check(
        "readiness-health-check-interval",
        &f.readiness_health_check_interval,
        secs,
    );
    let timeout = check("timeout", &f.timeout, secs);

    let kind = f.health_check_type.map(kind_of);
    let readiness = f.readiness_health_check_type.map(kind_of);
    let endpoint = health_endpoint(
        "health-check",
        kind,
        f.health_check_http_endpoint.as_deref(),
        node,
        sink,
        false,
    );
    let r_endpoint = health_endpoint(
        "readiness-health-check",
        readiness,
        f.readiness_health_check_http_endpoint.as_deref(),
        node,
        sink,
        true,
    );

    let to_u32 = |n: Option<u64>| n.and_then(|n| u32::try_from(n).ok());
    ProcessSpec {
        instances: to_u32(instances),
        memory_mb,
        disk_mb,
        log_rate_limit,
        command: f.command.clone(),
        health_check_type: kind,
        health_check_endpoint: endpoint,
        health_check_invocation_timeout: to_u32(invocation),
        health_check_interval: to_u32(interval),
        readiness_check_type: readiness,
        readiness_check_endpoint: r_endpoint,
        readiness_check_invocation_timeout: to_u32(r_invocation),
        readiness_check_interval: to_u32(r_interval),
        timeout: to_u32(timeout),
        user: f.user.clone(),
    }
}

fn kind_of(kind: HealthCheckType) -> HealthCheckKind {
    match kind {
        HealthCheckType::Port => HealthCheckKind::Port,
        HealthCheckType::Process | HealthCheckType::None => HealthCheckKind::Process,
        HealthCheckType::Http => HealthCheckKind::Http,
    }
}

/// An `http` liveness check defaults to `/` (as Cloud Foundry does); an `http` readiness check
/// has no default and needs its endpoint. An endpoint needs the `http` type.
fn health_endpoint(
    prefix: &str,
    kind: Option<HealthCheckKind>,
    endpoint: Option<&str>,
    node: &Node,
    sink: &mut Sink<'_>,
    required: bool,
) -> Option<String> {
    let type_key = format!("{prefix}-type");
    let endpoint_key = format!("{prefix}-http-endpoint");
    match (kind, endpoint) {
        (Some(HealthCheckKind::Http), Some(path)) => {
            if !path.starts_with('/') {
                sink.error(
                    mark_at(node, &[&endpoint_key]),
                    format!("`{endpoint_key}: {path}` must be a path starting with `/`"),
                );
            }
            Some(path.to_owned())
        }
        (Some(HealthCheckKind::Http), None) if required => {
            sink.error(
                mark_at(node, &[&type_key]),
                format!("`{type_key}: http` needs `{endpoint_key}`, the path to request"),
            );
            None
        }
        (Some(HealthCheckKind::Http), None) => Some("/".to_owned()),
        (_, Some(_)) => {
            sink.error(
                mark_at(node, &[&endpoint_key]),
                format!("`{endpoint_key}` needs `{type_key}: http`"),
            );
            None
        }
        (_, None) => None,
    }
}

fn env(
    env: Option<&BTreeMap<String, Option<Scalar>>>,
    node: &Node,
    sink: &mut Sink<'_>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let env_node = node.get("env");
    for (name, value) in env.into_iter().flatten() {
        let key_mark = env_node
            .and_then(|n| n.entry(name))
            .map_or(node.mark, |(k, _)| k.mark);
        if let Err(message) = rules::env_name(name) {
            sink.error(key_mark, message);
            continue;
        }
        match value {
            Some(value) => {
                out.insert(name.clone(), value.0.clone());
            }
            None => sink.error(key_mark, format!("environment variable `{name}` has no value; expected a string, number or boolean")),
        }
    }
    out
}

fn routes(wire: &wire::ManifestApp, node: &Node, sink: &mut Sink<'_>) -> Routes {
    let no_route = wire.no_route.unwrap_or(false);
    let random = wire.random_route.unwrap_or(false);
    match (&wire.routes, no_route) {
        (Some(_), true) => {
            sink.error(
                mark_at(node, &["no-route"]),
                "`no-route: true` conflicts with `routes`; expected one of them",
            );
            Routes::None
        }
        (None, true) => Routes::None,
        (Some(list), false) => {
            if random {
                sink.error(
                    mark_at(node, &["random-route"]),
                    "`random-route: true` conflicts with `routes`; expected one of them",
                );
            }
            let mut routes = BTreeMap::new();
            for (i, r) in list.iter().enumerate() {
                let rnode = mark_at(node, &["routes", &i.to_string(), "route"]);
                let Some(text) = r.route.as_deref() else {
                    sink.error(
                        mark_at(node, &["routes", &i.to_string()]),
                        "this route has no `route`; expected `host.domain[/path]`",
                    );
                    continue;
                };
                match rules::route(text) {
                    Ok(url) => {
                        let options = r
                            .options
                            .iter()
                            .flatten()
                            .map(|(k, v)| (k.clone(), v.0.clone()))
                            .collect();
                        if routes
                            .insert(
                                url.clone(),
                                RouteSpec {
                                    url: url.clone(),
                                    protocol: r.protocol,
                                    options,
                                },
                            )
                            .is_some()
                        {
                            sink.error(rnode, format!("route `{url}` is listed twice"));
                        }
                    }
                    Err(message) => sink.error(rnode, message),
                }
            }
            Routes::Listed(routes.into_values().collect())
        }
        (None, false) if random => Routes::Random,
        (None, false) => Routes::Default,
    }
}

fn sidecars(
    wire: &wire::ManifestApp,
    node: &Node,
    processes: &Option<BTreeMap<String, ProcessSpec>>,
    sink: &mut Sink<'_>,
) -> Vec<SidecarSpec> {
    let mut out: Vec<SidecarSpec> = Vec::new();
    for (i, s) in wire.sidecars.iter().flatten().enumerate() {
        let idx = i.to_string();
        let at = |key: &str| mark_at(node, &["sidecars", &idx, key]);
        let Some(name) = s.name.clone().filter(|n| !n.is_empty()) else {
            sink.error(at(""), "this sidecar has no `name`");
            continue;
        };
        if out.iter().any(|o| o.name == name) {
            sink.error(at("name"), format!("sidecar `{name}` is listed twice"));
        }
        let Some(command) = s.command.clone() else {
            sink.error(at(""), format!("sidecar `{name}` needs a `command`"));
            continue;
        };
        let process_types: BTreeSet<String> = s.process_types.iter().flatten().cloned().collect();
        if process_types.is_empty() {
            sink.error(
                at(""),
                format!("sidecar `{name}` needs `process_types`, the processes it runs beside"),
            );
        }
        if let Some(processes) = processes {
            for t in process_types.iter().filter(|t| !processes.contains_key(*t)) {
                sink.error(
                    at("process_types"),
                    format!(
                        "sidecar `{name}` names process type `{t}`, which this app does not have"
                    ),
                );
            }
        }
        let memory_mb = s.memory.as_ref().and_then(|m| {
            rules::size_mb(&m.0, "memory")
                .map_err(|message| sink.error(at("memory"), message))
                .ok()
        });
        out.push(SidecarSpec {
            name,
            process_types,
            command,
            memory_mb,
        });
    }
    out
}

fn services(wire: &wire::ManifestApp, node: &Node, sink: &mut Sink<'_>) -> Vec<ServiceSpec> {
    let mut out: Vec<ServiceSpec> = Vec::new();
    for (i, s) in wire.services.iter().flatten().enumerate() {
        let spec = match s {
            ServiceBinding::Name(name) => ServiceSpec {
                name: name.clone(),
                binding_name: None,
                parameters: BTreeMap::new(),
            },
            ServiceBinding::Detailed(details) => ServiceSpec {
                name: details.name.clone().unwrap_or_default(),
                binding_name: details.binding_name.clone(),
                parameters: details.parameters.clone().unwrap_or_default(),
            },
        };
        let mark = mark_at(node, &["services", &i.to_string()]);
        if spec.name.trim().is_empty() {
            sink.error(mark, "a service binding needs the service instance's name");
        } else if out.iter().any(|o| o.name == spec.name) {
            sink.error(mark, format!("service `{}` is bound twice", spec.name));
        } else {
            out.push(spec);
        }
    }
    out
}

type Metadata = BTreeMap<String, String>;

fn metadata(wire: &wire::ManifestApp, node: &Node, sink: &mut Sink<'_>) -> (Metadata, Metadata) {
    let Some(meta) = &wire.metadata else {
        return Default::default();
    };
    let mut check = |kind: &str,
                     section: &str,
                     entries: &Option<BTreeMap<String, Option<Scalar>>>,
                     value_rule: fn(&str) -> Result<(), String>| {
        let section_node = node.get("metadata").and_then(|m| m.get(section));
        let mut out = BTreeMap::new();
        for (key, value) in entries.iter().flatten() {
            let (key_mark, value_mark) = section_node
                .and_then(|n| n.entry(key))
                .map_or((node.mark, node.mark), |(k, v)| (k.mark, v.mark));
            let value = value.as_ref().map(|v| v.0.clone()).unwrap_or_default();
            match (rules::metadata_key(key, kind), value_rule(&value)) {
                (Err(message), _) => sink.error(key_mark, message),
                (_, Err(message)) => sink.error(value_mark, message),
                (Ok(()), Ok(())) => {
                    out.insert(key.clone(), value);
                }
            }
        }
        out
    };
    let labels = check("label", "labels", &meta.labels, rules::label_value);
    let annotations = check(
        "annotation",
        "annotations",
        &meta.annotations,
        rules::annotation_value,
    );
    (labels, annotations)
}
