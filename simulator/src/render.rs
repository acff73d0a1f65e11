//! The JSON shapes of `cf-api-examples/`: one function per resource, pure over the state and
//! the base URL (links are absolute, as CC's are).

use std::fmt;

use chrono::{DateTime, Utc};
use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};
use serde_json::{Value, json};

use crate::clock::cf_time;
use crate::model::{
    App, Build, Deployment, Droplet, FeatureFlag, Job, Org, Package, Process, Revision, Space,
};
use crate::state::State;

fn href(base: &str, path: &str) -> Value {
    json!({"href": format!("{base}{path}")})
}

fn ts(t: DateTime<Utc>) -> Value {
    Value::String(cf_time(t))
}

/// GET / (the global root).
pub fn root(base: &str, stackato: bool) -> Value {
    let v2 = if stackato {
        json!({"href": format!("{base}/v2"), "meta": {"version": "2.155.0"}})
    } else {
        Value::Null
    };
    json!({"links": {
        "self": {"href": base},
        "cloud_controller_v2": v2,
        "cloud_controller_v3": {"href": format!("{base}/v3"), "meta": {"version": "3.90.0"}},
        "network_policy_v0": href(base, "/networking/v0/external"),
        "network_policy_v1": href(base, "/networking/v1/external"),
        "login": {"href": format!("{base}/uaa")},
        "uaa": {"href": format!("{base}/uaa")},
        "credhub": null,
        "routing": href(base, "/routing"),
        "logging": {"href": base.replacen("http", "ws", 1) + "/logging"},
        "log_cache": href(base, "/log-cache"),
        "log_stream": href(base, "/log-stream"),
        "app_ssh": {"href": "127.0.0.1:2222", "meta": {"host_key_fingerprint": "sim-host-key", "oauth_client": "ssh-proxy"}},
    }})
}

const V3_LINKS: &[&str] = &[
    "app_usage_events",
    "apps",
    "audit_events",
    "buildpacks",
    "builds",
    "deployments",
    "domains",
    "droplets",
    "environment_variable_groups",
    "feature_flags",
    "info",
    "isolation_segments",
    "organizations",
    "organization_quotas",
    "packages",
    "processes",
    "resource_matches",
    "roles",
    "routes",
    "security_groups",
    "service_brokers",
    "service_instances",
    "service_offerings",
    "service_plans",
    "service_usage_events",
    "spaces",
    "space_quotas",
    "stacks",
    "tasks",
    "users",
];

/// GET /v3.
pub fn root_v3(base: &str) -> Value {
    let mut links = serde_json::Map::new();
    links.insert("self".into(), href(base, "/v3"));
    for name in V3_LINKS {
        let mut link = href(base, &format!("/v3/{name}"));
        if *name == "service_instances"
            && let Some(o) = link.as_object_mut()
        {
            o.insert("experimental".into(), Value::Bool(true));
        }
        links.insert((*name).to_owned(), link);
    }
    json!({"links": links})
}

/// GET /v3/info.
pub fn info(base: &str, rate_limit: Option<(u32, u64)>) -> Value {
    let rate_limits = match rate_limit {
        Some((limit, minutes)) => {
            json!({"enabled": true, "general_limit": limit, "reset_interval_in_minutes": minutes})
        }
        None => json!({"enabled": false, "general_limit": 2000, "reset_interval_in_minutes": 30}),
    };
    json!({
        "build": "driftless-simulator",
        "cli_version": {"minimum": "8.0.0", "recommended": "latest"},
        "custom": {"simulator": "driftless"},
        "description": "A simulated Cloud Controller (driftless)",
        "name": "driftless-simulator",
        "version": 1,
        "osbapi_version": "2.15",
        "rate_limits": rate_limits,
        "links": {"self": href(base, "/v3/info"), "support": {"href": "https://driftless.dev"}},
    })
}

pub fn org(base: &str, o: &Org) -> Value {
    let g = &o.guid;
    let quota = "default-org-quota";
    json!({
        "guid": g,
        "created_at": ts(o.created_at),
        "updated_at": ts(o.updated_at),
        "name": o.name,
        "suspended": false,
        "relationships": {"quota": {"data": {"guid": quota}}},
        "links": {
            "self": href(base, &format!("/v3/organizations/{g}")),
            "domains": href(base, &format!("/v3/organizations/{g}/domains")),
            "default_domain": href(base, &format!("/v3/organizations/{g}/domains/default")),
            "quota": href(base, &format!("/v3/organization_quotas/{quota}")),
        },
        "metadata": o.metadata.to_json(),
    })
}

