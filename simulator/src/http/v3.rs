//! Cloud Controller v3 and UAA handlers: parse, lock, call one `State` transition, render.

use std::collections::{BTreeMap, BTreeSet};

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Shared, parse_body, require_admin};
use crate::error::ApiError;
use crate::ids::{
    AppGuid, BuildGuid, DeploymentGuid, DropletGuid, JobGuid, OrgGuid, PackageGuid, ProcessGuid,
    RevisionGuid, SpaceGuid,
};
use crate::labels::{Metadata, apply_patch};
use crate::model::{
    Actor, App, Build, Deployment, Droplet, HealthCheck, Lifecycle, Org, Package, Process,
    Revision, Space, StagingOutcome, Strategy,
};
use crate::query::Query;
use crate::render;
use crate::state::{NewApp, NewDeployment, ProcessUpdate, Scale, State as SimState};

type ApiResult<T = Response> = Result<T, ApiError>;

/// Something that can be listed: filtered by guid and label selector, ordered, paged.
pub(crate) trait Listable {
    fn guid_str(&self) -> &str;
    fn seq(&self) -> u64;
    fn created(&self) -> DateTime<Utc>;
    fn updated(&self) -> DateTime<Utc>;
    fn name_str(&self) -> &str {
        ""
    }
    fn meta(&self) -> &Metadata;
}

macro_rules! listable {
    ($t:ty) => {
        listable!($t, |_x: &$t| "");
    };
    ($t:ty, $name:expr) => {
        impl Listable for $t {
            fn guid_str(&self) -> &str {
                self.guid.as_str()
            }
            fn seq(&self) -> u64 {
                self.seq
            }
            fn created(&self) -> DateTime<Utc> {
                self.created_at
            }
            fn updated(&self) -> DateTime<Utc> {
                self.updated_at
            }
            fn name_str(&self) -> &str {
                let f: fn(&$t) -> &str = $name;
                f(self)
            }
            fn meta(&self) -> &Metadata {
                &self.metadata
            }
        }
    };
}

listable!(Org, |x: &Org| x.name.as_str());
listable!(Space, |x: &Space| x.name.as_str());
listable!(App, |x: &App| x.name.as_str());
listable!(Process);
listable!(Package);
listable!(Build);
listable!(Droplet);
listable!(Deployment);
listable!(Revision);

/// Filters by `guids` and `label_selector`, orders by `order_by`, returns the survivors.
pub(crate) fn select<'a, T: Listable + 'a>(
    q: &Query,
    items: impl Iterator<Item = &'a T>,
    order_fields: &[&str],
) -> ApiResult<Vec<&'a T>> {
    let guids = q.list("guids");
    let selector = q.selector()?;
    let (field, desc) = q.order_by(order_fields)?;
    let mut out: Vec<&T> = items
        .filter(|x| guids.as_ref().is_none_or(|g| g.contains(x.guid_str())))
        .filter(|x| {
            selector
                .as_ref()
                .is_none_or(|s| s.matches(&x.meta().labels))
        })
        .collect();
    match field.as_str() {
        "updated_at" => out.sort_by_key(|x| (x.updated(), x.seq())),
        "name" => out.sort_by(|a, b| a.name_str().cmp(b.name_str()).then(a.seq().cmp(&b.seq()))),
        _ => out.sort_by_key(|x| (x.created(), x.seq())),
    }
    if desc {
        out.reverse();
    }
    Ok(out)
}

fn page_of<'a, T>(q: &Query, items: &'a [T]) -> ApiResult<&'a [T]> {
    let (page, per_page) = q.page()?;
    let start = ((page - 1).saturating_mul(per_page)).min(items.len());
    let end = start.saturating_add(per_page).min(items.len());
    Ok(&items[start..end])
}

fn ok(v: Value) -> Response {
    Json(v).into_response()
}

fn created(v: Value) -> Response {
    (StatusCode::CREATED, Json(v)).into_response()
}

