//! Cloud Foundry, CC API v3: the [`Platform`] of a modern foundation.
//!
//! Reads are the bulk [`observe`]; writes follow `cf push --docker-image`: an app with the
//! docker lifecycle, a docker package carrying the registry credentials, a build polled to
//! STAGED, then a deployment (rolling or canary) or, for a stopped app, the droplet made current
//! and the app started. Every wait has a deadline; a deployment that fails or outlives it is
//! cancelled, which makes Cloud Foundry put the previous droplet back.

mod observe;
mod rollout;

use std::collections::{BTreeMap, BTreeSet};

use reqwest::Method;
use serde_json::{Value, json};

pub use observe::observe;

use super::{
    CfError,
    http::CfHttp,
    platform::{AppSpec, Deadline, ImageSource, MetadataPatch, Platform, ProcessTarget, RolledOut},
    poll::PollOptions,
};
use crate::model::{PlatformKind, SpaceKey, Strategy, live::Live};

/// A Cloud Foundry foundation over CC API v3.
#[derive(Debug)]
pub struct V3 {
    cf: CfHttp,
    poll: PollOptions,
}

impl V3 {
    pub fn new(cf: CfHttp) -> V3 {
        V3 {
            cf,
            poll: PollOptions::default(),
        }
    }

    /// With other polling intervals (tests and the demo poll faster).
    pub fn with_poll(mut self, poll: PollOptions) -> V3 {
        self.poll = poll;
        self
    }

    pub fn http(&self) -> &CfHttp {
        &self.cf
    }

    async fn send(&self, method: Method, path: &str, body: &Value) -> Result<Value, CfError> {
        Ok(self.cf.request(method, path, Some(body)).await?.body)
    }

    async fn post(&self, path: &str, body: &Value) -> Result<Value, CfError> {
        self.send(Method::POST, path, body).await
    }

    async fn patch(&self, path: &str, body: &Value) -> Result<Value, CfError> {
        self.send(Method::PATCH, path, body).await
    }
}

/// The JSON of a metadata map where `None` deletes the key.
fn metadata_json(patch: &MetadataPatch) -> Value {
    json!({ "labels": patch.labels, "annotations": patch.annotations })
}

fn process_update_json(target: &ProcessTarget) -> Value {
    let mut data = serde_json::Map::new();
    if let Some(timeout) = target.timeout {
        data.insert("timeout".into(), json!(timeout));
    }
    if target.health_check_type == crate::model::HealthCheckKind::Http {
        data.insert(
            "endpoint".into(),
            json!(target.health_check_endpoint.as_deref().unwrap_or("/")),
        );
    }
    json!({
        "command": target.command,
        "health_check": { "type": target.health_check_type.as_str(), "data": data },
    })
}

fn scale_json(target: &ProcessTarget) -> Value {
    json!({
        "instances": target.instances,
        "memory_in_mb": target.memory_mb,
        "disk_in_mb": target.disk_mb,
    })
}

impl Platform for V3 {
    fn kind(&self) -> PlatformKind {
        PlatformKind::Cloudfoundry
    }

    async fn observe(&self, scope: &BTreeSet<SpaceKey>) -> Result<Live, CfError> {
        observe(&self.cf, scope).await
    }

    async fn default_domain(&self) -> Result<Option<String>, CfError> {
        observe::default_domain(&self.cf).await
    }

    async fn app_stamp(&self, app_guid: &str) -> Result<Option<String>, CfError> {
        let app = match self.cf.get(&format!("/v3/apps/{app_guid}")).await {
            Ok(app) => app,
            Err(error) if error.code() == Some(10010) => return Ok(None),
            Err(error) => return Err(error),
        };
        let (processes, _) = self
            .cf
            .list(&format!("/v3/apps/{app_guid}/processes"), &[])
            .await?;
        Ok(Some(crate::model::live::stamp(
            app["updated_at"].as_str().unwrap_or_default(),
            app["state"] == "STARTED",
            processes.iter().filter_map(|p| {
                let details = format!(
                    "{}/{}/{}/{}/{}",
                    p["updated_at"].as_str().unwrap_or_default(),
                    p["instances"].as_u64().unwrap_or(0),
                    p["memory_in_mb"].as_u64().unwrap_or(0),
                    p["disk_in_mb"].as_u64().unwrap_or(0),
                    p["health_check"]["type"].as_str().unwrap_or("port"),
                );
                Some((p["type"].as_str()?, details))
            }),
        )))
    }

    fn server_time(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.cf.server_time()
    }