pub fn space(base: &str, s: &Space) -> Value {
    let g = &s.guid;
    json!({
        "guid": g,
        "created_at": ts(s.created_at),
        "updated_at": ts(s.updated_at),
        "name": s.name,
        "suspended": false,
        "relationships": {"organization": {"data": {"guid": s.org}}, "quota": {"data": null}},
        "links": {
            "self": href(base, &format!("/v3/spaces/{g}")),
            "features": href(base, &format!("/v3/spaces/{g}/features")),
            "organization": href(base, &format!("/v3/organizations/{}", s.org)),
            "apply_manifest": {"href": format!("{base}/v3/spaces/{g}/actions/apply_manifest"), "method": "POST"},
        },
        "metadata": s.metadata.to_json(),
    })
}

/// An `href` built from parts at serialization time, so large lists allocate no link strings.
#[derive(Debug, Clone, Copy)]
pub struct Href<'a> {
    parts: [&'a str; 4],
    method: Option<&'static str>,
}

impl<'a> Href<'a> {
    fn new(parts: [&'a str; 4]) -> Self {
        Self {
            parts,
            method: None,
        }
    }

    fn post(parts: [&'a str; 4]) -> Self {
        Self {
            parts,
            method: Some("POST"),
        }
    }
}

struct Concat<'a>([&'a str; 4]);

impl fmt::Display for Concat<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|p| f.write_str(p))
    }
}

impl Serialize for Href<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut st = serializer.serialize_struct("Href", 1 + usize::from(self.method.is_some()))?;
        st.serialize_field("href", &CollectStr(Concat(self.parts)))?;
        if let Some(m) = self.method {
            st.serialize_field("method", m)?;
        }
        st.end()
    }
}

struct CollectStr<T>(T);

impl<T: fmt::Display> Serialize for CollectStr<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

/// A CF timestamp, formatted while serializing.
#[derive(Debug, Clone, Copy)]
pub struct Ts(pub DateTime<Utc>);

impl Serialize for Ts {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0.format("%Y-%m-%dT%H:%M:%SZ"))
    }
}

#[derive(Debug, Serialize)]
struct GuidData<'a> {
    guid: &'a str,
}

#[derive(Debug, Serialize)]
struct ToOne<'a> {
    data: Option<GuidData<'a>>,
}

#[derive(Debug, Serialize)]
struct AppRelationships<'a> {
    space: ToOne<'a>,
    current_droplet: ToOne<'a>,
}

#[derive(Debug, Serialize)]
struct Empty {}

#[derive(Debug, Serialize)]
#[serde(untagged)]
enum LifecycleData<'a> {
    Empty(Empty),
    Value(&'a Value),
}

#[derive(Debug, Serialize)]
struct LifecycleView<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    data: LifecycleData<'a>,
}

#[derive(Debug, Serialize)]
struct AppLinks<'a> {
    #[serde(rename = "self")]
    self_: Href<'a>,
    space: Href<'a>,
    processes: Href<'a>,
    packages: Href<'a>,
    environment_variables: Href<'a>,
    current_droplet: Href<'a>,
    droplets: Href<'a>,
    tasks: Href<'a>,
    start: Href<'a>,
    stop: Href<'a>,
    revisions: Href<'a>,
    deployed_revisions: Href<'a>,
    features: Href<'a>,
}

/// The v3 app object, serialized straight to the response (lists of 5000 stay fast).
#[derive(Debug, Serialize)]
pub struct AppView<'a> {
    guid: &'a str,
    name: &'a str,
    state: &'static str,
    created_at: Ts,
    updated_at: Ts,
    lifecycle: LifecycleView<'a>,
    relationships: AppRelationships<'a>,
    links: AppLinks<'a>,
    metadata: &'a crate::labels::Metadata,
}

