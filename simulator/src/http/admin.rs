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

    pub fn reset_request_counts(&self) {
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

/// The `/_sim` routes.
pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route("/_sim/requests", get(requests))
        .route("/_sim/requests/reset", post(reset_requests))
        .route("/_sim/state", get(state))
        .route("/_sim/apps/{org}/{space}/{name}/scale", post(scale))
        .route("/_sim/apps/{org}/{space}/{name}/env", post(env))
        .route("/_sim/apps/{org}/{space}/{name}/stop", post(stop))
        .route("/_sim/apps/{org}/{space}/{name}/push", post(push))
        .route("/_sim/apps/{org}/{space}/{name}", delete(remove))
        .route("/_sim/feature_flags/{name}", post(flag))
}