    async fn read_env(&self, app_guid: &str) -> Result<BTreeMap<String, String>, CfError> {
        let body = self
            .cf
            .get(&format!("/v3/apps/{app_guid}/environment_variables"))
            .await?;
        Ok(body["var"]
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.clone(), super::env_text(v)))
            .collect())
    }

    async fn read_command(
        &self,
        _app_guid: &str,
        process_guid: &str,
    ) -> Result<Option<String>, CfError> {
        let process = self
            .cf
            .get(&format!("/v3/processes/{process_guid}"))
            .await?;
        Ok(process["command"].as_str().map(str::to_owned))
    }

    async fn set_feature_flag(&self, name: &str, enabled: bool) -> Result<(), CfError> {
        self.patch(
            &format!("/v3/feature_flags/{name}"),
            &json!({ "enabled": enabled }),
        )
        .await
        .map(drop)
    }

    async fn create_app(&self, spec: &AppSpec) -> Result<String, CfError> {
        let app = self
            .post(
                "/v3/apps",
                &json!({
                    "name": spec.name,
                    "relationships": { "space": { "data": { "guid": spec.space_guid } } },
                    "lifecycle": { "type": "docker", "data": {} },
                    "environment_variables": spec.env,
                    "metadata": { "labels": spec.labels, "annotations": spec.annotations },
                }),
            )
            .await?;
        let guid = rollout::guid_of(&app, "POST", "/v3/apps")?;
        for (kind, target) in &spec.processes {
            // Docker apps get `web` at once; other types come with the droplet.
            if kind == "web" {
                self.update_process(&guid, kind, target).await?;
                self.scale(&guid, kind, target).await?;
            }
        }
        Ok(guid)
    }

    async fn deploy_image(
        &self,
        app_guid: &str,
        image: &ImageSource,
        strategy: Strategy,
        deadline: Deadline,
    ) -> Result<RolledOut, CfError> {
        rollout::deploy_image(self, app_guid, image, strategy, deadline).await
    }

    async fn set_env(&self, app_guid: &str, env: &BTreeMap<String, String>) -> Result<(), CfError> {
        let current = self.read_env(app_guid).await?;
        self.set_env_known(app_guid, env, &current).await
    }

    async fn set_env_known(
        &self,
        app_guid: &str,
        env: &BTreeMap<String, String>,
        current: &BTreeMap<String, String>,
    ) -> Result<(), CfError> {
        let mut var: BTreeMap<&str, Option<&str>> = current
            .keys()
            .filter(|k| !env.contains_key(*k))
            .map(|k| (k.as_str(), None))
            .collect();
        for (k, v) in env {
            if current.get(k) != Some(v) {
                var.insert(k, Some(v));
            }
        }
        if var.is_empty() {
            return Ok(());
        }
        self.patch(
            &format!("/v3/apps/{app_guid}/environment_variables"),
            &json!({ "var": var }),
        )
        .await
        .map(drop)
    }

    async fn set_metadata(&self, app_guid: &str, patch: &MetadataPatch) -> Result<(), CfError> {
        self.patch(
            &format!("/v3/apps/{app_guid}"),
            &json!({ "metadata": metadata_json(patch) }),
        )
        .await
        .map(drop)
    }

    async fn scale(
        &self,
        app_guid: &str,
        process_type: &str,
        target: &ProcessTarget,
    ) -> Result<(), CfError> {
        self.post(
            &format!("/v3/apps/{app_guid}/processes/{process_type}/actions/scale"),
            &scale_json(target),
        )
        .await
        .map(drop)
    }

    async fn update_process(
        &self,
        app_guid: &str,
        process_type: &str,
        target: &ProcessTarget,
    ) -> Result<(), CfError> {
        self.patch(
            &format!("/v3/apps/{app_guid}/processes/{process_type}"),
            &process_update_json(target),
        )
        .await
        .map(drop)
    }

    async fn restart(
        &self,
        app_guid: &str,
        strategy: Strategy,
        deadline: Deadline,
    ) -> Result<RolledOut, CfError> {
        rollout::restart(self, app_guid, strategy, deadline, None).await
    }

    async fn restart_known(
        &self,
        app_guid: &str,
        strategy: Strategy,
        deadline: Deadline,
        started: bool,
    ) -> Result<RolledOut, CfError> {
        rollout::restart(self, app_guid, strategy, deadline, Some(started)).await
    }

    async fn set_routes(
        &self,
        app_guid: &str,
        space_guid: &str,
        routes: &BTreeSet<String>,
    ) -> Result<(), CfError> {
        rollout::set_routes(self, app_guid, space_guid, routes).await
    }

    async fn start(&self, app_guid: &str) -> Result<(), CfError> {
        self.post(&format!("/v3/apps/{app_guid}/actions/start"), &json!({}))
            .await
            .map(drop)
    }

    async fn stop(&self, app_guid: &str) -> Result<(), CfError> {
        self.post(&format!("/v3/apps/{app_guid}/actions/stop"), &json!({}))
            .await
            .map(drop)
    }

    async fn delete_app(&self, app_guid: &str) -> Result<(), CfError> {
        let path = format!("/v3/apps/{app_guid}");
        let answer = self.cf.request(Method::DELETE, &path, None).await?;
        rollout::await_job(self, "DELETE", &path, &answer).await
    }
}