/// The app object, borrowing from the state.
pub fn app_view<'a>(base: &'a str, a: &'a App) -> AppView<'a> {
    let g = a.guid.as_str();
    let p = |suffix: &'a str| Href::new([base, "/v3/apps/", g, suffix]);
    let lifecycle = match &a.lifecycle {
        crate::model::Lifecycle::Docker => LifecycleView {
            kind: "docker",
            data: LifecycleData::Empty(Empty {}),
        },
        crate::model::Lifecycle::Buildpack(data) => LifecycleView {
            kind: "buildpack",
            data: LifecycleData::Value(data),
        },
    };
    AppView {
        guid: g,
        name: &a.name,
        state: a.state.as_str(),
        created_at: Ts(a.created_at),
        updated_at: Ts(a.updated_at),
        lifecycle,
        relationships: AppRelationships {
            space: ToOne {
                data: Some(GuidData {
                    guid: a.space.as_str(),
                }),
            },
            current_droplet: ToOne {
                data: a
                    .current_droplet
                    .as_ref()
                    .map(|d| GuidData { guid: d.as_str() }),
            },
        },
        links: AppLinks {
            self_: p(""),
            space: Href::new([base, "/v3/spaces/", a.space.as_str(), ""]),
            processes: p("/processes"),
            packages: p("/packages"),
            environment_variables: p("/environment_variables"),
            current_droplet: p("/droplets/current"),
            droplets: p("/droplets"),
            tasks: p("/tasks"),
            start: Href::post([base, "/v3/apps/", g, "/actions/start"]),
            stop: Href::post([base, "/v3/apps/", g, "/actions/stop"]),
            revisions: p("/revisions"),
            deployed_revisions: p("/revisions/deployed"),
            features: p("/features"),
        },
        metadata: &a.metadata,
    }
}

pub fn app(base: &str, a: &App) -> Value {
    serde_json::to_value(app_view(base, a)).unwrap_or_default()
}

pub fn env_vars(base: &str, a: &App) -> Value {
    json!({
        "var": a.env,
        "links": {
            "self": href(base, &format!("/v3/apps/{}/environment_variables", a.guid)),
            "app": href(base, &format!("/v3/apps/{}", a.guid)),
        },
    })
}

pub fn app_env(state: &State, a: &App) -> Value {
    let space = state.spaces.get(&a.space);
    json!({
        "staging_env_json": {},
        "running_env_json": {},
        "environment_variables": a.env,
        "system_env_json": {"VCAP_SERVICES": {}},
        "application_env_json": {
            "VCAP_APPLICATION": {
                "limits": {"fds": 16384},
                "application_name": a.name,
                "application_uris": [],
                "name": a.name,
                "space_name": space.map(|s| s.name.as_str()).unwrap_or_default(),
                "space_id": a.space,
                "uris": [],
                "users": null,
            }
        },
    })
}

/// A health check's `{type, data}`; which `data` keys appear depends on the type, on liveness
/// versus readiness and on list versus single rendering, as in the CC examples.
#[derive(Debug, Clone, Copy)]
struct HealthCheckView<'a> {
    hc: &'a crate::model::HealthCheck,
    readiness: bool,
    in_list: bool,
}

#[derive(Debug, Clone, Copy)]
struct HealthCheckData<'a>(HealthCheckView<'a>);

impl Serialize for HealthCheckData<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let HealthCheckView {
            hc,
            readiness,
            in_list,
        } = self.0;
        let mut map = serializer.serialize_map(None)?;
        if !readiness && hc.kind != "process" {
            map.serialize_entry("timeout", &hc.timeout)?;
        }
        if in_list || readiness || hc.kind != "port" {
            map.serialize_entry("invocation_timeout", &hc.invocation_timeout)?;
        }
        if in_list {
            map.serialize_entry("interval", &hc.interval)?;
        }
        if hc.kind == "http" {
            map.serialize_entry("endpoint", &hc.endpoint)?;
        }
        map.end()
    }
}

impl Serialize for HealthCheckView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut st = serializer.serialize_struct("HealthCheck", 2)?;
        st.serialize_field("type", &self.hc.kind)?;
        st.serialize_field("data", &HealthCheckData(*self))?;
        st.end()
    }
}

#[derive(Debug, Serialize)]
struct ProcessRelationships<'a> {
    app: ToOne<'a>,
    revision: Option<ToOne<'a>>,
}

#[derive(Debug, Serialize)]
struct ProcessLinks<'a> {
    #[serde(rename = "self")]
    self_: Href<'a>,
    scale: Href<'a>,
    app: Href<'a>,
    space: Href<'a>,
    stats: Href<'a>,
    process_instances: Href<'a>,
}

