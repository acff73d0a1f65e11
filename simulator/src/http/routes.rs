//! Domains, routes and route destinations (v3): enough for `cf push`-style route mapping.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use serde::Deserialize;
use serde_json::Value;

use super::v3::{Listable, select};
use super::{Shared, parse_body};
use crate::error::ApiError;
use crate::ids::{AppGuid, DomainGuid, OrgGuid, RouteGuid, SpaceGuid};
use crate::labels::{Metadata, apply_patch};
use crate::model::{Actor, Domain, Route};
use crate::query::Query;
use crate::render;
use crate::state::{NewDestination, NewRoute};

type ApiResult = Result<Response, ApiError>;

impl Listable for Domain {
    fn guid_str(&self) -> &str {
        self.guid.as_str()
    }
    fn seq(&self) -> u64 {
        self.seq
    }
    fn created(&self) -> chrono::DateTime<chrono::Utc> {
        self.created_at
    }
    fn updated(&self) -> chrono::DateTime<chrono::Utc> {
        self.updated_at
    }
    fn name_str(&self) -> &str {
        &self.name
    }
    fn meta(&self) -> &Metadata {
        &self.metadata
    }
}

impl Listable for Route {
    fn guid_str(&self) -> &str {
        self.guid.as_str()
    }
    fn seq(&self) -> u64 {
        self.seq
    }
    fn created(&self) -> chrono::DateTime<chrono::Utc> {
        self.created_at
    }
    fn updated(&self) -> chrono::DateTime<chrono::Utc> {
        self.updated_at
    }
    fn meta(&self) -> &Metadata {
        &self.metadata
    }
}

async fn list_domains(State(sh): State<Shared>, _a: Actor, RawQuery(raw): RawQuery) -> ApiResult {
    let q = Query::parse(
        raw.as_deref(),
        &["names", "guids", "organization_guids", "label_selector"],
        true,
    )?;
    let names = q.list("names");
    let st = sh.lock();
    let items = select(
        &q,
        // Shared domains belong to every organization.
        st.domains
            .values()
            .filter(|d| names.as_ref().is_none_or(|n| n.contains(&d.name))),
        &["created_at", "updated_at", "name"],
    )?;
    Ok(Json(q.paginate(sh.base(), "/v3/domains", &items, |d| {
        render::domain(sh.base(), d)
    })?)
    .into_response())
}

async fn get_domain(State(sh): State<Shared>, _a: Actor, Path(guid): Path<String>) -> ApiResult {
    let st = sh.lock();
    let d = st
        .domains
        .get(&DomainGuid::new(guid))
        .ok_or_else(|| ApiError::not_found("Domain"))?;
    Ok(Json(render::domain(sh.base(), d)).into_response())
}

async fn org_default_domain(
    State(sh): State<Shared>,
    _a: Actor,
    Path(org): Path<String>,
) -> ApiResult {
    let st = sh.lock();
    if !st.orgs.contains_key(&OrgGuid::new(org)) {
        return Err(ApiError::not_found("Organization"));
    }
    let d = st
        .default_domain()
        .ok_or_else(|| ApiError::not_found("Domain"))?;
    Ok(Json(render::domain(sh.base(), d)).into_response())
}

async fn org_domains(
    State(sh): State<Shared>,
    _a: Actor,
    Path(org): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let q = Query::parse(raw.as_deref(), &["names", "guids", "label_selector"], true)?;
    let org = OrgGuid::new(org);
    let st = sh.lock();
    if !st.orgs.contains_key(&org) {
        return Err(ApiError::not_found("Organization"));
    }
    let items = select(
        &q,
        st.domains.values(),
        &["created_at", "updated_at", "name"],
    )?;
    let path = format!("/v3/organizations/{org}/domains");
    Ok(
        Json(q.paginate(sh.base(), &path, &items, |d| render::domain(sh.base(), d))?)
            .into_response(),
    )
}

const ROUTE_FILTERS: &[&str] = &[
    "guids",
    "hosts",
    "paths",
    "domain_guids",
    "space_guids",
    "organization_guids",
    "app_guids",
    "label_selector",
];