fn metadata_from(value: Option<&Value>) -> ApiResult<Metadata> {
    match value {
        Some(v) if !v.is_null() => apply_patch(&Metadata::default(), v),
        _ => Ok(Metadata::default()),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GuidRef {
    guid: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ToOne {
    data: GuidRef,
}

// ---- discovery and UAA ---------------------------------------------------------------------

async fn root(State(sh): State<Shared>) -> Response {
    ok(render::root(sh.base(), sh.0.config.stackato))
}

async fn root_v3(State(sh): State<Shared>) -> Response {
    ok(render::root_v3(sh.base()))
}

async fn info(State(sh): State<Shared>) -> Response {
    let rl =
        sh.0.config
            .rate_limit
            .map(|r| (r.limit, r.reset_interval.as_secs().div_ceil(60)));
    ok(render::info(sh.base(), rl))
}

async fn token(State(sh): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let mut req = crate::uaa::TokenRequest::default();
    for (k, v) in form_urlencoded::parse(&body) {
        let v = Some(v.into_owned());
        match k.as_ref() {
            "grant_type" => req.grant_type = v,
            "username" => req.username = v,
            "password" => req.password = v,
            "refresh_token" => req.refresh_token = v,
            "scope" => req.scope = v,
            "client_id" => req.client_id = v,
            "client_secret" => req.client_secret = v,
            _ => {}
        }
    }
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok());
    if let Some(basic) = basic {
        let (id, secret) = basic.split_once(':').unwrap_or((basic.as_str(), ""));
        req.client_id = Some(id.to_owned());
        req.client_secret = Some(secret.to_owned());
    }
    let jti = sh.lock().guid();
    match sh.0.uaa.token(&req, sh.now(), jti) {
        Ok(body) => {
            let mut resp = ok(body);
            resp.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            resp
        }
        Err(e) => {
            let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
            (status, Json(e.body())).into_response()
        }
    }
}

// ---- organizations and spaces --------------------------------------------------------------

async fn list_orgs(State(sh): State<Shared>, _a: Actor, RawQuery(raw): RawQuery) -> ApiResult {
    let q = Query::parse(raw.as_deref(), &["names", "guids", "label_selector"], true)?;
    let names = q.list("names");
    let st = sh.lock();
    let items = select(
        &q,
        st.orgs
            .values()
            .filter(|o| names.as_ref().is_none_or(|n| n.contains(&o.name))),
        &["created_at", "updated_at", "name"],
    )?;
    Ok(ok(q.paginate(
        sh.base(),
        "/v3/organizations",
        &items,
        |o| render::org(sh.base(), o),
    )?))
}

#[derive(Debug, Deserialize)]
struct OrgCreate {
    name: String,
    #[serde(default)]
    metadata: Option<Value>,
}

async fn create_org(State(sh): State<Shared>, actor: Actor, body: Bytes) -> ApiResult {
    require_admin(&actor)?;
    let req: OrgCreate = parse_body(&body, &["name", "suspended", "metadata"])?;
    let md = metadata_from(req.metadata.as_ref())?;
    let now = sh.now();
    let mut st = sh.lock();
    let guid = st.create_org(now, &req.name, md)?;
    let org = st.orgs.get(&guid).ok_or_else(ApiError::server_error)?;
    Ok(created(render::org(sh.base(), org)))
}

async fn get_org(
    State(sh): State<Shared>,
    _a: Actor,
    Path(guid): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    Query::parse(raw.as_deref(), &[], false)?;
    let st = sh.lock();
    let org = st
        .orgs
        .get(&OrgGuid::new(guid))
        .ok_or_else(|| ApiError::not_found("Organization"))?;
    Ok(ok(render::org(sh.base(), org)))
}

#[derive(Debug, Deserialize)]
struct NameMetadataUpdate {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    metadata: Option<Value>,
}

async fn update_org(
    State(sh): State<Shared>,
    actor: Actor,
    Path(guid): Path<String>,
    body: Bytes,
) -> ApiResult {
    require_admin(&actor)?;
    let req: NameMetadataUpdate = parse_body(&body, &["name", "suspended", "metadata"])?;
    let now = sh.now();
    let mut st = sh.lock();
    let org = st
        .orgs
        .get_mut(&OrgGuid::new(guid))
        .ok_or_else(|| ApiError::not_found("Organization"))?;
    if let Some(md) = &req.metadata {
        org.metadata = apply_patch(&org.metadata, md)?;
    }
    if let Some(name) = req.name {
        org.name = name;
    }
    org.updated_at = now;
    Ok(ok(render::org(sh.base(), org)))
}

async fn list_spaces(State(sh): State<Shared>, _a: Actor, RawQuery(raw): RawQuery) -> ApiResult {
    let q = Query::parse(
        raw.as_deref(),
        &[
            "names",
            "guids",
            "organization_guids",
            "label_selector",
            "include",
        ],
        true,
    )?;
    let includes = q.includes(&["organization"])?;
    let names = q.list("names");
    let orgs = q.list("organization_guids");
    let st = sh.lock();
    let items = select(
        &q,
        st.spaces.values().filter(|s| {
            names.as_ref().is_none_or(|n| n.contains(&s.name))
                && orgs.as_ref().is_none_or(|o| o.contains(s.org.as_str()))
        }),
        &["created_at", "updated_at", "name"],
    )?;
    let mut body = q.paginate(sh.base(), "/v3/spaces", &items, |s| {
        render::space(sh.base(), s)
    })?;
    if includes.contains("organization") {
        let page = page_of(&q, &items)?;
        let org_guids: BTreeSet<&OrgGuid> = page.iter().map(|s| &s.org).collect();
        let orgs: Vec<Value> = org_guids
            .iter()
            .filter_map(|g| st.orgs.get(*g))
            .map(|o| render::org(sh.base(), o))
            .collect();
        if let Some(obj) = body.as_object_mut() {
            obj.insert("included".into(), json!({"organizations": orgs}));
        }
    }
    Ok(ok(body))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SpaceRelationships {
    organization: ToOne,
}

#[derive(Debug, Deserialize)]
struct SpaceCreate {
    name: String,
    relationships: SpaceRelationships,
    #[serde(default)]
    metadata: Option<Value>,
}

async fn create_space(State(sh): State<Shared>, actor: Actor, body: Bytes) -> ApiResult {
    require_admin(&actor)?;
    let req: SpaceCreate = parse_body(&body, &["name", "relationships", "metadata"])?;
    let md = metadata_from(req.metadata.as_ref())?;
    let now = sh.now();
    let mut st = sh.lock();
    let guid = st.create_space(
        now,
        &OrgGuid::new(req.relationships.organization.data.guid),
        &req.name,
        md,
    )?;
    let space = st.spaces.get(&guid).ok_or_else(ApiError::server_error)?;
    Ok(created(render::space(sh.base(), space)))
}

async fn get_space(
    State(sh): State<Shared>,
    _a: Actor,
    Path(guid): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let q = Query::parse(raw.as_deref(), &["include"], false)?;
    let includes = q.includes(&["organization"])?;
    let st = sh.lock();
    let space = st
        .spaces
        .get(&SpaceGuid::new(guid))
        .ok_or_else(|| ApiError::not_found("Space"))?;
    let mut body = render::space(sh.base(), space);
    if includes.contains("organization") {
        let orgs: Vec<Value> = st
            .orgs
            .get(&space.org)
            .map(|o| render::org(sh.base(), o))
            .into_iter()
            .collect();
        if let Some(obj) = body.as_object_mut() {
            obj.insert("included".into(), json!({"organizations": orgs}));
        }
    }
    Ok(ok(body))
}

async fn update_space(
    State(sh): State<Shared>,
    actor: Actor,
    Path(guid): Path<String>,
    body: Bytes,
) -> ApiResult {
    require_admin(&actor)?;
    let req: NameMetadataUpdate = parse_body(&body, &["name", "metadata"])?;
    let now = sh.now();
    let mut st = sh.lock();
    let space = st
        .spaces
        .get_mut(&SpaceGuid::new(guid))
        .ok_or_else(|| ApiError::not_found("Space"))?;
    if let Some(md) = &req.metadata {
        space.metadata = apply_patch(&space.metadata, md)?;
    }
    if let Some(name) = req.name {
        space.name = name;
    }
    space.updated_at = now;
    Ok(ok(render::space(sh.base(), space)))
}

// ---- apps ------------------------------------------------------------------------------------

fn included_for_apps(
    st: &SimState,
    base: &str,
    apps: &[&App],
    includes: &BTreeSet<String>,
) -> Option<Value> {
    if includes.is_empty() {
        return None;
    }
    let space_guids: BTreeSet<&SpaceGuid> = apps.iter().map(|a| &a.space).collect();
    let mut spaces: Vec<&Space> = space_guids
        .iter()
        .filter_map(|g| st.spaces.get(*g))
        .collect();
    spaces.sort_by_key(|s| s.seq);
    let mut out = serde_json::Map::new();
    out.insert(
        "spaces".into(),
        spaces.iter().map(|s| render::space(base, s)).collect(),
    );
    if includes.contains("space.organization") {
        let org_guids: BTreeSet<&OrgGuid> = spaces.iter().map(|s| &s.org).collect();
        let mut orgs: Vec<&Org> = org_guids.iter().filter_map(|g| st.orgs.get(*g)).collect();
        orgs.sort_by_key(|o| o.seq);
        out.insert(
            "organizations".into(),
            orgs.iter().map(|o| render::org(base, o)).collect(),
        );
    }
    Some(Value::Object(out))
}

const APP_FILTERS: &[&str] = &[
    "names",
    "guids",
    "space_guids",
    "organization_guids",
    "stacks",
    "lifecycle_type",
    "label_selector",
    "include",
    "created_ats",
    "updated_ats",
];

async fn list_apps(State(sh): State<Shared>, _a: Actor, RawQuery(raw): RawQuery) -> ApiResult {
    let q = Query::parse(raw.as_deref(), APP_FILTERS, true)?;
    let includes = q.includes(&["space", "space.organization"])?;
    let names = q.list("names");
    let spaces = q.list("space_guids");
    let orgs = q.list("organization_guids");
    let lifecycle = q.get("lifecycle_type").map(str::to_owned);
    if let Some(lc) = &lifecycle
        && lc != "docker"
        && lc != "buildpack"
        && lc != "cnb"
    {
        return Err(ApiError::bad_query(
            "Lifecycle type must be one of 'buildpack', 'docker', 'cnb'",
        ));
    }
    let st = sh.lock();
    let items = select(
        &q,
        st.apps.values().filter(|a| {
            names.as_ref().is_none_or(|n| n.contains(&a.name))
                && spaces.as_ref().is_none_or(|s| s.contains(a.space.as_str()))
                && orgs.as_ref().is_none_or(|o| {
                    st.spaces
                        .get(&a.space)
                        .is_some_and(|s| o.contains(s.org.as_str()))
                })
                && lifecycle
                    .as_ref()
                    .is_none_or(|l| l == a.lifecycle.type_str())
        }),
        &["created_at", "updated_at", "name", "state"],
    )?;
    let mut body = q.paginate_typed(sh.base(), "/v3/apps", &items, |a| {
        render::app_view(sh.base(), a)
    })?;
    body.included = included_for_apps(&st, sh.base(), page_of(&q, &items)?, &includes);
    Ok(Json(body).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LifecycleBody {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    data: Option<Value>,
}

fn lifecycle_from(body: Option<LifecycleBody>) -> ApiResult<Lifecycle> {
    match body {
        None => Ok(Lifecycle::Buildpack(
            json!({"buildpacks": [], "stack": "cflinuxfs4"}),
        )),
        Some(l) if l.kind == "docker" => Ok(Lifecycle::Docker),
        Some(l) if l.kind == "buildpack" => Ok(Lifecycle::Buildpack(
            l.data
                .filter(|d| !d.is_null())
                .unwrap_or_else(|| json!({"buildpacks": [], "stack": "cflinuxfs4"})),
        )),
        Some(l) => Err(ApiError::unprocessable(format!(
            "Lifecycle type must be one of 'buildpack', 'docker', 'cnb' (got '{}')",
            l.kind
        ))),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AppRelationships {
    space: ToOne,
}

#[derive(Debug, Deserialize)]
struct AppCreate {
    name: String,
    relationships: AppRelationships,
    #[serde(default)]
    lifecycle: Option<LifecycleBody>,
    #[serde(default)]
    environment_variables: Option<BTreeMap<String, Value>>,
    #[serde(default)]
    metadata: Option<Value>,
}

async fn create_app(State(sh): State<Shared>, _a: Actor, body: Bytes) -> ApiResult {
    let req: AppCreate = parse_body(
        &body,
        &[
            "name",
            "relationships",
            "lifecycle",
            "environment_variables",
            "metadata",
        ],
    )?;
    let new = NewApp {
        name: req.name,
        space: SpaceGuid::new(req.relationships.space.data.guid),
        lifecycle: lifecycle_from(req.lifecycle)?,
        env: req.environment_variables.unwrap_or_default(),
        metadata: metadata_from(req.metadata.as_ref())?,
    };
    let now = sh.now();
    let mut st = sh.lock();
    let guid = st.create_app(now, new)?;
    Ok(created(render::app(sh.base(), st.app(&guid)?)))
}

async fn get_app(
    State(sh): State<Shared>,
    _a: Actor,
    Path(guid): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let q = Query::parse(raw.as_deref(), &["include"], false)?;
    let includes = q.includes(&["space", "space.organization"])?;
    let st = sh.lock();
    let app = st.app(&AppGuid::new(guid))?;
    let mut body = render::app(sh.base(), app);
    if let Some(included) = included_for_apps(&st, sh.base(), &[app], &includes)
        && let Some(obj) = body.as_object_mut()
    {
        obj.insert("included".into(), included);
    }
    Ok(ok(body))
}

#[derive(Debug, Deserialize)]
struct AppUpdate {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    lifecycle: Option<LifecycleBody>,
    #[serde(default)]
    metadata: Option<Value>,
}

async fn update_app(
    State(sh): State<Shared>,
    _a: Actor,
    Path(guid): Path<String>,
    body: Bytes,
) -> ApiResult {
    let req: AppUpdate = parse_body(&body, &["name", "lifecycle", "metadata"])?;
    let lifecycle = match req.lifecycle {
        Some(l) => Some(lifecycle_from(Some(l))?),
        None => None,
    };
    let guid = AppGuid::new(guid);
    let now = sh.now();
    let mut st = sh.lock();
    st.update_app(now, &guid, req.name, lifecycle, req.metadata.as_ref())?;
    Ok(ok(render::app(sh.base(), st.app(&guid)?)))
}

async fn delete_app(State(sh): State<Shared>, _a: Actor, Path(guid): Path<String>) -> ApiResult {
    let now = sh.now();
    let job = sh.lock().delete_app(now, &AppGuid::new(guid))?;
    let mut resp = StatusCode::ACCEPTED.into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("{}/v3/jobs/{job}", sh.base())) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

async fn start_app(State(sh): State<Shared>, _a: Actor, Path(guid): Path<String>) -> ApiResult {
    let guid = AppGuid::new(guid);
    let target = {
        let st = sh.lock();
        let app = st.app(&guid)?;
        if app.state == crate::model::AppState::Started {
            None
        } else {
            st.app_pull_target(&guid)
        }
    };
    let pull = sh.pull_check(target).await;
    let now = sh.now();
    let mut st = sh.lock();
    st.start_app(now, &guid, &pull)?;
    Ok(ok(render::app(sh.base(), st.app(&guid)?)))
}

async fn stop_app(State(sh): State<Shared>, _a: Actor, Path(guid): Path<String>) -> ApiResult {
    let guid = AppGuid::new(guid);
    let now = sh.now();
    let mut st = sh.lock();
    st.check_not_deploying(&guid, crate::error::DuringDeployment::Stop)?;
    st.stop_app(now, &guid)?;
    Ok(ok(render::app(sh.base(), st.app(&guid)?)))
}

async fn restart_app(State(sh): State<Shared>, _a: Actor, Path(guid): Path<String>) -> ApiResult {
    let guid = AppGuid::new(guid);
    let target = {
        let st = sh.lock();
        st.app(&guid)?;
        st.check_not_deploying(&guid, crate::error::DuringDeployment::Stop)?;
        st.app_pull_target(&guid)
    };
    let pull = sh.pull_check(target).await;
    let now = sh.now();
    let mut st = sh.lock();
    st.restart_app(now, &guid, &pull)?;
    Ok(ok(render::app(sh.base(), st.app(&guid)?)))
}

async fn get_env_vars(State(sh): State<Shared>, _a: Actor, Path(guid): Path<String>) -> ApiResult {
    let st = sh.lock();
    Ok(ok(render::env_vars(
        sh.base(),
        st.app(&AppGuid::new(guid))?,
    )))
}

#[derive(Debug, Deserialize)]
struct EnvPatch {
    var: serde_json::Map<String, Value>,
}

async fn patch_env_vars(
    State(sh): State<Shared>,
    _a: Actor,
    Path(guid): Path<String>,
    body: Bytes,
) -> ApiResult {
    let req: EnvPatch = parse_body(&body, &["var"])?;
    let guid = AppGuid::new(guid);
    let now = sh.now();
    let mut st = sh.lock();
    st.patch_env(now, &guid, &req.var)?;
    Ok(ok(render::env_vars(sh.base(), st.app(&guid)?)))
}

async fn get_app_env(State(sh): State<Shared>, _a: Actor, Path(guid): Path<String>) -> ApiResult {
    let st = sh.lock();
    Ok(ok(render::app_env(&st, st.app(&AppGuid::new(guid))?)))
}

async fn current_droplet(
    State(sh): State<Shared>,
    _a: Actor,
    Path(guid): Path<String>,
) -> ApiResult {
    let st = sh.lock();
    let app = st.app(&AppGuid::new(guid))?;
    let droplet = app
        .current_droplet
        .as_ref()
        .and_then(|d| st.droplets.get(d))
        .ok_or_else(|| ApiError::not_found("Droplet"))?;
    Ok(ok(render::droplet(sh.base(), droplet)))
}

async fn get_current_droplet_rel(
    State(sh): State<Shared>,
    _a: Actor,
    Path(guid): Path<String>,
) -> ApiResult {
    let st = sh.lock();
    Ok(ok(render::current_droplet_relationship(
        sh.base(),
        st.app(&AppGuid::new(guid))?,
    )))
}

#[derive(Debug, Deserialize)]
struct DataRef {
    data: GuidRef,
}

async fn set_current_droplet(
    State(sh): State<Shared>,
    _a: Actor,
    Path(guid): Path<String>,
    body: Bytes,
) -> ApiResult {
    let req: DataRef = parse_body(&body, &["data"])?;
    let guid = AppGuid::new(guid);
    let now = sh.now();
    let mut st = sh.lock();
    st.set_current_droplet(now, &guid, &DropletGuid::new(req.data.guid))?;
    Ok(ok(render::current_droplet_relationship(
        sh.base(),
        st.app(&guid)?,
    )))
}

// ---- processes ---------------------------------------------------------------------------

/// A list function: renders the page of `path` for `q`, of one app's resources or all.
type ListFn = fn(&Shared, &Query, &str, &SimState, Option<&AppGuid>) -> ApiResult;

/// `GET /v3/<resources>`: the foundation-wide list, with the filters CC documents for it.
fn list_all(
    sh: &Shared,
    raw: Option<&str>,
    filters: &[&str],
    path: &str,
    list: ListFn,
) -> ApiResult {
    let q = Query::parse(raw, filters, true)?;
    let st = sh.lock();
    list(sh, &q, path, &st, None)
}

/// `GET /v3/apps/:guid/<resources>`: one app's list (404 when the app does not exist).
fn list_of_app(
    sh: &Shared,
    guid: String,
    raw: Option<&str>,
    filters: &[&str],
    resources: &str,
    list: ListFn,
) -> ApiResult {
    let q = Query::parse(raw, filters, true)?;
    let st = sh.lock();
    let guid = AppGuid::new(guid);
    st.app(&guid)?;
    list(
        sh,
        &q,
        &format!("/v3/apps/{guid}/{resources}"),
        &st,
        Some(&guid),
    )
}

fn process_list(
    sh: &Shared,
    q: &Query,
    path: &str,
    st: &SimState,
    app: Option<&AppGuid>,
) -> ApiResult {
    let types = q.list("types");
    let apps = q.list("app_guids");
    let spaces = q.list("space_guids");
    let orgs = q.list("organization_guids");
    let items = select(
        q,
        st.processes.values().filter(|p| {
            app.is_none_or(|a| &p.app == a)
                && types.as_ref().is_none_or(|t| t.contains(&p.kind))
                && apps.as_ref().is_none_or(|a| a.contains(p.app.as_str()))
                && (spaces.is_none() && orgs.is_none()
                    || st
                        .apps
                        .get(&p.app)
                        .and_then(|a| st.spaces.get(&a.space))
                        .is_some_and(|s| {
                            spaces.as_ref().is_none_or(|x| x.contains(s.guid.as_str()))
                                && orgs.as_ref().is_none_or(|x| x.contains(s.org.as_str()))
                        }))
        }),
        &["created_at", "updated_at"],
    )?;
    let body = q.paginate_typed(sh.base(), path, &items, |p| {
        render::process_view(sh.base(), st, p, true)
    })?;
    Ok(Json(body).into_response())
}

async fn list_processes(State(sh): State<Shared>, _a: Actor, RawQuery(raw): RawQuery) -> ApiResult {
    list_all(
        &sh,
        raw.as_deref(),
        &[
            "guids",
            "types",
            "app_guids",
            "space_guids",
            "organization_guids",
            "label_selector",
        ],
        "/v3/processes",
        process_list,
    )
}

async fn list_app_processes(
    State(sh): State<Shared>,
    _a: Actor,
    Path(guid): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    list_of_app(
        &sh,
        guid,
        raw.as_deref(),
        &["guids", "types", "label_selector"],
        "processes",
        process_list,
    )
}

fn app_process(st: &SimState, app: &str, kind: &str) -> ApiResult<ProcessGuid> {
    let app = AppGuid::new(app);
    st.app(&app)?;
    st.newest_process(&app, kind)
        .map(|p| p.guid.clone())
        .ok_or_else(|| ApiError::not_found("Process"))
}

async fn get_process(
    State(sh): State<Shared>,
    _a: Actor,
    Path(guid): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let q = Query::parse(raw.as_deref(), &["embed"], false)?;
    let st = sh.lock();
    let p = st.process(&ProcessGuid::new(guid))?;
    let mut body = render::process(sh.base(), &st, p, false);
    if q.get("embed") == Some("process_instances") {
        let inst = render::process_instances(sh.base(), &st, p, sh.now());
        if let Some(obj) = body.as_object_mut() {
            obj.insert(
                "process_instances".into(),
                inst.get("resources").cloned().unwrap_or_default(),
            );
        }
    }
    Ok(ok(body))
}

async fn get_app_process(
    State(sh): State<Shared>,
    _a: Actor,
    Path((app, kind)): Path<(String, String)>,
) -> ApiResult {
    let st = sh.lock();
    let guid = app_process(&st, &app, &kind)?;
    Ok(ok(render::process(
        sh.base(),
        &st,
        st.process(&guid)?,
        false,
    )))
}

#[derive(Debug, Deserialize)]
struct ScaleBody {
    #[serde(default)]
    instances: Option<u32>,
    #[serde(default)]
    memory_in_mb: Option<u64>,
    #[serde(default)]
    disk_in_mb: Option<u64>,
    #[serde(default)]
    log_rate_limit_in_bytes_per_second: Option<i64>,
}

async fn scale(sh: &Shared, guid: ProcessGuid, body: &Bytes) -> ApiResult {
    let req: ScaleBody = parse_body(
        body,
        &[
            "instances",
            "memory_in_mb",
            "disk_in_mb",
            "log_rate_limit_in_bytes_per_second",
        ],
    )?;
    let target = {
        let st = sh.lock();
        let p = st.process(&guid)?;
        let up = req.instances.is_some_and(|n| n > p.instances)
            || req.memory_in_mb.is_some()
            || req.disk_in_mb.is_some();
        if up { st.app_pull_target(&p.app) } else { None }
    };
    let pull = sh.pull_check(target).await;
    let now = sh.now();
    let scale = Scale {
        instances: req.instances,
        memory_in_mb: req.memory_in_mb,
        disk_in_mb: req.disk_in_mb,
        log_rate_limit: req.log_rate_limit_in_bytes_per_second,
    };
    let mut st = sh.lock();
    st.scale_process(now, &guid, scale, &pull)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(render::process(sh.base(), &st, st.process(&guid)?, false)),
    )
        .into_response())
}

async fn scale_process(
    State(sh): State<Shared>,
    _a: Actor,
    Path(guid): Path<String>,
    body: Bytes,
) -> ApiResult {
    scale(&sh, ProcessGuid::new(guid), &body).await
}

async fn scale_app_process(
    State(sh): State<Shared>,
    _a: Actor,
    Path((app, kind)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let guid = app_process(&sh.lock(), &app, &kind)?;
    scale(&sh, guid, &body).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HealthCheckData {
    #[serde(default)]
    timeout: Option<u64>,
    #[serde(default)]
    invocation_timeout: Option<u64>,
    #[serde(default)]
    interval: Option<u64>,
    #[serde(default)]
    endpoint: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HealthCheckBody {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    data: Option<HealthCheckData>,
}

fn health_check(body: HealthCheckBody) -> ApiResult<HealthCheck> {
    let valid: &[&str] = &["http", "port", "process"];
    if !valid.contains(&body.kind.as_str()) {
        return Err(ApiError::unprocessable(format!(
            "Health check type must be one of {valid:?}"
        )));
    }
    let data = body.data.unwrap_or(HealthCheckData {
        timeout: None,
        invocation_timeout: None,
        interval: None,
        endpoint: None,
    });
    Ok(HealthCheck {
        kind: body.kind,
        timeout: data.timeout,
        invocation_timeout: data.invocation_timeout,
        interval: data.interval,
        endpoint: data.endpoint,
    })
}

#[derive(Debug, Deserialize)]
struct ProcessUpdateBody {
    #[serde(default)]
    command: Option<Value>,
    #[serde(default)]
    health_check: Option<HealthCheckBody>,
    #[serde(default)]
    readiness_health_check: Option<HealthCheckBody>,
    #[serde(default)]
    metadata: Option<Value>,
}

async fn update_process_inner(sh: &Shared, guid: ProcessGuid, body: &Bytes) -> ApiResult {
    let raw: Value = serde_json::from_slice(if body.is_empty() { b"{}" } else { body })
        .map_err(|_| ApiError::message_parse("invalid request body"))?;
    let has_command = raw.get("command").is_some();
    let req: ProcessUpdateBody = parse_body(
        body,
        &[
            "command",
            "health_check",
            "readiness_health_check",
            "metadata",
        ],
    )?;
    let command = if has_command {
        match req.command {
            Some(Value::String(c)) if !c.is_empty() => Some(Some(c)),
            Some(Value::Null) | None => Some(None),
            _ => {
                return Err(ApiError::unprocessable(
                    "Command must be between 1 and 4096 characters",
                ));
            }
        }
    } else {
        None
    };
    let update = ProcessUpdate {
        command,
        health_check: req.health_check.map(health_check).transpose()?,
        readiness: req.readiness_health_check.map(health_check).transpose()?,
        metadata: req.metadata,
    };
    let now = sh.now();
    let mut st = sh.lock();
    st.update_process(now, &guid, update)?;
    Ok(ok(render::process(
        sh.base(),
        &st,
        st.process(&guid)?,
        false,
    )))
}

async fn update_process(
    State(sh): State<Shared>,
    _a: Actor,
    Path(guid): Path<String>,
    body: Bytes,
) -> ApiResult {
    update_process_inner(&sh, ProcessGuid::new(guid), &body).await
}

async fn update_app_process(
    State(sh): State<Shared>,
    _a: Actor,
    Path((app, kind)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let guid = app_process(&sh.lock(), &app, &kind)?;
    update_process_inner(&sh, guid, &body).await
}

async fn process_stats(State(sh): State<Shared>, _a: Actor, Path(guid): Path<String>) -> ApiResult {
    let st = sh.lock();
    Ok(ok(render::process_stats(
        &st,
        st.process(&ProcessGuid::new(guid))?,
        sh.now(),
    )))
}

async fn app_process_stats(
    State(sh): State<Shared>,
    _a: Actor,
    Path((app, kind)): Path<(String, String)>,
) -> ApiResult {
    let st = sh.lock();
    let guid = app_process(&st, &app, &kind)?;
    Ok(ok(render::process_stats(&st, st.process(&guid)?, sh.now())))
}

async fn process_instances(
    State(sh): State<Shared>,
    _a: Actor,
    Path(guid): Path<String>,
) -> ApiResult {
    let st = sh.lock();
    Ok(ok(render::process_instances(
        sh.base(),
        &st,
        st.process(&ProcessGuid::new(guid))?,
        sh.now(),
    )))
}

// ---- packages, builds, droplets -------------------------------------------------------------

fn package_list(
    sh: &Shared,
    q: &Query,
    path: &str,
    st: &SimState,
    app: Option<&AppGuid>,
) -> ApiResult {
    let apps = q.list("app_guids");
    let types = q.list("types");
    let states = q.list("states");
    let items = select(
        q,
        st.packages.values().filter(|p| {
            app.is_none_or(|a| &p.app == a)
                && apps.as_ref().is_none_or(|a| a.contains(p.app.as_str()))
                && types.as_ref().is_none_or(|t| t.contains("docker"))
                && states.as_ref().is_none_or(|s| s.contains("READY"))
        }),
        &["created_at", "updated_at"],
    )?;
    Ok(ok(q.paginate(sh.base(), path, &items, |p| {
        render::package(sh.base(), p)
    })?))
}

async fn list_packages(State(sh): State<Shared>, _a: Actor, RawQuery(raw): RawQuery) -> ApiResult {
    list_all(
        &sh,
        raw.as_deref(),
        &[
            "guids",
            "app_guids",
            "types",
            "states",
            "space_guids",
            "organization_guids",
            "label_selector",
        ],
        "/v3/packages",
        package_list,
    )
}

async fn list_app_packages(
    State(sh): State<Shared>,
    _a: Actor,
    Path(guid): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    list_of_app(
        &sh,
        guid,
        raw.as_deref(),
        &["guids", "types", "states", "label_selector"],
        "packages",
        package_list,
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PackageData {
    #[serde(default)]
    image: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PackageRelationships {
    app: ToOne,
}

#[derive(Debug, Deserialize)]
struct PackageCreate {
    #[serde(rename = "type")]
    kind: String,
    relationships: PackageRelationships,
    #[serde(default)]
    data: Option<PackageData>,
    #[serde(default)]
    metadata: Option<Value>,
}

async fn create_package(State(sh): State<Shared>, _a: Actor, body: Bytes) -> ApiResult {
    let req: PackageCreate = parse_body(&body, &["type", "relationships", "data", "metadata"])?;
    if req.kind != "docker" {
        return Err(ApiError::unprocessable(
            "The simulator only supports packages of type 'docker'",
        ));
    }
    let data = req.data.unwrap_or(PackageData {
        image: None,
        username: None,
        password: None,
    });
    let creds = match (data.username, data.password) {
        (Some(u), Some(p)) => Some((u, p)),
        (None, None) => None,
        _ => {
            return Err(ApiError::unprocessable(
                "Data Docker credentials require both a username and a password",
            ));
        }
    };
    let md = metadata_from(req.metadata.as_ref())?;
    let now = sh.now();
    let mut st = sh.lock();
    let app = AppGuid::new(req.relationships.app.data.guid);
    if st.app(&app).is_err() {
        return Err(ApiError::unprocessable("App must exist"));
    }
    let guid = st.create_package(now, &app, data.image.unwrap_or_default(), creds, md)?;
    let pkg = st.packages.get(&guid).ok_or_else(ApiError::server_error)?;
    Ok(created(render::package(sh.base(), pkg)))
}

async fn get_package(State(sh): State<Shared>, _a: Actor, Path(guid): Path<String>) -> ApiResult {
    let st = sh.lock();
    let p = st
        .packages
        .get(&PackageGuid::new(guid))
        .ok_or_else(|| ApiError::not_found("Package"))?;
    Ok(ok(render::package(sh.base(), p)))
}

#[derive(Debug, Deserialize)]
struct PackageUpdate {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    metadata: Option<Value>,
}

async fn update_package(
    State(sh): State<Shared>,
    _a: Actor,
    Path(guid): Path<String>,
    body: Bytes,
) -> ApiResult {
    let req: PackageUpdate = parse_body(&body, &["username", "password", "metadata"])?;
    let now = sh.now();
    let mut st = sh.lock();
    let p = st
        .packages
        .get_mut(&PackageGuid::new(guid))
        .ok_or_else(|| ApiError::not_found("Package"))?;
    if let Some(md) = &req.metadata {
        p.metadata = apply_patch(&p.metadata, md)?;
    }
    if req.username.is_some() {
        p.username = req.username;
    }
    if req.password.is_some() {
        p.password = req.password;
    }
    p.updated_at = now;
    Ok(ok(render::package(sh.base(), p)))
}

fn build_list(
    sh: &Shared,
    q: &Query,
    path: &str,
    st: &SimState,
    app: Option<&AppGuid>,
) -> ApiResult {
    let apps = q.list("app_guids");
    let pkgs = q.list("package_guids");
    let states = q.list("states");
    let items = select(
        q,
        st.builds.values().filter(|b| {
            app.is_none_or(|a| &b.app == a)
                && apps.as_ref().is_none_or(|a| a.contains(b.app.as_str()))
                && pkgs.as_ref().is_none_or(|p| p.contains(b.package.as_str()))
                && states.as_ref().is_none_or(|s| s.contains(b.state.as_str()))
        }),
        &["created_at", "updated_at"],
    )?;
    Ok(ok(q.paginate(sh.base(), path, &items, |b| {
        render::build(sh.base(), b)
    })?))
}

async fn list_builds(State(sh): State<Shared>, _a: Actor, RawQuery(raw): RawQuery) -> ApiResult {
    list_all(
        &sh,
        raw.as_deref(),
        &[
            "guids",
            "app_guids",
            "package_guids",
            "states",
            "label_selector",
        ],
        "/v3/builds",
        build_list,
    )
}

async fn list_app_builds(
    State(sh): State<Shared>,
    _a: Actor,
    Path(guid): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    list_of_app(
        &sh,
        guid,
        raw.as_deref(),
        &["states", "label_selector"],
        "builds",
        build_list,
    )
}

#[derive(Debug, Deserialize)]
struct BuildCreate {
    package: GuidRef,
    #[serde(default)]
    metadata: Option<Value>,
}

async fn create_build(State(sh): State<Shared>, actor: Actor, body: Bytes) -> ApiResult {
    let req: BuildCreate = parse_body(
        &body,
        &[
            "package",
            "lifecycle",
            "staging_memory_in_mb",
            "staging_disk_in_mb",
            "staging_log_rate_limit_bytes_per_second",
            "metadata",
        ],
    )?;
    let md = metadata_from(req.metadata.as_ref())?;
    let package = PackageGuid::new(req.package.guid);
    let (image, creds) = sh.lock().check_build(&package)?;
    let outcome = match sh.resolve(&image, creds.as_ref()).await {
        Ok(digest) => StagingOutcome::Digest(digest),
        Err(error) => StagingOutcome::Error(error),
    };
    let now = sh.now();
    let mut st = sh.lock();
    let guid = st.create_build(now, &actor, &package, outcome, md, false)?;
    let b = st.builds.get(&guid).ok_or_else(ApiError::server_error)?;
    Ok(created(render::build(sh.base(), b)))
}

async fn get_build(State(sh): State<Shared>, _a: Actor, Path(guid): Path<String>) -> ApiResult {
    let st = sh.lock();
    let b = st
        .builds
        .get(&BuildGuid::new(guid))
        .ok_or_else(|| ApiError::not_found("Build"))?;
    Ok(ok(render::build(sh.base(), b)))
}

fn droplet_list(
    sh: &Shared,
    q: &Query,
    path: &str,
    st: &SimState,
    app: Option<&AppGuid>,
) -> ApiResult {
    let apps = q.list("app_guids");
    let states = q.list("states");
    let current = q.get("current") == Some("true");
    let items = select(
        q,
        st.droplets.values().filter(|d| {
            app.is_none_or(|a| &d.app == a)
                && apps.as_ref().is_none_or(|a| a.contains(d.app.as_str()))
                && states.as_ref().is_none_or(|s| s.contains("STAGED"))
                && (!current
                    || st
                        .apps
                        .get(&d.app)
                        .is_some_and(|a| a.current_droplet.as_ref() == Some(&d.guid)))
        }),
        &["created_at", "updated_at"],
    )?;
    let body = q.paginate_typed(sh.base(), path, &items, |d| {
        render::droplet_view(sh.base(), d)
    })?;
    Ok(Json(body).into_response())
}

async fn list_droplets(State(sh): State<Shared>, _a: Actor, RawQuery(raw): RawQuery) -> ApiResult {
    list_all(
        &sh,
        raw.as_deref(),
        &[
            "guids",
            "app_guids",
            "states",
            "space_guids",
            "organization_guids",
            "label_selector",
        ],
        "/v3/droplets",
        droplet_list,
    )
}

async fn list_app_droplets(
    State(sh): State<Shared>,
    _a: Actor,
    Path(guid): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    list_of_app(
        &sh,
        guid,
        raw.as_deref(),
        &["guids", "states", "current", "label_selector"],
        "droplets",
        droplet_list,
    )
}

async fn get_droplet(State(sh): State<Shared>, _a: Actor, Path(guid): Path<String>) -> ApiResult {
    let st = sh.lock();
    let d = st
        .droplets
        .get(&DropletGuid::new(guid))
        .ok_or_else(|| ApiError::not_found("Droplet"))?;
    Ok(ok(render::droplet(sh.base(), d)))
}

// ---- deployments and revisions --------------------------------------------------------------

async fn list_deployments(
    State(sh): State<Shared>,
    _a: Actor,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let q = Query::parse(
        raw.as_deref(),
        &[
            "guids",
            "app_guids",
            "states",
            "status_values",
            "status_reasons",
            "label_selector",
        ],
        true,
    )?;
    let apps = q.list("app_guids");
    let values = q.list("status_values");
    let reasons = q.list("status_reasons");
    let st = sh.lock();
    let items = select(
        &q,
        st.deployments.values().filter(|d| {
            apps.as_ref().is_none_or(|a| a.contains(d.app.as_str()))
                && values.as_ref().is_none_or(|v| v.contains(d.status.value()))
                && reasons
                    .as_ref()
                    .is_none_or(|r| r.contains(d.status.reason()))
        }),
        &["created_at", "updated_at"],
    )?;
    Ok(ok(q.paginate(
        sh.base(),
        "/v3/deployments",
        &items,
        |d| render::deployment(sh.base(), &st, d),
    )?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CanaryStep {
    instance_weight: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CanaryOptions {
    #[serde(default)]
    steps: Vec<CanaryStep>,
}

#[derive(Debug, Deserialize)]
struct DeploymentOptions {
    #[serde(default)]
    max_in_flight: Option<u32>,
    #[serde(default)]
    canary: Option<CanaryOptions>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeploymentRelationships {
    app: ToOne,
}

#[derive(Debug, Deserialize)]
struct DeploymentCreate {
    #[serde(default)]
    droplet: Option<GuidRef>,
    #[serde(default)]
    revision: Option<GuidRef>,
    #[serde(default)]
    strategy: Option<String>,
    #[serde(default)]
    options: Option<DeploymentOptions>,
    relationships: DeploymentRelationships,
    #[serde(default)]
    metadata: Option<Value>,
}

async fn create_deployment(State(sh): State<Shared>, _a: Actor, body: Bytes) -> ApiResult {
    let req: DeploymentCreate = parse_body(
        &body,
        &[
            "droplet",
            "revision",
            "strategy",
            "options",
            "relationships",
            "metadata",
        ],
    )?;
    let strategy = match req.strategy.as_deref() {
        None | Some("rolling") => Strategy::Rolling,
        Some("canary") => Strategy::Canary,
        Some(other) => {
            return Err(ApiError::unprocessable(format!(
                "Strategy '{other}' is not a supported deployment strategy"
            )));
        }
    };
    if req.droplet.is_some() && req.revision.is_some() {
        return Err(ApiError::unprocessable(
            "Cannot set both fields 'droplet' and 'revision'",
        ));
    }
    let options = req.options.unwrap_or(DeploymentOptions {
        max_in_flight: None,
        canary: None,
    });
    let new = NewDeployment {
        app: AppGuid::new(req.relationships.app.data.guid),
        droplet: req.droplet.map(|d| DropletGuid::new(d.guid)),
        revision: req.revision.map(|r| RevisionGuid::new(r.guid)),
        strategy,
        max_in_flight: options.max_in_flight.unwrap_or(1),
        canary_steps: options
            .canary
            .map(|c| c.steps.into_iter().map(|s| s.instance_weight).collect())
            .unwrap_or_default(),
        metadata: metadata_from(req.metadata.as_ref())?,
    };
    let target = {
        let st = sh.lock();
        let droplet = st.deployment_droplet(&new)?;
        st.pull_target(&droplet)
    };
    let pull = sh.pull_check(target).await;
    let now = sh.now();
    let mut st = sh.lock();
    let guid = st.create_deployment(now, new, &pull)?;
    let d = st
        .deployments
        .get(&guid)
        .ok_or_else(ApiError::server_error)?;
    Ok(created(render::deployment(sh.base(), &st, d)))
}

async fn get_deployment(
    State(sh): State<Shared>,
    _a: Actor,
    Path(guid): Path<String>,
) -> ApiResult {
    let st = sh.lock();
    let d = st
        .deployments
        .get(&DeploymentGuid::new(guid))
        .ok_or_else(|| ApiError::not_found("Deployment"))?;
    Ok(ok(render::deployment(sh.base(), &st, d)))
}

async fn update_deployment(
    State(sh): State<Shared>,
    _a: Actor,
    Path(guid): Path<String>,
    body: Bytes,
) -> ApiResult {
    let req: NameMetadataUpdate = parse_body(&body, &["metadata"])?;
    let now = sh.now();
    let mut st = sh.lock();
    let guid = DeploymentGuid::new(guid);
    let d = st
        .deployments
        .get_mut(&guid)
        .ok_or_else(|| ApiError::not_found("Deployment"))?;
    if let Some(md) = &req.metadata {
        d.metadata = apply_patch(&d.metadata, md)?;
    }
    d.updated_at = now;
    let d = st
        .deployments
        .get(&guid)
        .ok_or_else(ApiError::server_error)?;
    Ok(ok(render::deployment(sh.base(), &st, d)))
}

async fn cancel_deployment(
    State(sh): State<Shared>,
    _a: Actor,
    Path(guid): Path<String>,
) -> ApiResult {
    let now = sh.now();
    sh.lock()
        .cancel_deployment(now, &DeploymentGuid::new(guid))?;
    Ok(StatusCode::OK.into_response())
}

async fn continue_deployment(
    State(sh): State<Shared>,
    _a: Actor,
    Path(guid): Path<String>,
) -> ApiResult {
    let now = sh.now();
    sh.lock()
        .continue_deployment(now, &DeploymentGuid::new(guid))?;
    Ok(StatusCode::OK.into_response())
}

async fn list_app_revisions(
    State(sh): State<Shared>,
    _a: Actor,
    Path(guid): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let q = Query::parse(raw.as_deref(), &["versions", "label_selector"], true)?;
    let versions = q.list("versions");
    let st = sh.lock();
    let guid = AppGuid::new(guid);
    st.app(&guid)?;
    let items = select(
        &q,
        st.revisions.values().filter(|r| {
            r.app == guid
                && versions
                    .as_ref()
                    .is_none_or(|v| v.contains(&r.version.to_string()))
        }),
        &["created_at", "updated_at"],
    )?;
    Ok(ok(q.paginate(
        sh.base(),
        &format!("/v3/apps/{guid}/revisions"),
        &items,
        |r| render::revision(sh.base(), r),
    )?))
}

async fn list_deployed_revisions(
    State(sh): State<Shared>,
    _a: Actor,
    Path(guid): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let q = Query::parse(raw.as_deref(), &[], true)?;
    let st = sh.lock();
    let guid = AppGuid::new(guid);
    st.app(&guid)?;
    let running: BTreeSet<&RevisionGuid> = st
        .processes
        .values()
        .filter(|p| p.app == guid)
        .filter_map(|p| p.revision.as_ref())
        .collect();
    let items = select(
        &q,
        st.revisions.values().filter(|r| running.contains(&r.guid)),
        &["created_at", "updated_at"],
    )?;
    Ok(ok(q.paginate(
        sh.base(),
        &format!("/v3/apps/{guid}/revisions/deployed"),
        &items,
        |r| render::revision(sh.base(), r),
    )?))
}

async fn get_revision(State(sh): State<Shared>, _a: Actor, Path(guid): Path<String>) -> ApiResult {
    let st = sh.lock();
    let r = st
        .revisions
        .get(&RevisionGuid::new(guid))
        .ok_or_else(|| ApiError::not_found("Revision"))?;
    Ok(ok(render::revision(sh.base(), r)))
}

async fn revision_env(State(sh): State<Shared>, _a: Actor, Path(guid): Path<String>) -> ApiResult {
    let st = sh.lock();
    let r = st
        .revisions
        .get(&RevisionGuid::new(guid))
        .ok_or_else(|| ApiError::not_found("Revision"))?;
    Ok(ok(json!({
        "var": r.env,
        "links": {
            "self": {"href": format!("{}/v3/revisions/{}/environment_variables", sh.base(), r.guid)},
            "revision": {"href": format!("{}/v3/revisions/{}", sh.base(), r.guid)},
            "app": {"href": format!("{}/v3/apps/{}", sh.base(), r.app)},
        },
    })))
}

// ---- jobs and feature flags -----------------------------------------------------------------

async fn get_job(State(sh): State<Shared>, _a: Actor, Path(guid): Path<String>) -> ApiResult {
    let st = sh.lock();
    let j = st
        .jobs
        .get(&JobGuid::new(guid))
        .ok_or_else(|| ApiError::not_found("Job"))?;
    Ok(ok(render::job(sh.base(), j)))
}

async fn list_feature_flags(
    State(sh): State<Shared>,
    _a: Actor,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let q = Query::parse(raw.as_deref(), &["names", "updated_ats"], true)?;
    let names = q.list("names");
    let st = sh.lock();
    let items: Vec<_> = st
        .feature_flags
        .values()
        .filter(|f| names.as_ref().is_none_or(|n| n.contains(&f.name)))
        .collect();
    Ok(ok(q.paginate(
        sh.base(),
        "/v3/feature_flags",
        &items,
        |f| render::feature_flag(sh.base(), f),
    )?))
}

async fn get_feature_flag(
    State(sh): State<Shared>,
    _a: Actor,
    Path(name): Path<String>,
) -> ApiResult {
    let st = sh.lock();
    let f = st
        .feature_flags
        .get(&name)
        .ok_or_else(|| ApiError::not_found("Feature flag"))?;
    Ok(ok(render::feature_flag(sh.base(), f)))
}

#[derive(Debug, Deserialize)]
struct FlagUpdate {
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    custom_error_message: Option<Value>,
}

async fn update_feature_flag(
    State(sh): State<Shared>,
    actor: Actor,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult {
    require_admin(&actor)?;
    let req: FlagUpdate = parse_body(&body, &["enabled", "custom_error_message"])?;
    let message = match req.custom_error_message {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(s)) => Some(Some(s)),
        Some(_) => {
            return Err(ApiError::unprocessable(
                "Custom error message must be a string",
            ));
        }
    };
    let now = sh.now();
    let mut st = sh.lock();
    st.set_feature_flag(now, &name, req.enabled, message)?;
    let f = st
        .feature_flags
        .get(&name)
        .ok_or_else(ApiError::server_error)?;
    Ok(ok(render::feature_flag(sh.base(), f)))
}

/// The v3, UAA and discovery routes.
pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route("/", get(root))
        .route("/v3", get(root_v3))
        .route("/v3/", get(root_v3))
        .route("/v3/info", get(info))
        .route("/uaa/oauth/token", post(token))
        .route("/v3/organizations", get(list_orgs).post(create_org))
        .route("/v3/organizations/{guid}", get(get_org).patch(update_org))
        .route("/v3/spaces", get(list_spaces).post(create_space))
        .route("/v3/spaces/{guid}", get(get_space).patch(update_space))
        .route("/v3/apps", get(list_apps).post(create_app))
        .route(
            "/v3/apps/{guid}",
            get(get_app).patch(update_app).delete(delete_app),
        )
        .route("/v3/apps/{guid}/actions/start", post(start_app))
        .route("/v3/apps/{guid}/actions/stop", post(stop_app))
        .route("/v3/apps/{guid}/actions/restart", post(restart_app))
        .route(
            "/v3/apps/{guid}/environment_variables",
            get(get_env_vars).patch(patch_env_vars),
        )
        .route("/v3/apps/{guid}/env", get(get_app_env))
        .route("/v3/apps/{guid}/processes", get(list_app_processes))
        .route(
            "/v3/apps/{guid}/processes/{kind}",
            get(get_app_process).patch(update_app_process),
        )
        .route(
            "/v3/apps/{guid}/processes/{kind}/actions/scale",
            post(scale_app_process),
        )
        .route(
            "/v3/apps/{guid}/processes/{kind}/stats",
            get(app_process_stats),
        )
        .route("/v3/apps/{guid}/packages", get(list_app_packages))
        .route("/v3/apps/{guid}/builds", get(list_app_builds))
        .route("/v3/apps/{guid}/droplets", get(list_app_droplets))
        .route("/v3/apps/{guid}/droplets/current", get(current_droplet))
        .route(
            "/v3/apps/{guid}/relationships/current_droplet",
            get(get_current_droplet_rel).patch(set_current_droplet),
        )
        .route("/v3/apps/{guid}/revisions", get(list_app_revisions))
        .route(
            "/v3/apps/{guid}/revisions/deployed",
            get(list_deployed_revisions),
        )
        .route("/v3/processes", get(list_processes))
        .route(
            "/v3/processes/{guid}",
            get(get_process).patch(update_process),
        )
        .route("/v3/processes/{guid}/actions/scale", post(scale_process))
        .route("/v3/processes/{guid}/stats", get(process_stats))
        .route(
            "/v3/processes/{guid}/process_instances",
            get(process_instances),
        )
        .route("/v3/packages", get(list_packages).post(create_package))
        .route(
            "/v3/packages/{guid}",
            get(get_package).patch(update_package),
        )
        .route("/v3/builds", get(list_builds).post(create_build))
        .route("/v3/builds/{guid}", get(get_build))
        .route("/v3/droplets", get(list_droplets))
        .route("/v3/droplets/{guid}", get(get_droplet))
        .route(
            "/v3/deployments",
            get(list_deployments).post(create_deployment),
        )
        .route(
            "/v3/deployments/{guid}",
            get(get_deployment).patch(update_deployment),
        )
        .route(
            "/v3/deployments/{guid}/actions/cancel",
            post(cancel_deployment),
        )
        .route(
            "/v3/deployments/{guid}/actions/continue",
            post(continue_deployment),
        )
        .route("/v3/revisions/{guid}", get(get_revision))
        .route(
            "/v3/revisions/{guid}/environment_variables",
            get(revision_env),
        )
        .route("/v3/jobs/{guid}", get(get_job))
        .route("/v3/feature_flags", get(list_feature_flags))
        .route(
            "/v3/feature_flags/{name}",
            get(get_feature_flag).patch(update_feature_flag),
        )
}