/// The v3 process object, serialized straight to the response.
#[derive(Debug, Serialize)]
pub struct ProcessView<'a> {
    guid: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    command: Option<&'a str>,
    user: &'static str,
    instances: u32,
    memory_in_mb: u64,
    disk_in_mb: u64,
    log_rate_limit_in_bytes_per_second: i64,
    health_check: HealthCheckView<'a>,
    readiness_health_check: HealthCheckView<'a>,
    relationships: ProcessRelationships<'a>,
    metadata: &'a crate::labels::Metadata,
    created_at: Ts,
    updated_at: Ts,
    version: &'a str,
    links: ProcessLinks<'a>,
}

/// A process; in lists the command reads `[PRIVATE DATA HIDDEN IN LISTS]`.
pub fn process_view<'a>(
    base: &'a str,
    state: &'a State,
    p: &'a Process,
    in_list: bool,
) -> ProcessView<'a> {
    let g = p.guid.as_str();
    let space = state.apps.get(&p.app).map_or("", |a| a.space.as_str());
    let command = if in_list {
        Some("[PRIVATE DATA HIDDEN IN LISTS]")
    } else {
        p.command.as_deref()
    };
    ProcessView {
        guid: g,
        kind: &p.kind,
        command,
        user: "vcap",
        instances: p.instances,
        memory_in_mb: p.memory_in_mb,
        disk_in_mb: p.disk_in_mb,
        log_rate_limit_in_bytes_per_second: p.log_rate_limit,
        health_check: HealthCheckView {
            hc: &p.health_check,
            readiness: false,
            in_list,
        },
        readiness_health_check: HealthCheckView {
            hc: &p.readiness,
            readiness: true,
            in_list,
        },
        relationships: ProcessRelationships {
            app: ToOne {
                data: Some(GuidData {
                    guid: p.app.as_str(),
                }),
            },
            revision: p.revision.as_ref().map(|r| ToOne {
                data: Some(GuidData { guid: r.as_str() }),
            }),
        },
        metadata: &p.metadata,
        created_at: Ts(p.created_at),
        updated_at: Ts(p.updated_at),
        version: &p.version,
        links: ProcessLinks {
            self_: Href::new([base, "/v3/processes/", g, ""]),
            scale: Href::post([base, "/v3/processes/", g, "/actions/scale"]),
            app: Href::new([base, "/v3/apps/", p.app.as_str(), ""]),
            space: Href::new([base, "/v3/spaces/", space, ""]),
            stats: Href::new([base, "/v3/processes/", g, "/stats"]),
            process_instances: Href::new([base, "/v3/processes/", g, "/process_instances"]),
        },
    }
}

/// A process as a JSON value (single-resource endpoints).
pub fn process(base: &str, state: &State, p: &Process, in_list: bool) -> Value {
    serde_json::to_value(process_view(base, state, p, in_list)).unwrap_or_default()
}

/// The per-instance state of a process: DOWN when stopped, CRASHED from `crashed_from` on.
pub fn instance_state(state: &State, p: &Process, index: u32, now: DateTime<Utc>) -> &'static str {
    let started = state
        .apps
        .get(&p.app)
        .is_some_and(|a| a.state == crate::model::AppState::Started);
    if !started {
        "DOWN"
    } else if p.crashed_from.is_some_and(|from| index >= from) {
        "CRASHED"
    } else if now < crate::clock::after(p.started_at, state.timing.start) {
        "STARTING"
    } else {
        "RUNNING"
    }
}

/// GET /v3/processes/:guid/stats.
pub fn process_stats(state: &State, p: &Process, now: DateTime<Utc>) -> Value {
    let uptime = (now - p.started_at).num_seconds().max(0);
    let resources: Vec<Value> = (0..p.instances)
        .map(|index| {
            let st = instance_state(state, p, index, now);
            let running = st == "RUNNING";
            let details = if st == "CRASHED" { json!(p.crash_reason) } else { Value::Null };
            json!({
                "type": p.kind,
                "index": index,
                "instance_guid": format!("{}-{index:04}", &p.version[..p.version.len().min(23)]),
                "state": st,
                "routable": running,
                "usage": if running {
                    json!({"time": cf_time(now), "cpu": 0.001, "cpu_entitlement": 0.01, "mem": 19_177_472, "disk": 69_705_728, "log_rate": 0})
                } else {
                    json!({"time": cf_time(now), "cpu": 0, "cpu_entitlement": 0, "mem": 0, "disk": 0, "log_rate": 0})
                },
                "host": if running { "10.244.16.10" } else { "" },
                "instance_internal_ip": if running { "10.255.93.167" } else { "" },
                "instance_ports": if running { json!([{"external": 61000 + index, "internal": 8080, "external_tls_proxy_port": 61100 + index, "internal_tls_proxy_port": 61001}]) } else { Value::Null },
                "uptime": if running { uptime } else { 0 },
                "mem_quota": p.memory_in_mb.saturating_mul(1024 * 1024),
                "disk_quota": p.disk_in_mb.saturating_mul(1024 * 1024),
                "fds_quota": 16384,
                "isolation_segment": null,
                "log_rate_limit": null,
                "details": details,
            })
        })
        .collect();
    json!({"resources": resources})
}

