//! The Stackato (CF v2) dialect: `/v2/info`, `{metadata, entity}` envelopes, `docker_image`
//! apps with inline credentials (`user:pass@registry/repo:tag`, never echoed back), `PUT
//! {state: STARTED}` that stages then starts, v2 paging (`results-per-page` at most 100,
//! relative `next_url`), `q=` filters and the v2 error shape. It reads and writes the same
//! state as v3: a v2 app is a v3 docker app with a web process and docker packages.

use std::collections::BTreeMap;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Shared, parse_body, require_admin};
use crate::clock::cf_time;
use crate::error::{ApiError, V2Error};
use crate::ids::{AppGuid, SpaceGuid};
use crate::labels::Metadata;
use crate::model::{Actor, App, AppState, BuildState, Lifecycle, StagingOutcome};
use crate::state::{NewApp, Scale, State as SimState};

type V2Result = Result<Response, V2Error>;

/// The authenticated caller, with auth failures in the v2 error shape.
#[derive(Debug)]
struct V2Actor(Actor);

impl axum::extract::FromRequestParts<Shared> for V2Actor {
    type Rejection = V2Error;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        shared: &Shared,
    ) -> Result<Self, Self::Rejection> {
        Actor::from_request_parts(parts, shared)
            .await
            .map(V2Actor)
            .map_err(V2Error)
    }
}

const MAX_PER_PAGE: usize = 100;
const STACK_GUID: &str = "00000000-0000-4000-8000-0000000000aa";

/// A v2 `q` filter: `field:value` or `field IN a,b`.
#[derive(Debug, Clone)]
struct Filter {
    field: String,
    values: Vec<String>,
}

struct V2Query {
    filters: Vec<Filter>,
    page: usize,
    per_page: usize,
    descending: bool,
    raw_q: Vec<String>,
}

fn parse_query(raw: Option<&str>) -> Result<V2Query, ApiError> {
    let mut q = V2Query {
        filters: Vec::new(),
        page: 1,
        per_page: 50,
        descending: false,
        raw_q: Vec::new(),
    };
    for (k, v) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        match k.as_ref() {
            "q" => {
                let filter = if let Some((f, vals)) = v.split_once(" IN ") {
                    Filter {
                        field: f.trim().to_owned(),
                        values: vals.split(',').map(str::to_owned).collect(),
                    }
                } else if let Some((f, val)) = v.split_once(':') {
                    Filter {
                        field: f.to_owned(),
                        values: vec![val.to_owned()],
                    }
                } else {
                    return Err(ApiError::bad_query(format!("q: {v}")));
                };
                q.raw_q.push(v.into_owned());
                q.filters.push(filter);
            }
            "page" => {
                q.page = v
                    .parse()
                    .ok()
                    .filter(|p| *p >= 1)
                    .ok_or_else(|| ApiError::bad_query("page must be greater than 0"))?
            }
            "results-per-page" => {
                q.per_page = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_PER_PAGE).contains(n))
                    .ok_or_else(|| {
                        ApiError::bad_query(format!(
                            "results_per_page must be between 1 and {MAX_PER_PAGE}"
                        ))
                    })?;
            }
            "order-direction" => q.descending = v == "desc",
            // v2 ignores what it does not know (inline-relations-depth and friends).
            _ => {}
        }
    }
    Ok(q)
}