fn route_list(sh: &Shared, q: &Query, path: &str, app: Option<&AppGuid>) -> ApiResult {
    let hosts = q.list("hosts");
    let paths = q.list("paths");
    let domains = q.list("domain_guids");
    let spaces = q.list("space_guids");
    let orgs = q.list("organization_guids");
    let apps = q.list("app_guids");
    let st = sh.lock();
    let items = select(
        q,
        st.routes.values().filter(|r| {
            hosts.as_ref().is_none_or(|h| h.contains(&r.host))
                && paths.as_ref().is_none_or(|p| p.contains(&r.path))
                && domains
                    .as_ref()
                    .is_none_or(|d| d.contains(r.domain.as_str()))
                && spaces.as_ref().is_none_or(|s| s.contains(r.space.as_str()))
                && orgs.as_ref().is_none_or(|o| {
                    st.spaces
                        .get(&r.space)
                        .is_some_and(|s| o.contains(s.org.as_str()))
                })
                && apps
                    .as_ref()
                    .is_none_or(|a| r.destinations.iter().any(|d| a.contains(d.app.as_str())))
                && app.is_none_or(|a| r.destinations.iter().any(|d| &d.app == a))
        }),
        &["created_at", "updated_at"],
    )?;
    Ok(Json(q.paginate(sh.base(), path, &items, |r| {
        render::route(sh.base(), &st, r)
    })?)
    .into_response())
}

async fn list_routes(State(sh): State<Shared>, _a: Actor, RawQuery(raw): RawQuery) -> ApiResult {
    let q = Query::parse(raw.as_deref(), ROUTE_FILTERS, true)?;
    route_list(&sh, &q, "/v3/routes", None)
}