/// GET /v3/processes/:guid/process_instances.
pub fn process_instances(base: &str, state: &State, p: &Process, now: DateTime<Utc>) -> Value {
    let since = p.started_at.timestamp();
    let resources: Vec<Value> = (0..p.instances)
        .map(|index| json!({"index": index, "state": instance_state(state, p, index, now), "since": since}))
        .collect();
    json!({
        "resources": resources,
        "links": {
            "self": href(base, &format!("/v3/processes/{}/process_instances", p.guid)),
            "process": href(base, &format!("/v3/processes/{}", p.guid)),
        },
    })
}

/// A docker package; the password reads `***` whenever a username is set.
pub fn package(base: &str, p: &Package) -> Value {
    let g = &p.guid;
    let password = p.username.as_ref().map(|_| "***");
    json!({
        "guid": g,
        "type": "docker",
        "data": {"image": p.image, "username": p.username, "password": password},
        "state": "READY",
        "created_at": ts(p.created_at),
        "updated_at": ts(p.updated_at),
        "relationships": {"app": {"data": {"guid": p.app}}},
        "links": {
            "self": href(base, &format!("/v3/packages/{g}")),
            "app": href(base, &format!("/v3/apps/{}", p.app)),
        },
        "metadata": p.metadata.to_json(),
    })
}

pub fn build(base: &str, b: &Build) -> Value {
    let g = &b.guid;
    let mut links = json!({
        "self": href(base, &format!("/v3/builds/{g}")),
        "app": href(base, &format!("/v3/apps/{}", b.app)),
    });
    if let (Some(d), Some(obj)) = (&b.droplet, links.as_object_mut()) {
        obj.insert("droplet".into(), href(base, &format!("/v3/droplets/{d}")));
    }
    json!({
        "guid": g,
        "created_at": ts(b.created_at),
        "updated_at": ts(b.updated_at),
        "created_by": {"guid": b.created_by.guid, "name": b.created_by.name, "email": b.created_by.email},
        "state": b.state.as_str(),
        "staging_memory_in_mb": 1024,
        "staging_disk_in_mb": 4096,
        "staging_log_rate_limit_bytes_per_second": -1,
        "error": b.error,
        "lifecycle": {"type": "docker", "data": {}},
        "package": {"guid": b.package},
        "droplet": b.droplet.as_ref().map(|d| json!({"guid": d})),
        "relationships": {"app": {"data": {"guid": b.app}}},
        "metadata": b.metadata.to_json(),
        "links": links,
    })
}

#[derive(Debug, Serialize)]
struct ProcessTypes {
    web: &'static str,
}

#[derive(Debug, Serialize)]
struct DropletRelationships<'a> {
    app: ToOne<'a>,
}

#[derive(Debug, Serialize)]
struct DropletLinks<'a> {
    #[serde(rename = "self")]
    self_: Href<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    package: Option<Href<'a>>,
    app: Href<'a>,
    assign_current_droplet: Href<'a>,
}

/// A docker droplet, serialized straight to the response.
#[derive(Debug, Serialize)]
pub struct DropletView<'a> {
    guid: &'a str,
    state: &'static str,
    error: Option<&'a str>,
    lifecycle: LifecycleView<'a>,
    execution_metadata: &'static str,
    process_types: ProcessTypes,
    checksum: Option<&'a str>,
    buildpacks: Option<&'a str>,
    stack: Option<&'a str>,
    image: &'a str,
    created_at: Ts,
    updated_at: Ts,
    relationships: DropletRelationships<'a>,
    links: DropletLinks<'a>,
    metadata: &'a crate::labels::Metadata,
}