impl V2Query {
    fn matches(&self, fields: &dyn Fn(&str) -> Option<String>) -> Result<bool, ApiError> {
        for f in &self.filters {
            let Some(actual) = fields(&f.field) else {
                return Err(ApiError::bad_query(format!(
                    "q: unknown filter field '{}'",
                    f.field
                )));
            };
            if !f.values.contains(&actual) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn url(&self, path: &str, page: usize) -> String {
        let mut ser = form_urlencoded::Serializer::new(String::new());
        ser.append_pair(
            "order-direction",
            if self.descending { "desc" } else { "asc" },
        );
        ser.append_pair("page", &page.to_string());
        for q in &self.raw_q {
            ser.append_pair("q", q);
        }
        ser.append_pair("results-per-page", &self.per_page.to_string());
        format!("{path}?{}", ser.finish())
    }

    fn page(&self, path: &str, mut items: Vec<Value>) -> Value {
        if self.descending {
            items.reverse();
        }
        let total = items.len();
        let pages = total.div_ceil(self.per_page).max(1);
        let resources: Vec<Value> = items
            .into_iter()
            .skip((self.page - 1).saturating_mul(self.per_page))
            .take(self.per_page)
            .collect();
        json!({
            "total_results": total,
            "total_pages": pages,
            "prev_url": if self.page > 1 { Value::String(self.url(path, self.page - 1)) } else { Value::Null },
            "next_url": if self.page < pages { Value::String(self.url(path, self.page + 1)) } else { Value::Null },
            "resources": resources,
        })
    }
}

/// Splits `user:pass@registry/repo:tag` into the image and its credentials.
pub(crate) fn split_inline_credentials(image: &str) -> (String, Option<(String, String)>) {
    if let Some((creds, rest)) = image.split_once('@')
        && let Some((user, pass)) = creds.split_once(':')
        && !creds.contains('/')
        && !rest.starts_with("sha256:")
    {
        return (rest.to_owned(), Some((user.to_owned(), pass.to_owned())));
    }
    (image.to_owned(), None)
}

/// `repo` becomes `repo:latest`, as CC normalises it.
fn normalise_image(image: &str) -> String {
    let last = image.rsplit('/').next().unwrap_or(image);
    if last.contains(':') || last.contains('@') {
        image.to_owned()
    } else {
        format!("{image}:latest")
    }
}

fn envelope(guid: &str, kind: &str, created: &str, updated: &str, entity: Value) -> Value {
    json!({
        "metadata": {"guid": guid, "url": format!("/v2/{kind}/{guid}"), "created_at": created, "updated_at": updated},
        "entity": entity,
    })
}

fn app_json(st: &SimState, app: &App) -> Value {
    let g = &app.guid;
    let web = st.newest_process(g, "web");
    let mut packages: Vec<_> = st.packages.values().filter(|p| &p.app == g).collect();
    packages.sort_by_key(|p| p.seq);
    let package = packages.last();
    let mut builds: Vec<_> = st.builds.values().filter(|b| &b.app == g).collect();
    builds.sort_by_key(|b| b.seq);
    let build = builds.last();
    // package_state describes the newest package: STAGED once it has a droplet, FAILED if its
    // last build failed, PENDING otherwise (a new docker_image needs a restage).
    let newest_build = package.and_then(|p| builds.iter().rev().find(|b| b.package == p.guid));
    let staged = package.is_some_and(|p| {
        st.droplets
            .values()
            .any(|d| d.app == *g && d.package.as_ref() == Some(&p.guid))
    });
    let package_state = match (staged, newest_build.map(|b| b.state)) {
        (true, _) => "STAGED",
        (false, Some(BuildState::Failed)) => "FAILED",
        _ => "PENDING",
    };
    let desired_started = app.state == AppState::Started
        || build.is_some_and(|b| b.start_when_staged && b.state != BuildState::Staged);
    let failed = newest_build.filter(|b| b.state == BuildState::Failed && !staged);
    let creds = package.map_or(
        json!({"username": null, "password": null}),
        |p| json!({"username": p.username, "password": p.username.as_ref().map(|_| "***")}),
    );
    let env = if app.env.is_empty() {
        json!({})
    } else {
        json!(app.env)
    };
    envelope(
        g.as_str(),
        "apps",
        &cf_time(app.created_at),
        &cf_time(app.updated_at),
        json!({
            "name": app.name,
            "production": false,
            "space_guid": app.space,
            "stack_guid": STACK_GUID,
            "buildpack": null,
            "detected_buildpack": null,
            "detected_buildpack_guid": null,
            "environment_json": env,
            "memory": web.map_or(1024, |p| p.memory_in_mb),
            "instances": web.map_or(1, |p| p.instances),
            "disk_quota": web.map_or(1024, |p| p.disk_in_mb),
            "state": if desired_started { "STARTED" } else { "STOPPED" },
            "version": web.map_or_else(String::new, |p| p.version.clone()),
            "command": web.and_then(|p| p.command.clone()),
            "console": false,
            "debug": null,
            "staging_task_id": build.map(|b| b.guid.to_string()),
            "package_state": package_state,
            "health_check_http_endpoint": web.and_then(|p| p.health_check.endpoint.clone()).unwrap_or_default(),
            "health_check_type": web.map_or("port".to_owned(), |p| p.health_check.kind.clone()),
            "health_check_timeout": web.and_then(|p| p.health_check.timeout),
            "staging_failed_reason": failed.map(|_| "StagingError"),
            "staging_failed_description": failed.and_then(|b| b.error.clone()),
            "diego": true,
            "docker_image": package.map(|p| p.image.clone()),
            "docker_credentials": creds,
            "package_updated_at": package.map_or_else(|| cf_time(app.created_at), |p| cf_time(p.updated_at)),
            "detected_start_command": "",
            "enable_ssh": true,
            "ports": [8080],
            "space_url": format!("/v2/spaces/{}", app.space),
            "stack_url": format!("/v2/stacks/{STACK_GUID}"),
            "routes_url": format!("/v2/apps/{g}/routes"),
            "events_url": format!("/v2/apps/{g}/events"),
            "service_bindings_url": format!("/v2/apps/{g}/service_bindings"),
            "route_mappings_url": format!("/v2/apps/{g}/route_mappings"),
        }),
    )
}

async fn info(State(sh): State<Shared>) -> Response {
    let base = sh.base();
    Json(json!({
        "name": "driftless-simulator",
        "build": "driftless-simulator",
        "support": "https://driftless.dev",
        "version": 2,
        "description": "A simulated Stackato foundation (driftless)",
        "authorization_endpoint": format!("{base}/uaa"),
        "token_endpoint": format!("{base}/uaa"),
        "min_cli_version": null,
        "min_recommended_cli_version": null,
        "api_version": "2.155.0",
        "app_ssh_endpoint": "127.0.0.1:2222",
        "app_ssh_host_key_fingerprint": "sim-host-key",
        "app_ssh_oauth_client": null,
        "routing_endpoint": format!("{base}/routing"),
        "logging_endpoint": format!("{}/logging", base.replacen("http", "ws", 1)),
    }))
    .into_response()
}

async fn list_apps(State(sh): State<Shared>, _a: V2Actor, RawQuery(raw): RawQuery) -> V2Result {
    let q = parse_query(raw.as_deref())?;
    let st = sh.lock();
    let mut apps: Vec<&App> = st
        .apps
        .values()
        .filter(|a| matches!(a.lifecycle, Lifecycle::Docker))
        .collect();
    apps.sort_by_key(|a| a.seq);
    let mut items = Vec::new();
    for app in apps {
        let org = st
            .spaces
            .get(&app.space)
            .map(|s| s.org.to_string())
            .unwrap_or_default();
        let fields = |f: &str| match f {
            "name" => Some(app.name.clone()),
            "space_guid" => Some(app.space.to_string()),
            "organization_guid" => Some(org.clone()),
            "state" => Some(app.state.as_str().to_owned()),
            _ => None,
        };
        if q.matches(&fields)? {
            items.push(app_json(&st, app));
        }
    }
    Ok(Json(q.page("/v2/apps", items)).into_response())
}

async fn get_app(State(sh): State<Shared>, _a: V2Actor, Path(guid): Path<String>) -> V2Result {
    let st = sh.lock();
    let app = st
        .apps
        .get(&AppGuid::new(guid.clone()))
        .ok_or_else(|| ApiError::v2_app_not_found(&guid))?;
    Ok(Json(app_json(&st, app)).into_response())
}

#[derive(Debug, Deserialize)]
struct DockerCredentials {
    username: String,
    password: String,
}

#[derive(Debug, Deserialize)]
struct AppBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    space_guid: Option<String>,
    #[serde(default)]
    docker_image: Option<String>,
    #[serde(default)]
    docker_credentials: Option<DockerCredentials>,
    #[serde(default)]
    instances: Option<u32>,
    #[serde(default)]
    memory: Option<u64>,
    #[serde(default)]
    disk_quota: Option<u64>,
    #[serde(default)]
    environment_json: Option<BTreeMap<String, Value>>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    command: Option<String>,
    #[serde(default)]
    health_check_type: Option<String>,
    #[serde(default)]
    health_check_timeout: Option<u64>,
    #[serde(default)]
    health_check_http_endpoint: Option<String>,
}

const APP_FIELDS: &[&str] = &[
    "name",
    "space_guid",
    "docker_image",
    "docker_credentials",
    "diego",
    "instances",
    "memory",
    "disk_quota",
    "environment_json",
    "state",
    "command",
    "health_check_type",
    "health_check_timeout",
    "health_check_http_endpoint",
    "enable_ssh",
    "ports",
    "production",
    "console",
    "stack_guid",
    "buildpack",
];

fn image_and_creds(body: &AppBody) -> Option<(String, Option<(String, String)>)> {
    let raw = body.docker_image.as_deref()?;
    let (image, inline) = split_inline_credentials(raw);
    let creds = body
        .docker_credentials
        .as_ref()
        .map(|c| (c.username.clone(), c.password.clone()))
        .or(inline);
    Some((normalise_image(&image), creds))
}

fn apply_updates(
    st: &mut SimState,
    now: chrono::DateTime<chrono::Utc>,
    app: &AppGuid,
    body: &AppBody,
) -> Result<(), ApiError> {
    if let Some(web) = st.newest_process(app, "web").map(|p| p.guid.clone()) {
        let scale = Scale {
            instances: body.instances,
            memory_in_mb: body.memory,
            disk_in_mb: body.disk_quota,
            log_rate_limit: None,
        };
        st.scale_process(now, &web, scale, &crate::state::PullCheck::Ok)?;
        let health = body.health_check_type.is_some()
            || body.health_check_timeout.is_some()
            || body.health_check_http_endpoint.is_some();
        if body.command.is_some() || health {
            let mut update = crate::state::ProcessUpdate::default();
            if let Some(c) = &body.command {
                update.command = Some(Some(c.clone()).filter(|c| !c.is_empty()));
            }
            if health {
                // v2 sets each health-check field on its own; the others stay.
                let mut check = st.process(&web)?.health_check.clone();
                if let Some(kind) = &body.health_check_type {
                    // v2's `none` is v3's `process`.
                    check.kind = if kind == "none" {
                        "process".into()
                    } else {
                        kind.clone()
                    };
                    if check.kind != "http" {
                        check.endpoint = None;
                    }
                }
                if let Some(timeout) = body.health_check_timeout {
                    check.timeout = Some(timeout);
                }
                if let Some(endpoint) = &body.health_check_http_endpoint {
                    check.endpoint = Some(endpoint.clone()).filter(|e| !e.is_empty());
                }
                update.health_check = Some(check);
            }
            st.update_process(now, &web, update)?;
        }
    }
    if let Some(env) = &body.environment_json {
        crate::state::validate_env(env)?;
        let current: Vec<String> = st.app(app)?.env.keys().cloned().collect();
        let mut patch: serde_json::Map<String, Value> =
            current.into_iter().map(|k| (k, Value::Null)).collect();
        patch.extend(env.iter().map(|(k, v)| (k.clone(), v.clone())));
        st.patch_env(now, app, &patch)?;
    }
    if let Some((image, creds)) = image_and_creds(body) {
        st.create_package(now, app, image, creds, Metadata::default())?;
    }
    Ok(())
}

async fn create_app(State(sh): State<Shared>, _a: V2Actor, body: Bytes) -> V2Result {
    let body: AppBody = parse_body(&body, APP_FIELDS).map_err(v2_validation)?;
    let name = body
        .name
        .clone()
        .ok_or_else(|| ApiError::v2_app_invalid("name is required"))?;
    let space = body
        .space_guid
        .clone()
        .ok_or_else(|| ApiError::v2_app_invalid("space_guid is required"))?;
    let now = sh.now();
    let guid = {
        let mut st = sh.lock();
        let new = NewApp {
            name: name.clone(),
            space: SpaceGuid::new(space),
            lifecycle: Lifecycle::Docker,
            env: body.environment_json.clone().unwrap_or_default(),
            metadata: Metadata::default(),
        };
        let guid = st
            .create_app(now, new)
            .map_err(|e| v2_create_error(e, &name))?;
        let mut without_env = body;
        without_env.environment_json = None;
        apply_updates(&mut st, now, &guid, &without_env)?;
        guid
    };
    let st = sh.lock();
    let app = st.app(&guid)?;
    Ok((StatusCode::CREATED, Json(app_json(&st, app))).into_response())
}

fn v2_validation(e: ApiError) -> ApiError {
    if e.code == 10008 {
        ApiError::v2_app_invalid(&e.detail)
    } else {
        e
    }
}

fn v2_create_error(e: ApiError, name: &str) -> ApiError {
    match e.code {
        10016 => ApiError::v2_app_name_taken(name),
        10008 => ApiError::v2_app_invalid(&e.detail),
        _ => e,
    }
}

async fn update_app(
    State(sh): State<Shared>,
    V2Actor(actor): V2Actor,
    Path(guid): Path<String>,
    body: Bytes,
) -> V2Result {
    let body: AppBody = parse_body(&body, APP_FIELDS).map_err(v2_validation)?;
    let app = AppGuid::new(guid.clone());
    let now = sh.now();
    let staging = {
        let mut st = sh.lock();
        st.app(&app)
            .map_err(|_| ApiError::v2_app_not_found(&guid))?;
        if let Some(name) = &body.name {
            st.update_app(now, &app, Some(name.clone()), None, None)
                .map_err(|e| v2_create_error(e, name))?;
        }
        apply_updates(&mut st, now, &app, &body)?;
        match body.state.as_deref() {
            Some("STOPPED") => {
                st.stop_app(now, &app)?;
                // A stop also cancels a start that was waiting for staging.
                for b in st.builds.values_mut().filter(|b| b.app == app) {
                    b.start_when_staged = false;
                }
                None
            }
            Some("STARTED") => needs_staging(&st, &app),
            Some(other) => {
                return Err(ApiError::v2_app_invalid(format!(
                    "state must be STARTED or STOPPED, not {other}"
                ))
                .into());
            }
            None => None,
        }
    };
    if body.state.as_deref() == Some("STARTED") {
        match staging {
            Some(package) => {
                let (image, creds) = sh.lock().check_build(&package)?;
                let outcome = match sh.resolve(&image, creds.as_ref()).await {
                    Ok(d) => StagingOutcome::Digest(d),
                    Err(e) => StagingOutcome::Error(e),
                };
                let now = sh.now();
                sh.lock().create_build(
                    now,
                    &actor,
                    &package,
                    outcome,
                    Metadata::default(),
                    true,
                )?;
            }
            None => {
                let target = sh.lock().app_pull_target(&app);
                let pull = sh.pull_check(target).await;
                let now = sh.now();
                sh.lock().start_app(now, &app, &pull)?;
            }
        }
    }
    let st = sh.lock();
    let a = st.app(&app)?;
    Ok((StatusCode::CREATED, Json(app_json(&st, a))).into_response())
}

/// The package to stage when the newest one has no droplet yet.
fn needs_staging(st: &SimState, app: &AppGuid) -> Option<crate::ids::PackageGuid> {
    let newest = st
        .packages
        .values()
        .filter(|p| &p.app == app)
        .max_by_key(|p| p.seq)?;
    let staged = st
        .droplets
        .values()
        .any(|d| d.package.as_ref() == Some(&newest.guid));
    let staging = st
        .builds
        .values()
        .any(|b| b.package == newest.guid && b.state == BuildState::Staging);
    (!staged && !staging).then(|| newest.guid.clone())
}

async fn restage_app(
    State(sh): State<Shared>,
    V2Actor(actor): V2Actor,
    Path(guid): Path<String>,
) -> V2Result {
    let app = AppGuid::new(guid.clone());
    let package = {
        let st = sh.lock();
        st.app(&app)
            .map_err(|_| ApiError::v2_app_not_found(&guid))?;
        st.packages
            .values()
            .filter(|p| p.app == app)
            .max_by_key(|p| p.seq)
            .map(|p| p.guid.clone())
    };
    let package = package.ok_or_else(|| ApiError::v2_app_invalid("the app has no docker image"))?;
    let (image, creds) = sh.lock().check_build(&package)?;
    let outcome = match sh.resolve(&image, creds.as_ref()).await {
        Ok(d) => StagingOutcome::Digest(d),
        Err(e) => StagingOutcome::Error(e),
    };
    let now = sh.now();
    let mut st = sh.lock();
    st.create_build(now, &actor, &package, outcome, Metadata::default(), true)?;
    let a = st.app(&app)?;
    Ok((StatusCode::CREATED, Json(app_json(&st, a))).into_response())
}

async fn delete_app(State(sh): State<Shared>, _a: V2Actor, Path(guid): Path<String>) -> V2Result {
    let mut st = sh.lock();
    let app = AppGuid::new(guid.clone());
    st.app(&app)
        .map_err(|_| ApiError::v2_app_not_found(&guid))?;
    st.purge_app(&app);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn app_instances(
    State(sh): State<Shared>,
    _a: V2Actor,
    Path(guid): Path<String>,
) -> V2Result {
    let st = sh.lock();
    let app = AppGuid::new(guid.clone());
    let a = st
        .app(&app)
        .map_err(|_| ApiError::v2_app_not_found(&guid))?;
    if a.state == AppState::Stopped {
        // As v2 CC: pending staging is 170002, failed staging 170001, stopped 220001.
        let latest = st
            .builds
            .values()
            .filter(|b| b.app == app && b.start_when_staged)
            .max_by_key(|b| b.seq);
        let error = match latest.map(|b| b.state) {
            Some(BuildState::Staging) => ApiError {
                status: StatusCode::BAD_REQUEST,
                code: 170002,
                title: "CF-NotStaged",
                detail: "App has not finished staging".into(),
            },
            Some(BuildState::Failed) => ApiError {
                status: StatusCode::BAD_REQUEST,
                code: 170001,
                title: "CF-StagingError",
                detail: "Staging error: staging failed".into(),
            },
            _ => ApiError {
                status: StatusCode::BAD_REQUEST,
                code: 220001,
                title: "CF-InstancesError",
                detail: format!(
                    "Instances error: Request failed for app: {} as the app is in stopped state.",
                    a.name
                ),
            },
        };
        return Err(error.into());
    }
    let Some(web) = st.newest_process(&app, "web") else {
        return Ok(Json(json!({})).into_response());
    };
    let since = web.started_at.timestamp();
    let out: serde_json::Map<String, Value> = (0..web.instances)
        .map(|i| {
            let state = crate::render::instance_state(&st, web, i, sh.now());
            (
                i.to_string(),
                json!({"state": state, "since": since, "uptime": 0}),
            )
        })
        .collect();
    Ok(Json(Value::Object(out)).into_response())
}

/// GET /v2/apps/:guid/summary: the app entity plus running instances and routes.
async fn app_summary(State(sh): State<Shared>, _a: V2Actor, Path(guid): Path<String>) -> V2Result {
    let st = sh.lock();
    let app = AppGuid::new(guid.clone());
    let a = st
        .app(&app)
        .map_err(|_| ApiError::v2_app_not_found(&guid))?;
    let mut summary = app_json(&st, a)["entity"].clone();
    let now = sh.now();
    let running = st.newest_process(&app, "web").map_or(0, |p| {
        (0..p.instances)
            .filter(|i| crate::render::instance_state(&st, p, *i, now) == "RUNNING")
            .count()
    });
    let routes: Vec<Value> = st
        .routes
        .values()
        .filter(|r| r.destinations.iter().any(|d| d.app == app))
        .map(|r| {
            let domain = st.domains.get(&r.domain).map(|d| d.name.clone()).unwrap_or_default();
            json!({"guid": r.guid, "host": r.host, "path": r.path, "port": null, "domain": {"guid": r.domain, "name": domain}})
        })
        .collect();
    if let Some(obj) = summary.as_object_mut() {
        obj.insert("guid".into(), json!(guid));
        obj.insert("running_instances".into(), json!(running));
        obj.insert("routes".into(), json!(routes));
        obj.insert("services".into(), json!([]));
        obj.insert(
            "available_domains".into(),
            json!(
                st.domains
                    .values()
                    .map(|d| json!({"guid": d.guid, "name": d.name}))
                    .collect::<Vec<_>>()
            ),
        );
    }
    Ok(Json(summary).into_response())
}

fn flag_json(f: &crate::model::FeatureFlag) -> Value {
    json!({"name": f.name, "enabled": f.enabled, "error_message": f.custom_error_message, "url": format!("/v2/config/feature_flags/{}", f.name)})
}

async fn list_flags(State(sh): State<Shared>, _a: V2Actor) -> V2Result {
    let st = sh.lock();
    Ok(Json(st.feature_flags.values().map(flag_json).collect::<Vec<_>>()).into_response())
}

async fn get_flag(State(sh): State<Shared>, _a: V2Actor, Path(name): Path<String>) -> V2Result {
    let st = sh.lock();
    let f = st
        .feature_flags
        .get(&name)
        .ok_or_else(|| flag_not_found(&name))?;
    Ok(Json(flag_json(f)).into_response())
}

fn flag_not_found(name: &str) -> ApiError {
    ApiError {
        code: 330000,
        title: "CF-FeatureFlagNotFound",
        detail: format!("The feature flag could not be found: {name}"),
        status: StatusCode::NOT_FOUND,
    }
}

#[derive(Debug, Deserialize)]
struct FlagBody {
    enabled: bool,
    #[serde(default)]
    error_message: Option<String>,
}

async fn set_flag(
    State(sh): State<Shared>,
    V2Actor(actor): V2Actor,
    Path(name): Path<String>,
    body: Bytes,
) -> V2Result {
    require_admin(&actor)?;
    let body: FlagBody = parse_body(&body, &["enabled", "error_message"])?;
    let now = sh.now();
    let mut st = sh.lock();
    if !st.feature_flags.contains_key(&name) {
        return Err(flag_not_found(&name).into());
    }
    st.set_feature_flag(now, &name, Some(body.enabled), body.error_message.map(Some))?;
    let f = st
        .feature_flags
        .get(&name)
        .ok_or_else(ApiError::server_error)?;
    Ok(Json(flag_json(f)).into_response())
}

async fn list_orgs(State(sh): State<Shared>, _a: V2Actor, RawQuery(raw): RawQuery) -> V2Result {
    let q = parse_query(raw.as_deref())?;
    let st = sh.lock();
    let mut orgs: Vec<_> = st.orgs.values().collect();
    orgs.sort_by_key(|o| o.seq);
    let mut items = Vec::new();
    for o in orgs {
        if q.matches(&|f: &str| (f == "name").then(|| o.name.clone()))? {
            let g = o.guid.as_str();
            items.push(envelope(
                g,
                "organizations",
                &cf_time(o.created_at),
                &cf_time(o.updated_at),
                json!({
                    "name": o.name, "billing_enabled": false, "status": "active",
                    "spaces_url": format!("/v2/organizations/{g}/spaces"),
                }),
            ));
        }
    }
    Ok(Json(q.page("/v2/organizations", items)).into_response())
}

async fn list_spaces(State(sh): State<Shared>, _a: V2Actor, RawQuery(raw): RawQuery) -> V2Result {
    let q = parse_query(raw.as_deref())?;
    let st = sh.lock();
    let mut spaces: Vec<_> = st.spaces.values().collect();
    spaces.sort_by_key(|s| s.seq);
    let mut items = Vec::new();
    for s in spaces {
        let fields = |f: &str| match f {
            "name" => Some(s.name.clone()),
            "organization_guid" => Some(s.org.to_string()),
            _ => None,
        };
        if q.matches(&fields)? {
            let g = s.guid.as_str();
            items.push(envelope(
                g,
                "spaces",
                &cf_time(s.created_at),
                &cf_time(s.updated_at),
                json!({
                    "name": s.name, "organization_guid": s.org, "allow_ssh": true,
                    "organization_url": format!("/v2/organizations/{}", s.org),
                    "apps_url": format!("/v2/spaces/{g}/apps"),
                }),
            ));
        }
    }
    Ok(Json(q.page("/v2/spaces", items)).into_response())
}

fn route_json(r: &crate::model::Route) -> Value {
    let g = r.guid.as_str();
    envelope(
        g,
        "routes",
        &cf_time(r.created_at),
        &cf_time(r.updated_at),
        json!({
            "host": r.host,
            "path": r.path,
            "domain_guid": r.domain,
            "space_guid": r.space,
            "service_instance_guid": null,
            "port": null,
            "domain_url": format!("/v2/shared_domains/{}", r.domain),
            "space_url": format!("/v2/spaces/{}", r.space),
            "apps_url": format!("/v2/routes/{g}/apps"),
            "route_mappings_url": format!("/v2/routes/{g}/route_mappings"),
        }),
    )
}

async fn list_shared_domains(
    State(sh): State<Shared>,
    _a: V2Actor,
    RawQuery(raw): RawQuery,
) -> V2Result {
    let q = parse_query(raw.as_deref())?;
    let st = sh.lock();
    let mut domains: Vec<_> = st.domains.values().collect();
    domains.sort_by_key(|d| d.seq);
    let mut items = Vec::new();
    for d in domains {
        if q.matches(&|f: &str| (f == "name").then(|| d.name.clone()))? {
            items.push(envelope(d.guid.as_str(), "shared_domains", &cf_time(d.created_at), &cf_time(d.updated_at), json!({
                "name": d.name, "internal": false, "router_group_guid": null, "router_group_type": null,
            })));
        }
    }
    Ok(Json(q.page("/v2/shared_domains", items)).into_response())
}

fn routes_page(
    st: &SimState,
    q: &V2Query,
    path: &str,
    app: Option<&AppGuid>,
) -> Result<Value, ApiError> {
    let mut routes: Vec<_> = st
        .routes
        .values()
        .filter(|r| app.is_none_or(|a| r.destinations.iter().any(|d| &d.app == a)))
        .collect();
    routes.sort_by_key(|r| r.seq);
    let mut items = Vec::new();
    for r in routes {
        let fields = |f: &str| match f {
            "host" => Some(r.host.clone()),
            "path" => Some(r.path.clone()),
            "domain_guid" => Some(r.domain.to_string()),
            "space_guid" => Some(r.space.to_string()),
            _ => None,
        };
        if q.matches(&fields)? {
            items.push(route_json(r));
        }
    }
    Ok(q.page(path, items))
}

async fn list_routes(State(sh): State<Shared>, _a: V2Actor, RawQuery(raw): RawQuery) -> V2Result {
    let q = parse_query(raw.as_deref())?;
    let st = sh.lock();
    Ok(Json(routes_page(&st, &q, "/v2/routes", None)?).into_response())
}

async fn app_routes(
    State(sh): State<Shared>,
    _a: V2Actor,
    Path(guid): Path<String>,
    RawQuery(raw): RawQuery,
) -> V2Result {
    let q = parse_query(raw.as_deref())?;
    let st = sh.lock();
    let app = AppGuid::new(guid.clone());
    st.app(&app)
        .map_err(|_| ApiError::v2_app_not_found(&guid))?;
    Ok(Json(routes_page(
        &st,
        &q,
        &format!("/v2/apps/{guid}/routes"),
        Some(&app),
    )?)
    .into_response())
}

#[derive(Debug, Deserialize)]
struct RouteBody {
    #[serde(default)]
    host: Option<String>,
    #[serde(default)]
    path: Option<String>,
    domain_guid: String,
    space_guid: String,
}

async fn create_route(State(sh): State<Shared>, _a: V2Actor, body: Bytes) -> V2Result {
    let req: RouteBody = parse_body(
        &body,
        &["host", "path", "domain_guid", "space_guid", "port"],
    )?;
    let host = req.host.unwrap_or_default();
    let now = sh.now();
    let mut st = sh.lock();
    let new = crate::state::NewRoute {
        space: SpaceGuid::new(req.space_guid),
        domain: crate::ids::DomainGuid::new(req.domain_guid),
        host: host.clone(),
        path: req.path.unwrap_or_default(),
        loadbalancing: None,
        metadata: Metadata::default(),
    };
    let guid = st.create_route(now, new).map_err(|e| match e.code {
        10016 => ApiError {
            status: StatusCode::BAD_REQUEST,
            code: 210003,
            title: "CF-RouteHostTaken",
            detail: format!("The host is taken: {host}"),
        },
        10008 => ApiError {
            status: StatusCode::BAD_REQUEST,
            code: 210001,
            title: "CF-RouteInvalid",
            detail: format!("The route is invalid: {}", e.detail),
        },
        _ => e,
    })?;
    let r = st.routes.get(&guid).ok_or_else(ApiError::server_error)?;
    Ok((StatusCode::CREATED, Json(route_json(r))).into_response())
}

fn route_not_found(guid: &str) -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        code: 210002,
        title: "CF-RouteNotFound",
        detail: format!("The route could not be found: {guid}"),
    }
}