async fn app_routes(
    State(sh): State<Shared>,
    _a: Actor,
    Path(app): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let q = Query::parse(
        raw.as_deref(),
        &["guids", "hosts", "paths", "domain_guids", "label_selector"],
        true,
    )?;
    let app = AppGuid::new(app);
    sh.lock().app(&app)?;
    route_list(&sh, &q, &format!("/v3/apps/{app}/routes"), Some(&app))
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteRelationships {
    domain: ToOne,
    space: ToOne,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteOptions {
    #[serde(default)]
    loadbalancing: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RouteCreate {
    #[serde(default)]
    host: Option<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    port: Option<u16>,
    relationships: RouteRelationships,
    #[serde(default)]
    options: Option<RouteOptions>,
    #[serde(default)]
    metadata: Option<Value>,
}

async fn create_route(State(sh): State<Shared>, _a: Actor, body: Bytes) -> ApiResult {
    let req: RouteCreate = parse_body(
        &body,
        &[
            "host",
            "path",
            "port",
            "relationships",
            "options",
            "metadata",
        ],
    )?;
    if req.port.is_some() {
        return Err(ApiError::unprocessable(
            "Routes with protocol 'http' do not support ports (TCP routes are not simulated)",
        ));
    }
    let md = match &req.metadata {
        Some(m) => apply_patch(&Metadata::default(), m)?,
        None => Metadata::default(),
    };
    let now = sh.now();
    let mut st = sh.lock();
    let new = NewRoute {
        space: SpaceGuid::new(req.relationships.space.data.guid),
        domain: DomainGuid::new(req.relationships.domain.data.guid),
        host: req.host.unwrap_or_default(),
        path: req.path.unwrap_or_default(),
        loadbalancing: req.options.and_then(|o| o.loadbalancing),
        metadata: md,
    };
    let guid = st.create_route(now, new)?;
    let r = st.routes.get(&guid).ok_or_else(ApiError::server_error)?;
    Ok((StatusCode::CREATED, Json(render::route(sh.base(), &st, r))).into_response())
}

async fn get_route(State(sh): State<Shared>, _a: Actor, Path(guid): Path<String>) -> ApiResult {
    let st = sh.lock();
    let r = st
        .routes
        .get(&RouteGuid::new(guid))
        .ok_or_else(|| ApiError::not_found("Route"))?;
    Ok(Json(render::route(sh.base(), &st, r)).into_response())
}

#[derive(Debug, Deserialize)]
struct RouteUpdate {
    #[serde(default)]
    options: Option<RouteOptions>,
    #[serde(default)]
    metadata: Option<Value>,
}

async fn update_route(
    State(sh): State<Shared>,
    _a: Actor,
    Path(guid): Path<String>,
    body: Bytes,
) -> ApiResult {
    let req: RouteUpdate = parse_body(&body, &["options", "metadata"])?;
    let now = sh.now();
    let mut st = sh.lock();
    let guid = RouteGuid::new(guid);
    let r = st
        .routes
        .get_mut(&guid)
        .ok_or_else(|| ApiError::not_found("Route"))?;
    if let Some(md) = &req.metadata {
        r.metadata = apply_patch(&r.metadata, md)?;
    }
    if let Some(o) = req.options {
        r.loadbalancing = o.loadbalancing;
    }
    r.updated_at = now;
    let r = st.routes.get(&guid).ok_or_else(ApiError::server_error)?;
    Ok(Json(render::route(sh.base(), &st, r)).into_response())
}

async fn delete_route(State(sh): State<Shared>, _a: Actor, Path(guid): Path<String>) -> ApiResult {
    let now = sh.now();
    let job = sh.lock().delete_route(now, &RouteGuid::new(guid))?;
    let mut resp = StatusCode::ACCEPTED.into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("{}/v3/jobs/{job}", sh.base())) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

async fn get_destinations(
    State(sh): State<Shared>,
    _a: Actor,
    Path(guid): Path<String>,
) -> ApiResult {
    let st = sh.lock();
    let r = st
        .routes
        .get(&RouteGuid::new(guid))
        .ok_or_else(|| ApiError::not_found("Route"))?;
    Ok(Json(render::destinations(sh.base(), r)).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProcessRef {
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DestinationApp {
    guid: String,
    #[serde(default)]
    process: Option<ProcessRef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DestinationBody {
    app: DestinationApp,
    #[serde(default)]
    port: Option<u16>,
    #[serde(default)]
    protocol: Option<String>,
    #[serde(default)]
    weight: Option<u32>,
}

#[derive(Debug, Deserialize)]
struct DestinationsBody {
    destinations: Vec<DestinationBody>,
}

async fn write_destinations(sh: &Shared, guid: String, body: &Bytes, replace: bool) -> ApiResult {
    let req: DestinationsBody = parse_body(body, &["destinations"])?;
    if !replace && req.destinations.iter().any(|d| d.weight.is_some()) {
        return Err(ApiError::unprocessable(
            "Destinations cannot contain weight when inserting",
        ));
    }
    let new = req
        .destinations
        .into_iter()
        .map(|d| NewDestination {
            app: AppGuid::new(d.app.guid),
            process_type: d.app.process.map_or_else(|| "web".to_owned(), |p| p.kind),
            port: d.port,
            protocol: d.protocol,
            weight: d.weight,
        })
        .collect();
    let now = sh.now();
    let guid = RouteGuid::new(guid);
    let mut st = sh.lock();
    st.set_destinations(now, &guid, new, replace)?;
    let r = st.routes.get(&guid).ok_or_else(ApiError::server_error)?;
    Ok(Json(render::destinations(sh.base(), r)).into_response())
}

async fn insert_destinations(
    State(sh): State<Shared>,
    _a: Actor,
    Path(guid): Path<String>,
    body: Bytes,
) -> ApiResult {
    write_destinations(&sh, guid, &body, false).await
}

async fn replace_destinations(
    State(sh): State<Shared>,
    _a: Actor,
    Path(guid): Path<String>,
    body: Bytes,
) -> ApiResult {
    write_destinations(&sh, guid, &body, true).await
}

async fn remove_destination(
    State(sh): State<Shared>,
    _a: Actor,
    Path((guid, dest)): Path<(String, String)>,
) -> ApiResult {
    let now = sh.now();
    sh.lock()
        .remove_destination(now, &RouteGuid::new(guid), &dest)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Domain and route routes.
pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route("/v3/domains", get(list_domains))
        .route("/v3/domains/{guid}", get(get_domain))
        .route("/v3/organizations/{guid}/domains", get(org_domains))
        .route(
            "/v3/organizations/{guid}/domains/default",
            get(org_default_domain),
        )
        .route("/v3/routes", get(list_routes).post(create_route))
        .route(
            "/v3/routes/{guid}",
            get(get_route).patch(update_route).delete(delete_route),
        )
        .route(
            "/v3/routes/{guid}/destinations",
            get(get_destinations)
                .post(insert_destinations)
                .patch(replace_destinations),
        )
        .route(
            "/v3/routes/{guid}/destinations/{destination}",
            delete(remove_destination),
        )
        .route("/v3/apps/{guid}/routes", get(app_routes))
}