/// A docker droplet: `image` set; `checksum`, `buildpacks` and `stack` null; no download link.
pub fn droplet_view<'a>(base: &'a str, d: &'a Droplet) -> DropletView<'a> {
    let g = d.guid.as_str();
    let app = d.app.as_str();
    DropletView {
        guid: g,
        state: "STAGED",
        error: None,
        lifecycle: LifecycleView {
            kind: "docker",
            data: LifecycleData::Empty(Empty {}),
        },
        execution_metadata: "",
        process_types: ProcessTypes { web: "" },
        checksum: None,
        buildpacks: None,
        stack: None,
        image: &d.image,
        created_at: Ts(d.created_at),
        updated_at: Ts(d.updated_at),
        relationships: DropletRelationships {
            app: ToOne {
                data: Some(GuidData { guid: app }),
            },
        },
        links: DropletLinks {
            self_: Href::new([base, "/v3/droplets/", g, ""]),
            package: d
                .package
                .as_ref()
                .map(|p| Href::new([base, "/v3/packages/", p.as_str(), ""])),
            app: Href::new([base, "/v3/apps/", app, ""]),
            assign_current_droplet: Href {
                parts: [base, "/v3/apps/", app, "/relationships/current_droplet"],
                method: Some("PATCH"),
            },
        },
        metadata: &d.metadata,
    }
}

/// A droplet as a JSON value (single-resource endpoints).
pub fn droplet(base: &str, d: &Droplet) -> Value {
    serde_json::to_value(droplet_view(base, d)).unwrap_or_default()
}

pub fn deployment(base: &str, state: &State, d: &Deployment) -> Value {
    let g = &d.guid;
    let mut status = json!({
        "value": d.status.value(),
        "reason": d.status.reason(),
        "details": {
            "last_successful_healthcheck": cf_time(d.last_healthcheck),
            "last_status_change": cf_time(d.last_status_change),
        },
    });
    let (memory, disk, log_rate) = state
        .processes
        .get(&d.new_process)
        .map_or((1024, 1024, -1), |p| {
            (p.memory_in_mb, p.disk_in_mb, p.log_rate_limit)
        });
    let mut options = json!({
        "max_in_flight": d.max_in_flight,
        "web_instances": d.web_instances,
        "memory_in_mb": memory,
        "disk_in_mb": disk,
        "log_rate_limit_in_bytes_per_second": log_rate,
    });
    if d.strategy == crate::model::Strategy::Canary {
        if let Some(s) = status.as_object_mut() {
            s.insert(
                "canary".into(),
                json!({"steps": {"current": d.canary_step, "total": d.canary_steps.len()}}),
            );
        }
        if let Some(o) = options.as_object_mut() {
            let steps: Vec<Value> = d
                .canary_steps
                .iter()
                .map(|w| json!({"instance_weight": w}))
                .collect();
            o.insert("canary".into(), json!({"steps": steps}));
        }
    }
    let links = json!({
        "self": href(base, &format!("/v3/deployments/{g}")),
        "app": href(base, &format!("/v3/apps/{}", d.app)),
        "cancel": {"href": format!("{base}/v3/deployments/{g}/actions/cancel"), "method": "POST"},
        "continue": {"href": format!("{base}/v3/deployments/{g}/actions/continue"), "method": "POST"},
    });
    json!({
        "guid": g,
        "status": status,
        "strategy": d.strategy.as_str(),
        "options": options,
        "droplet": {"guid": d.droplet},
        "previous_droplet": {"guid": d.previous_droplet},
        "new_processes": [{"guid": d.new_process, "type": "web"}],
        "revision": d.revision.as_ref().map(|(g, v)| json!({"guid": g, "version": v})),
        "created_at": ts(d.created_at),
        "updated_at": ts(d.updated_at),
        "metadata": d.metadata.to_json(),
        "relationships": {"app": {"data": {"guid": d.app}}},
        "links": links,
    })
}

pub fn revision(base: &str, r: &Revision) -> Value {
    let g = &r.guid;
    let processes: serde_json::Map<String, Value> = r
        .commands
        .iter()
        .map(|(k, c)| (k.clone(), json!({"command": c})))
        .collect();
    json!({
        "guid": g,
        "version": r.version,
        "droplet": {"guid": r.droplet},
        "processes": processes,
        "sidecars": [],
        "description": r.description,
        "deployable": true,
        "relationships": {"app": {"data": {"guid": r.app}}},
        "created_at": ts(r.created_at),
        "updated_at": ts(r.updated_at),
        "metadata": r.metadata.to_json(),
        "links": {
            "self": href(base, &format!("/v3/revisions/{g}")),
            "app": href(base, &format!("/v3/apps/{}", r.app)),
            "environment_variables": href(base, &format!("/v3/revisions/{g}/environment_variables")),
        },
    })
}

