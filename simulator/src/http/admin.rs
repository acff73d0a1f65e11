//! `/_sim/`: introspection (request counts, a state dump) and the mutations a person with the
//! cf CLI would make (scale, set-env, stop, push another image, delete), so tests can create
//! drift. The same operations are methods on `SimHandle`.

use std::collections::BTreeMap;
use std::sync::PoisonError;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Shared, parse_body};
use crate::error::ApiError;
use crate::ids::AppGuid;
use crate::state::Scale;

impl Shared {
    pub fn request_counts(&self) -> BTreeMap<String, u64> {
        self.0
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn request_log(&self) -> Vec<super::LoggedRequest> {
        self.0
            .log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn reset_request_counts(&self) {
        self.0
            .log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.0
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    pub fn dump(&self) -> Value {
        let st = self.lock();
        json!({
            "now": crate::clock::cf_time(self.now()),
            "organizations": st.orgs.values().collect::<Vec<_>>(),
            "spaces": st.spaces.values().collect::<Vec<_>>(),
            "apps": st.apps.values().collect::<Vec<_>>(),
            "processes": st.processes.values().collect::<Vec<_>>(),
            "packages": st.packages.values().collect::<Vec<_>>(),
            "builds": st.builds.values().collect::<Vec<_>>(),
            "droplets": st.droplets.values().collect::<Vec<_>>(),
            "deployments": st.deployments.values().collect::<Vec<_>>(),
            "revisions": st.revisions.values().collect::<Vec<_>>(),
            "jobs": st.jobs.values().collect::<Vec<_>>(),
            "feature_flags": st.feature_flags.values().collect::<Vec<_>>(),
        })
    }

    pub fn find_app(&self, org: &str, space: &str, name: &str) -> Result<AppGuid, ApiError> {
        self.lock()
            .find_app(org, space, name)
            .map(|a| a.guid.clone())
            .ok_or_else(|| ApiError::not_found("App"))
    }

    /// `cf scale -i N` on the web process.
    pub async fn sim_scale(&self, app: &AppGuid, instances: u32) -> Result<(), ApiError> {
        let (process, target) = {
            let st = self.lock();
            let p = st
                .newest_process(app, "web")
                .ok_or_else(|| ApiError::not_found("Process"))?;
            (p.guid.clone(), st.app_pull_target(app))
        };
        let pull = self.pull_check(target).await;
        let now = self.now();
        self.lock().scale_process(
            now,
            &process,
            Scale {
                instances: Some(instances),
                ..Scale::default()
            },
            &pull,
        )
    }

    /// `cf set-env` / `cf unset-env` (`None`).
    pub fn sim_set_env(
        &self,
        app: &AppGuid,
        key: &str,
        value: Option<&str>,
    ) -> Result<(), ApiError> {
        let mut patch = serde_json::Map::new();
        patch.insert(
            key.to_owned(),
            value.map_or(Value::Null, |v| Value::String(v.to_owned())),
        );
        let now = self.now();
        self.lock().patch_env(now, app, &patch).map(|_| ())
    }

    /// `cf stop`.
    pub fn sim_stop(&self, app: &AppGuid) -> Result<(), ApiError> {
        let now = self.now();
        self.lock().stop_app(now, app)
    }

    /// `cf push --docker-image IMAGE` of an existing app: stage (resolving the digest if the
    /// registry answers), make it current, restart.
    pub async fn sim_push(&self, app: &AppGuid, image: &str) -> Result<(), ApiError> {
        self.lock().app(app)?;
        let digest = self.resolve(image, None).await.ok();
        let now = self.now();
        let target = {
            let mut st = self.lock();
            let droplet = st.staged_droplet(now, app, image.to_owned(), digest)?;
            st.set_current_droplet(now, app, &droplet)?;
            st.pull_target(&droplet)
        };
        let pull = self.pull_check(target).await;
        let now = self.now();
        self.lock().restart_app(now, app, &pull)
    }

    /// `cf delete -f`: immediate.
    pub fn sim_delete(&self, app: &AppGuid) -> Result<(), ApiError> {
        let mut st = self.lock();
        st.app(app)?;
        st.purge_app(app);
        Ok(())
    }

    pub fn sim_create_space(&self, org: &str, space: &str) -> Result<(String, String), ApiError> {
        let now = self.now();
        let mut st = self.lock();
        let org_guid = match st.orgs.values().find(|o| o.name == org) {
            Some(o) => o.guid.clone(),
            None => st.create_org(now, org, crate::labels::Metadata::default())?,
        };
        let space_guid =
            st.create_space(now, &org_guid, space, crate::labels::Metadata::default())?;
        Ok((org_guid.to_string(), space_guid.to_string()))
    }

    pub fn sim_image_health(&self, pattern: &str, healthy: bool) {
        let mut st = self.lock();
        if healthy {
            st.unhealthy_images.remove(pattern);
        } else {
            st.unhealthy_images.insert(pattern.to_owned());
        }
    }

    /// `cf enable-feature-flag` / `cf disable-feature-flag`.
    pub fn sim_feature_flag(&self, name: &str, enabled: bool) -> Result<(), ApiError> {
        let now = self.now();
        self.lock().set_feature_flag(now, name, Some(enabled), None)
    }
}

async fn requests(State(sh): State<Shared>) -> Response {
    let counts = sh.request_counts();
    let total: u64 = counts.values().sum();
    Json(json!({"total": total, "counts": counts})).into_response()
}

async fn request_log(State(sh): State<Shared>) -> Response {
    Json(json!({"requests": sh.request_log()})).into_response()
}

async fn reset_requests(State(sh): State<Shared>) -> Response {
    sh.reset_request_counts();
    StatusCode::NO_CONTENT.into_response()
}

async fn state(State(sh): State<Shared>) -> Response {
    Json(sh.dump()).into_response()
}

#[derive(Debug, Deserialize)]
struct ScaleBody {
    instances: u32,
}

async fn scale(
    State(sh): State<Shared>,
    Path((org, space, name)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: ScaleBody = parse_body(&body, &["instances"])?;
    let app = sh.find_app(&org, &space, &name)?;
    sh.sim_scale(&app, req.instances).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Debug, Deserialize)]
struct EnvBody {
    var: BTreeMap<String, Option<String>>,
}

async fn env(
    State(sh): State<Shared>,
    Path((org, space, name)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: EnvBody = parse_body(&body, &["var"])?;
    let app = sh.find_app(&org, &space, &name)?;
    for (k, v) in &req.var {
        sh.sim_set_env(&app, k, v.as_deref())?;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn stop(
    State(sh): State<Shared>,
    Path((org, space, name)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let app = sh.find_app(&org, &space, &name)?;
    sh.sim_stop(&app)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Debug, Deserialize)]
struct PushBody {
    image: String,
}

async fn push(
    State(sh): State<Shared>,
    Path((org, space, name)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: PushBody = parse_body(&body, &["image"])?;
    let app = sh.find_app(&org, &space, &name)?;
    sh.sim_push(&app, &req.image).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn remove(
    State(sh): State<Shared>,
    Path((org, space, name)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let app = sh.find_app(&org, &space, &name)?;
    sh.sim_delete(&app)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Debug, Deserialize)]
struct FlagBody {
    enabled: bool,
}

async fn flag(
    State(sh): State<Shared>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: FlagBody = parse_body(&body, &["enabled"])?;
    sh.sim_feature_flag(&name, req.enabled)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Debug, Deserialize)]
struct HealthBody {
    pattern: String,
    healthy: bool,
}

async fn image_health(State(sh): State<Shared>, body: Bytes) -> Result<Response, ApiError> {
    let req: HealthBody = parse_body(&body, &["pattern", "healthy"])?;
    sh.sim_image_health(&req.pattern, req.healthy);
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Debug, Deserialize)]
struct AdvanceBody {
    seconds: u64,
}

async fn advance_clock(State(sh): State<Shared>, body: Bytes) -> Result<Response, ApiError> {
    let req: AdvanceBody = parse_body(&body, &["seconds"])?;
    if sh
        .0
        .config
        .clock
        .advance_by(std::time::Duration::from_secs(req.seconds))
    {
        Ok(Json(json!({"now": crate::clock::cf_time(sh.now())})).into_response())
    } else {
        Err(ApiError::unprocessable(
            "This simulator runs on the system clock, which cannot be advanced (use OffsetClock or ManualClock)",
        ))
    }
}

fn registry(sh: &Shared) -> Result<&crate::registry::RegistryHandle, ApiError> {
    sh.0.registry
        .as_ref()
        .ok_or_else(|| ApiError::not_found("Embedded registry"))
}

async fn registry_info(State(sh): State<Shared>) -> Result<Response, ApiError> {
    Ok(Json(json!({"host": registry(&sh)?.host()})).into_response())
}

#[derive(Debug, Deserialize)]
struct ImageBody {
    repo: String,
    tag: String,
    #[serde(default)]
    payload: Option<String>,
}

async fn registry_push(State(sh): State<Shared>, body: Bytes) -> Result<Response, ApiError> {
    let req: ImageBody = parse_body(&body, &["repo", "tag", "payload"])?;
    let reg = registry(&sh)?;
    let payload = req
        .payload
        .unwrap_or_else(|| format!("{}:{}", req.repo, req.tag));
    let digest = reg.push_image(&req.repo, &req.tag, &payload);
    let image = format!("{}/{}:{}", reg.host(), req.repo, req.tag);
    Ok((
        StatusCode::CREATED,
        Json(json!({"image": image, "digest": digest})),
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
struct TagBody {
    repo: String,
    tag: String,
    digest: String,
}

async fn registry_tag(State(sh): State<Shared>, body: Bytes) -> Result<Response, ApiError> {
    let req: TagBody = parse_body(&body, &["repo", "tag", "digest"])?;
    if registry(&sh)?.move_tag(&req.repo, &req.tag, &req.digest) {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::unprocessable(format!(
            "{} has no manifest {}",
            req.repo, req.digest
        )))
    }
}

#[derive(Debug, Deserialize)]
struct DownBody {
    down: bool,
}

async fn registry_down(State(sh): State<Shared>, body: Bytes) -> Result<Response, ApiError> {
    let req: DownBody = parse_body(&body, &["down"])?;
    registry(&sh)?.set_down(req.down);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The `/_sim` routes.
pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route("/_sim/requests", get(requests))
        .route("/_sim/requests/reset", post(reset_requests))
        .route("/_sim/requests/log", get(request_log))
        .route("/_sim/state", get(state))
        .route("/_sim/apps/{org}/{space}/{name}/scale", post(scale))
        .route("/_sim/apps/{org}/{space}/{name}/env", post(env))
        .route("/_sim/apps/{org}/{space}/{name}/stop", post(stop))
        .route("/_sim/apps/{org}/{space}/{name}/push", post(push))
        .route("/_sim/apps/{org}/{space}/{name}", delete(remove))
        .route("/_sim/feature_flags/{name}", post(flag))
        .route("/_sim/unhealthy_images", post(image_health))
        .route("/_sim/clock/advance", post(advance_clock))
        .route("/_sim/registry", get(registry_info))
        .route("/_sim/registry/images", post(registry_push))
        .route("/_sim/registry/tags", post(registry_tag))
        .route("/_sim/registry/down", post(registry_down))
}