async fn delete_route(State(sh): State<Shared>, _a: V2Actor, Path(guid): Path<String>) -> V2Result {
    let mut st = sh.lock();
    st.routes
        .remove(&crate::ids::RouteGuid::new(guid.clone()))
        .ok_or_else(|| route_not_found(&guid))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn map_route(
    State(sh): State<Shared>,
    _a: V2Actor,
    Path((app, route)): Path<(String, String)>,
) -> V2Result {
    let now = sh.now();
    let mut st = sh.lock();
    let app_guid = AppGuid::new(app.clone());
    st.app(&app_guid)
        .map_err(|_| ApiError::v2_app_not_found(&app))?;
    let route_guid = crate::ids::RouteGuid::new(route.clone());
    if !st.routes.contains_key(&route_guid) {
        return Err(route_not_found(&route).into());
    }
    let dest = crate::state::NewDestination {
        app: app_guid.clone(),
        process_type: "web".into(),
        port: None,
        protocol: None,
        weight: None,
    };
    st.set_destinations(now, &route_guid, vec![dest], false)
        .map_err(|e| ApiError {
            status: StatusCode::BAD_REQUEST,
            code: 210006,
            title: "CF-RouteMappingTaken",
            detail: e.detail,
        })?;
    let a = st.app(&app_guid)?;
    Ok((StatusCode::CREATED, Json(app_json(&st, a))).into_response())
}

async fn unmap_route(
    State(sh): State<Shared>,
    _a: V2Actor,
    Path((app, route)): Path<(String, String)>,
) -> V2Result {
    let mut st = sh.lock();
    let app_guid = AppGuid::new(app.clone());
    st.app(&app_guid)
        .map_err(|_| ApiError::v2_app_not_found(&app))?;
    let r = st
        .routes
        .get_mut(&crate::ids::RouteGuid::new(route.clone()))
        .ok_or_else(|| route_not_found(&route))?;
    r.destinations.retain(|d| d.app != app_guid);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// GET /v2/route_mappings: one `{app_guid, route_guid}` per route destination (CC API 2.65+),
/// filterable with `q=app_guid:` and `q=route_guid:`.
async fn list_route_mappings(
    State(sh): State<Shared>,
    _a: V2Actor,
    RawQuery(raw): RawQuery,
) -> V2Result {
    let q = parse_query(raw.as_deref())?;
    let st = sh.lock();
    let mut routes: Vec<_> = st.routes.values().collect();
    routes.sort_by_key(|r| r.seq);
    let mut items = Vec::new();
    for r in routes {
        for d in &r.destinations {
            let fields = |f: &str| match f {
                "app_guid" => Some(d.app.to_string()),
                "route_guid" => Some(r.guid.to_string()),
                _ => None,
            };
            if q.matches(&fields)? {
                items.push(envelope(
                    &d.guid,
                    "route_mappings",
                    &cf_time(d.created_at),
                    &cf_time(d.updated_at),
                    json!({
                        "app_port": null,
                        "app_guid": d.app,
                        "route_guid": r.guid,
                        "app_url": format!("/v2/apps/{}", d.app),
                        "route_url": format!("/v2/routes/{}", r.guid),
                    }),
                ));
            }
        }
    }
    Ok(Json(q.page("/v2/route_mappings", items)).into_response())
}

async fn fallback_v2() -> V2Error {
    V2Error(ApiError::unknown_request())
}

/// The v2 routes.
pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route("/v2/info", get(info))
        .route("/v2/apps", get(list_apps).post(create_app))
        .route(
            "/v2/apps/{guid}",
            get(get_app).put(update_app).delete(delete_app),
        )
        .route("/v2/apps/{guid}/instances", get(app_instances))
        .route("/v2/apps/{guid}/summary", get(app_summary))
        .route("/v2/apps/{guid}/restage", axum::routing::post(restage_app))
        .route("/v2/config/feature_flags", get(list_flags))
        .route(
            "/v2/config/feature_flags/{name}",
            get(get_flag).put(set_flag),
        )
        .route("/v2/organizations", get(list_orgs))
        .route("/v2/spaces", get(list_spaces))
        .route("/v2/shared_domains", get(list_shared_domains))
        .route("/v2/routes", get(list_routes).post(create_route))
        .route("/v2/routes/{guid}", axum::routing::delete(delete_route))
        .route("/v2/route_mappings", get(list_route_mappings))
        .route("/v2/apps/{guid}/routes", get(app_routes))
        .route(
            "/v2/apps/{guid}/routes/{route}",
            axum::routing::put(map_route).delete(unmap_route),
        )
        .route("/v2/{*rest}", get(fallback_v2))
}