pub fn job(base: &str, j: &Job) -> Value {
    json!({
        "guid": j.guid,
        "created_at": ts(j.created_at),
        "updated_at": ts(j.updated_at),
        "operation": j.operation,
        "state": j.state.as_str(),
        "links": {"self": href(base, &format!("/v3/jobs/{}", j.guid))},
        "errors": j.fails_with.iter().map(|detail| json!({
            "code": 10008,
            "title": "CF-UnprocessableEntity",
            "detail": detail,
        })).collect::<Vec<_>>(),
        "warnings": [],
    })
}

pub fn feature_flag(base: &str, f: &FeatureFlag) -> Value {
    json!({
        "name": f.name,
        "enabled": f.enabled,
        "updated_at": f.updated_at.map(cf_time),
        "custom_error_message": f.custom_error_message,
        "links": {"self": href(base, &format!("/v3/feature_flags/{}", f.name))},
    })
}

pub fn current_droplet_relationship(base: &str, a: &App) -> Value {
    json!({
        "data": a.current_droplet.as_ref().map(|d| json!({"guid": d})),
        "links": {
            "self": href(base, &format!("/v3/apps/{}/relationships/current_droplet", a.guid)),
            "related": href(base, &format!("/v3/apps/{}/droplets/current", a.guid)),
        },
    })
}

pub fn domain(base: &str, d: &crate::model::Domain) -> Value {
    let g = &d.guid;
    // Only shared domains are simulated: no organization, no shared_organizations link.
    json!({
        "guid": g,
        "created_at": ts(d.created_at),
        "updated_at": ts(d.updated_at),
        "name": d.name,
        "internal": false,
        "router_group": null,
        "supported_protocols": ["http"],
        "enforce_route_policies": false,
        "route_policies_scope": null,
        "metadata": d.metadata.to_json(),
        "relationships": {"organization": {"data": null}, "shared_organizations": {"data": []}},
        "links": {
            "self": href(base, &format!("/v3/domains/{g}")),
            "route_reservations": href(base, &format!("/v3/domains/{g}/route_reservations")),
        },
    })
}

pub fn destination(d: &crate::model::Destination) -> Value {
    json!({
        "guid": d.guid,
        "app": {"guid": d.app, "process": {"type": d.process_type}},
        "weight": d.weight,
        "port": d.port,
        "protocol": d.protocol,
        "created_at": ts(d.created_at),
        "updated_at": ts(d.updated_at),
    })
}

pub fn destinations(base: &str, r: &crate::model::Route) -> Value {
    json!({
        "destinations": r.destinations.iter().map(destination).collect::<Vec<_>>(),
        "links": {
            "self": href(base, &format!("/v3/routes/{}/destinations", r.guid)),
            "route": href(base, &format!("/v3/routes/{}", r.guid)),
        },
    })
}

pub fn route(base: &str, state: &State, r: &crate::model::Route) -> Value {
    let g = &r.guid;
    let domain = state
        .domains
        .get(&r.domain)
        .map(|d| d.name.as_str())
        .unwrap_or_default();
    let url = if r.host.is_empty() {
        format!("{domain}{}", r.path)
    } else {
        format!("{}.{domain}{}", r.host, r.path)
    };
    let options = match &r.loadbalancing {
        Some(lb) => json!({"loadbalancing": lb}),
        None => json!({}),
    };
    json!({
        "guid": g,
        "protocol": "http",
        "created_at": ts(r.created_at),
        "updated_at": ts(r.updated_at),
        "host": r.host,
        "path": r.path,
        "url": url,
        "destinations": r.destinations.iter().map(destination).collect::<Vec<_>>(),
        "options": options,
        "metadata": r.metadata.to_json(),
        "relationships": {"space": {"data": {"guid": r.space}}, "domain": {"data": {"guid": r.domain}}},
        "links": {
            "self": href(base, &format!("/v3/routes/{g}")),
            "space": href(base, &format!("/v3/spaces/{}", r.space)),
            "domain": href(base, &format!("/v3/domains/{}", r.domain)),
            "destinations": href(base, &format!("/v3/routes/{g}/destinations")),
        },
    })
}
