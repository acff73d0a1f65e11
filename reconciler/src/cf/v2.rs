//! HP Stackato and other v2-only foundations: [`V2`] implements [`Platform`] over the Cloud
//! Controller API v2 (see `docs/stackato.md`).
//!
//! What differs from v3, and how this client bridges it:
//! - discovery is `GET /v2/info` ([`CfHttp::connect_v2`]); lists are paged at most 100 per page
//!   with relative `next_url`s ([`CfHttp::list_v2`]);
//! - an app is one record with one process, reported as `web`;
//! - a docker image is the app's `docker_image`, and Stackato takes registry credentials inline
//!   (`user:pass@registry/repo:tag`): built at the last moment from the [`Secret`], sent only
//!   through [`CfHttp::request_redacted`], stripped from whatever is read back;
//! - there are no labels or annotations: driftless keeps them as JSON in one environment
//!   variable, [`METADATA_ENV`], hidden from the env it reports and kept by [`V2::set_env`];
//! - there are no deployments: every rollout is a restage (the old instances run until the new
//!   droplet is staged), watched until the instances run and rolled back to the previous
//!   `docker_image` when it fails.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, Instant},
};

use reqwest::Method;
use serde_json::{Value, json};

use super::{
    CfError,
    http::{CfHttp, CfOptions, Login},
    platform::{AppSpec, Deadline, ImageSource, MetadataPatch, Platform, ProcessTarget, RolledOut},
};
use crate::{
    model::{
        AppKey, AppName, PlatformKind, SpaceKey, Strategy,
        live::{Live, LiveApp, LiveProcess, MANAGED_LABEL},
    },
    secret::Secret,
};

/// The environment variable that carries driftless's labels and annotations on v2, as JSON
/// `{"labels": {...}, "annotations": {...}}`.
pub const METADATA_ENV: &str = "DRIFTLESS_METADATA";

/// The only process type of a v2 app.
const WEB: &str = "web";

/// The annotation holding the image as written in git (see `plan::annotations::IMAGE`).
const IMAGE_ANNOTATION: &str = "driftless.dev/image";

/// A Stackato (CC API v2) foundation.
#[derive(Debug)]
pub struct V2 {
    cf: CfHttp,
    /// The first wait between polls of a rollout; it doubles up to a second.
    poll: Duration,
}

impl V2 {
    /// Discovers the UAA from `/v2/info` and logs in.
    pub async fn connect(api: &str, login: Login, options: CfOptions) -> Result<V2, CfError> {
        Ok(V2::new(CfHttp::connect_v2(api, login, options).await?))
    }

    /// Over an already connected client.
    pub fn new(cf: CfHttp) -> V2 {
        V2 {
            cf,
            poll: Duration::from_millis(50),
        }
    }

    /// The HTTP core (for request budgets and counters).
    pub fn http(&self) -> &CfHttp {
        &self.cf
    }

    async fn app(&self, guid: &str) -> Result<Value, CfError> {
        self.cf.get(&format!("/v2/apps/{guid}")).await
    }

    async fn put_app(&self, guid: &str, body: &Value) -> Result<Value, CfError> {
        self.cf
            .request(Method::PUT, &format!("/v2/apps/{guid}"), Some(body))
            .await
            .map(|a| a.body)
    }

    /// The app's full environment as stored (with [`METADATA_ENV`]).
    async fn stored_env(&self, guid: &str) -> Result<BTreeMap<String, String>, CfError> {
        Ok(env_strings(
            &self.app(guid).await?["entity"]["environment_json"],
        ))
    }

    /// `PUT docker_image` (+ `state`), with credentials inline and redacted from any error.
    async fn put_image(
        &self,
        guid: &str,
        image: &ImageSource,
        state: &str,
    ) -> Result<Value, CfError> {
        let path = format!("/v2/apps/{guid}");
        let reference = inline_reference(image).map_err(|detail| CfError::Protocol {
            method: "PUT".into(),
            path: path.clone(),
            detail: detail.into(),
        })?;
        let body = json!({"docker_image": reference.expose(), "state": state});
        let secrets: Vec<&Secret> = image.password.iter().chain([&reference]).collect();
        self.cf
            .request_redacted(Method::PUT, &path, Some(&body), &secrets)
            .await
            .map(|a| a.body)
    }

    /// Polls until the newest package is staged and every instance runs, or `deadline`.
    async fn wait_running(&self, guid: &str, deadline: Deadline) -> Result<Value, Failed> {
        let until = Instant::now() + deadline.0;
        let mut wait = self.poll;
        loop {
            let app = self.app(guid).await.map_err(Failed::Cf)?;
            let entity = &app["entity"];
            match entity["package_state"].as_str() {
                Some("FAILED") => {
                    return Err(Failed::Rollout {
                        step: "stage",
                        reason: staging_reason(entity),
                    });
                }
                Some("STAGED") => {
                    let want = entity["instances"].as_u64().unwrap_or(1);
                    match self.instances(guid).await.map_err(Failed::Cf)? {
                        Instances::Running(n) if n >= want => return Ok(app),
                        Instances::Crashed(reason) => {
                            return Err(Failed::Rollout {
                                step: "start",
                                reason,
                            });
                        }
                        Instances::Running(_) | Instances::Pending => {}
                    }
                }
                _ => {}
            }
            if Instant::now() + wait > until {
                return Err(Failed::Rollout {
                    step: "wait",
                    reason: format!(
                        "the instances did not all run within {} s",
                        deadline.0.as_secs()
                    ),
                });
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(1));
        }
    }

    async fn instances(&self, guid: &str) -> Result<Instances, CfError> {
        let answer = match self.cf.get(&format!("/v2/apps/{guid}/instances")).await {
            Ok(answer) => answer,
            // 170002 NotStaged: staging is still running.
            Err(e) if e.code() == Some(170002) => return Ok(Instances::Pending),
            Err(e) if e.code() == Some(170001) => {
                return Ok(Instances::Crashed("staging failed".into()));
            }
            Err(e) => return Err(e),
        };
        let mut running = 0;
        for (index, instance) in answer.as_object().into_iter().flatten() {
            match instance["state"].as_str() {
                Some("RUNNING") => running += 1,
                Some("CRASHED" | "FLAPPING") => {
                    return Ok(Instances::Crashed(format!("instance {index} crashed")));
                }
                _ => return Ok(Instances::Pending),
            }
        }
        Ok(Instances::Running(running))
    }

    /// Writes labels and annotations back into [`METADATA_ENV`], keeping the other variables.
    async fn write_metadata(
        &self,
        guid: &str,
        mut env: BTreeMap<String, String>,
        metadata: &Metadata,
    ) -> Result<(), CfError> {
        env.insert(METADATA_ENV.to_owned(), metadata.to_env());
        self.put_app(guid, &json!({ "environment_json": env }))
            .await
            .map(drop)
    }

    async fn set_state(&self, guid: &str, state: &str) -> Result<(), CfError> {
        self.put_app(guid, &json!({ "state": state }))
            .await
            .map(drop)
    }
}

/// Why a wait ended badly.
#[derive(Debug)]
enum Failed {
    Cf(CfError),
    Rollout { step: &'static str, reason: String },
}

enum Instances {
    Running(u64),
    Pending,
    Crashed(String),
}

/// What v2 says about a failed staging (CC's reason and description, no secret: the
/// description names the image without credentials).
fn staging_reason(entity: &Value) -> String {
    let reason = entity["staging_failed_reason"]
        .as_str()
        .unwrap_or("StagingError");
    match entity["staging_failed_description"].as_str() {
        Some(description) => format!("{reason}: {description}"),
        None => reason.to_owned(),
    }
}

/// driftless's metadata, as kept in [`METADATA_ENV`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Metadata {
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
}

impl Metadata {
    /// Reads the variable; anything unreadable counts as no metadata (so as not owned).
    fn from_env(env: &BTreeMap<String, String>) -> Metadata {
        let Some(raw) = env.get(METADATA_ENV) else {
            return Metadata::default();
        };
        let value: Value = serde_json::from_str(raw).unwrap_or(Value::Null);
        Metadata {
            labels: plain_strings(&value["labels"]),
            annotations: plain_strings(&value["annotations"]),
        }
    }

    fn from_maps(
        labels: &BTreeMap<String, String>,
        annotations: &BTreeMap<String, String>,
    ) -> Metadata {
        Metadata {
            labels: labels.clone(),
            annotations: annotations.clone(),
        }
    }

    fn apply(&mut self, patch: &MetadataPatch) {
        for (target, changes) in [
            (&mut self.labels, &patch.labels),
            (&mut self.annotations, &patch.annotations),
        ] {
            for (key, value) in changes {
                match value {
                    Some(value) => target.insert(key.clone(), value.clone()),
                    None => target.remove(key),
                };
            }
        }
    }

    fn to_env(&self) -> String {
        json!({"labels": self.labels, "annotations": self.annotations}).to_string()
    }
}

fn plain_strings(value: &Value) -> BTreeMap<String, String> {
    value
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
        .collect()
}

/// `environment_json` as strings (CC v2 allows any JSON value; non-strings are rendered).
fn env_strings(value: &Value) -> BTreeMap<String, String> {
    value
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), super::env_text(v)))
        .collect()
}

/// The env without driftless's metadata variable.
fn user_env(mut env: BTreeMap<String, String>) -> BTreeMap<String, String> {
    env.remove(METADATA_ENV);
    env
}

/// `user:pass@reference` when the source has credentials, else the reference. A secret
/// because it holds the password. Refuses credentials the inline form cannot carry (the
/// message names the character, not the value).
fn inline_reference(image: &ImageSource) -> Result<Secret, &'static str> {
    match (&image.username, &image.password) {
        (Some(user), Some(password)) => {
            if user.contains([':', '@', '/']) {
                return Err(
                    "the registry username contains `:`, `@` or `/`, which the inline \
                            `user:pass@registry/repo` form of Stackato cannot carry",
                );
            }
            if password.expose().contains(['@', '/']) {
                return Err(
                    "the registry password contains `@` or `/`, which the inline \
                            `user:pass@registry/repo` form of Stackato cannot carry",
                );
            }
            Ok(Secret::new(format!(
                "{user}:{}@{}",
                password.expose(),
                image.reference
            )))
        }
        _ => Ok(Secret::new(image.reference.clone())),
    }
}

/// The image without inline `user:pass@` credentials (so a secret never lands in `Live`).
pub fn strip_credentials(image: &str) -> &str {
    if let Some((credentials, rest)) = image.split_once('@')
        && credentials.contains(':')
        && !credentials.contains('/')
        && !rest.starts_with("sha256:")
    {
        return rest;
    }
    image
}

/// The registry host of an image reference (Docker's rule: the first component, when it has
/// a `.` or `:` or is `localhost`).
fn registry_host(reference: &str) -> Option<&str> {
    let (first, _) = reference.split_once('/')?;
    (first.contains(['.', ':']) || first == "localhost").then_some(first)
}

fn u32_of(value: &Value) -> u32 {
    value
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(0)
}

/// `host.domain/path` of a v2 route.
fn route_url(entity: &Value, domains: &BTreeMap<String, String>) -> Option<String> {
    let domain = domains.get(entity["domain_guid"].as_str()?)?;
    let host = entity["host"].as_str().unwrap_or_default();
    let path = entity["path"].as_str().unwrap_or_default();
    Some(if host.is_empty() {
        format!("{domain}{path}")
    } else {
        format!("{host}.{domain}{path}")
    })
}

/// `(guid, name)` of every shared domain.
async fn shared_domains(cf: &CfHttp) -> Result<Vec<(String, String)>, CfError> {
    Ok(cf
        .list_v2("/v2/shared_domains", &[])
        .await?
        .iter()
        .filter_map(|d| {
            Some((
                d["metadata"]["guid"].as_str()?.to_owned(),
                d["entity"]["name"].as_str()?.to_owned(),
            ))
        })
        .collect())
}

/// A v2 app's only process (`web`), from its entity.
fn live_process(e: &Value, guid: &str, updated_at: &str) -> LiveProcess {
    LiveProcess {
        // One process per app: it has the app's GUID.
        guid: guid.to_owned(),
        instances: u32_of(&e["instances"]),
        memory_mb: e["memory"].as_u64().unwrap_or(0),
        disk_mb: e["disk_quota"].as_u64().unwrap_or(0),
        health_check_type: match e["health_check_type"].as_str() {
            Some("none") => "process".to_owned(),
            Some(kind) => kind.to_owned(),
            None => "port".to_owned(),
        },
        health_check_endpoint: e["health_check_http_endpoint"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        timeout: e["health_check_timeout"]
            .as_u64()
            .and_then(|n| u32::try_from(n).ok()),
        command: e["command"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        updated_at: updated_at.to_owned(),
    }
}

/// The GUID of what `POST path` created.
fn created_guid(created: &Value, path: &str) -> Result<String, CfError> {
    guid(created)
        .map(str::to_owned)
        .ok_or_else(|| CfError::Protocol {
            method: "POST".into(),
            path: path.into(),
            detail: "the created resource has no metadata.guid".into(),
        })
}

fn guid(resource: &Value) -> Option<&str> {
    resource["metadata"]["guid"].as_str()
}

impl Platform for V2 {
    fn kind(&self) -> PlatformKind {
        PlatformKind::Stackato
    }

    /// Feature flags, shared domains, the scope's orgs and spaces, their apps, routes and
    /// route mappings: seven paged lists whatever the number of apps (apps carry their
    /// process settings and env in v2, so nothing is read per app).
    async fn observe(&self, scope: &BTreeSet<SpaceKey>) -> Result<Live, CfError> {
        let cf = &self.cf;
        let mut live = Live::default();
        let flags = cf.get("/v2/config/feature_flags").await?;
        for flag in flags.as_array().into_iter().flatten() {
            if let (Some(name), Some(enabled)) = (flag["name"].as_str(), flag["enabled"].as_bool())
            {
                live.feature_flags.insert(name.to_owned(), enabled);
            }
        }
        let domains = shared_domains(cf).await?;
        live.default_domain = domains.first().map(|(_, name)| name.clone());
        let domains: BTreeMap<String, String> = domains.into_iter().collect();
        if scope.is_empty() {
            return Ok(live);
        }

        let org_names: BTreeSet<&str> = scope.iter().map(|k| k.org.as_str()).collect();
        let org_filter = format!("name IN {}", join(&org_names));
        let orgs: BTreeMap<String, String> = cf
            .list_v2("/v2/organizations", &[("q", org_filter.as_str())])
            .await?
            .iter()
            .filter_map(|o| {
                Some((
                    guid(o)?.to_owned(),
                    o["entity"]["name"].as_str()?.to_owned(),
                ))
            })
            .collect();
        if orgs.is_empty() {
            return Ok(live);
        }
        let space_names: BTreeSet<&str> = scope.iter().map(|k| k.space.as_str()).collect();
        let org_guids: BTreeSet<&str> = orgs.keys().map(String::as_str).collect();
        let by_org = format!("organization_guid IN {}", join(&org_guids));
        let by_name = format!("name IN {}", join(&space_names));
        let mut spaces: BTreeMap<String, SpaceKey> = BTreeMap::new();
        for space in cf
            .list_v2(
                "/v2/spaces",
                &[("q", by_org.as_str()), ("q", by_name.as_str())],
            )
            .await?
        {
            let entity = &space["entity"];
            let (Some(guid), Some(name), Some(org)) = (
                guid(&space),
                entity["name"].as_str(),
                entity["organization_guid"]
                    .as_str()
                    .and_then(|g| orgs.get(g)),
            ) else {
                continue;
            };
            let key = SpaceKey {
                org: org.clone(),
                space: name.to_owned(),
            };
            if scope.contains(&key) {
                live.spaces.insert(key.clone(), guid.to_owned());
                spaces.insert(guid.to_owned(), key);
            }
        }
        if spaces.is_empty() {
            return Ok(live);
        }
        let space_guids: BTreeSet<&str> = spaces.keys().map(String::as_str).collect();
        let by_space = format!("space_guid IN {}", join(&space_guids));

        let mut by_guid: BTreeMap<String, (AppKey, LiveApp)> = BTreeMap::new();
        for app in cf.list_v2("/v2/apps", &[("q", by_space.as_str())]).await? {
            let e = &app["entity"];
            let (Some(guid), Some(name), Some(space)) = (
                guid(&app),
                e["name"].as_str(),
                e["space_guid"].as_str().and_then(|g| spaces.get(g)),
            ) else {
                continue;
            };
            let env = env_strings(&e["environment_json"]);
            let metadata = Metadata::from_env(&env);
            let updated_at = app["metadata"]["updated_at"]
                .as_str()
                .or_else(|| app["metadata"]["created_at"].as_str())
                .unwrap_or_default()
                .to_owned();
            let process = live_process(e, guid, &updated_at);
            // The image runs once its package is staged; before that there is no droplet.
            let image = (e["package_state"] == "STAGED")
                .then(|| e["docker_image"].as_str())
                .flatten()
                .map(|i| strip_credentials(i).to_owned());
            let live_app = LiveApp {
                guid: guid.to_owned(),
                started: e["state"] == "STARTED",
                updated_at,
                owned: metadata
                    .labels
                    .get(MANAGED_LABEL)
                    .is_some_and(|v| v == "true"),
                labels: metadata.labels,
                annotations: metadata.annotations,
                image,
                processes: BTreeMap::from([(WEB.to_owned(), process)]),
                routes: BTreeSet::new(),
                deployment: None,
                env: Some(user_env(env)),
            };
            let key = AppKey {
                space: space.clone(),
                name: AppName::new(name),
            };
            by_guid.insert(guid.to_owned(), (key, live_app));
        }

        let routes: BTreeMap<String, String> = cf
            .list_v2("/v2/routes", &[("q", by_space.as_str())])
            .await?
            .iter()
            .filter_map(|r| Some((guid(r)?.to_owned(), route_url(&r["entity"], &domains)?)))
            .collect();
        if !routes.is_empty() && !by_guid.is_empty() {
            for mapping in cf.list_v2("/v2/route_mappings", &[]).await? {
                let e = &mapping["entity"];
                if let (Some(url), Some((_, app))) = (
                    e["route_guid"].as_str().and_then(|g| routes.get(g)),
                    e["app_guid"].as_str().and_then(|g| by_guid.get_mut(g)),
                ) {
                    app.routes.insert(url.clone());
                }
            }
        }
        live.apps = by_guid.into_values().collect();
        Ok(live)
    }

    async fn default_domain(&self) -> Result<Option<String>, CfError> {
        Ok(shared_domains(&self.cf)
            .await?
            .into_iter()
            .next()
            .map(|(_, name)| name))
    }

    async fn app_stamp(&self, app_guid: &str) -> Result<Option<String>, CfError> {
        match self.app(app_guid).await {
            Ok(app) => {
                let updated_at = app["metadata"]["updated_at"]
                    .as_str()
                    .or_else(|| app["metadata"]["created_at"].as_str())
                    .unwrap_or_default();
                let e = &app["entity"];
                let p = live_process(e, app_guid, updated_at);
                let details = format!(
                    "{}/{}/{}/{}/{}",
                    p.updated_at, p.instances, p.memory_mb, p.disk_mb, p.health_check_type
                );
                Ok(Some(crate::model::live::stamp(
                    updated_at,
                    e["state"] == "STARTED",
                    [(WEB, details)],
                )))
            }
            Err(CfError::Api { status: 404, .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }

    fn server_time(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.cf.server_time()
    }

    async fn read_env(&self, app_guid: &str) -> Result<BTreeMap<String, String>, CfError> {
        Ok(user_env(self.stored_env(app_guid).await?))
    }

    async fn read_command(
        &self,
        app_guid: &str,
        _process_guid: &str,
    ) -> Result<Option<String>, CfError> {
        let app = self.app(app_guid).await?;
        Ok(app["entity"]["command"]
            .as_str()
            .filter(|c| !c.is_empty())
            .map(str::to_owned))
    }

    async fn set_feature_flag(&self, name: &str, enabled: bool) -> Result<(), CfError> {
        self.cf
            .request(
                Method::PUT,
                &format!("/v2/config/feature_flags/{name}"),
                Some(&json!({ "enabled": enabled })),
            )
            .await
            .map(drop)
    }

    /// `POST /v2/apps`, stopped. CC v2 decides an app's lifecycle from `docker_image` at
    /// creation and refuses to change it later, so the app is created with the image git names
    /// (the [`IMAGE_ANNOTATION`], without credentials) when the spec has one; stopped, nothing
    /// is staged or pulled until [`Platform::deploy_image`] sets the pinned image.
    async fn create_app(&self, spec: &AppSpec) -> Result<String, CfError> {
        let web = spec.processes.get(WEB);
        let mut env = spec.env.clone();
        env.insert(
            METADATA_ENV.to_owned(),
            Metadata::from_maps(&spec.labels, &spec.annotations).to_env(),
        );
        let mut body = json!({
            "name": spec.name,
            "space_guid": spec.space_guid,
            "diego": true,
            "state": "STOPPED",
            "environment_json": env,
        });
        if let Some(image) = spec.annotations.get(IMAGE_ANNOTATION) {
            body["docker_image"] = json!(strip_credentials(image));
        }
        if let Some(web) = web {
            for (key, value) in process_fields(web, true) {
                body[key] = value;
            }
        }
        let created = self
            .cf
            .request(Method::POST, "/v2/apps", Some(&body))
            .await?
            .body;
        created_guid(&created, "/v2/apps")
    }

    /// `PUT {docker_image, state: STARTED}`: CC v2 stages the new package (the old instances
    /// keep running meanwhile) and then runs it; v2 has no deployments, so every `strategy` is
    /// this restage. Waits for the instances; on failure puts the previous `docker_image` (and
    /// state) back and waits for that too, then returns the error.
    async fn deploy_image(
        &self,
        app_guid: &str,
        image: &ImageSource,
        _strategy: Strategy,
        deadline: Deadline,
    ) -> Result<RolledOut, CfError> {
        let before = self.app(app_guid).await?;
        let entity = &before["entity"];
        let name = entity["name"].as_str().unwrap_or(app_guid).to_owned();
        let previous = (entity["package_state"] == "STAGED")
            .then(|| entity["docker_image"].as_str())
            .flatten()
            .map(|i| strip_credentials(i).to_owned());
        let was_started = entity["state"] == "STARTED";
        let previous_user = entity["docker_credentials"]["username"]
            .as_str()
            .map(str::to_owned);

        self.put_image(app_guid, image, "STARTED").await?;
        let failure = match self.wait_running(app_guid, deadline).await {
            Ok(app) => {
                return Ok(RolledOut {
                    droplet: None,
                    updated_at: app["metadata"]["updated_at"].as_str().map(str::to_owned),
                });
            }
            Err(failure) => failure,
        };
        let restored = match previous {
            Some(previous) => {
                // The password of the previous image is not readable back; it is the same
                // credential when the registry and user are the same (the usual new tag).
                let same = registry_host(&previous) == registry_host(&image.reference)
                    && previous_user.is_some()
                    && previous_user == image.username;
                let source = ImageSource {
                    reference: previous.clone(),
                    username: if same { image.username.clone() } else { None },
                    password: if same { image.password.clone() } else { None },
                };
                let state = if was_started { "STARTED" } else { "STOPPED" };
                match self.put_image(app_guid, &source, state).await {
                    Err(e) => format!("restoring {previous} failed: {e}"),
                    Ok(_) if !was_started => format!("{previous} restored (stopped)"),
                    Ok(_) => match self.wait_running(app_guid, deadline).await {
                        Ok(_) => format!("{previous} restored and running"),
                        Err(Failed::Cf(e)) => format!("{previous} restored, then: {e}"),
                        Err(Failed::Rollout { step, reason }) => {
                            format!("{previous} restored but failed to {step}: {reason}")
                        }
                    },
                }
            }
            // A started app whose package was not staged (an earlier failure) keeps running
            // whatever droplet it has: stopping it would make things worse.
            None if was_started => "no staged previous image to restore; left running".to_owned(),
            None => match self.set_state(app_guid, "STOPPED").await {
                Ok(()) => "no previous image: the app is stopped".to_owned(),
                Err(e) => format!("no previous image, and stopping failed: {e}"),
            },
        };
        let (step, reason) = match failure {
            Failed::Cf(e) => ("deploy", e.to_string()),
            Failed::Rollout { step, reason } => (step, reason),
        };
        let secrets: Vec<&str> = image.password.iter().map(Secret::expose).collect();
        Err(CfError::Rollout {
            app: name,
            step: step.to_owned(),
            reason,
            restored,
        }
        .redact(&secrets))
    }

    async fn set_env(&self, app_guid: &str, env: &BTreeMap<String, String>) -> Result<(), CfError> {
        let stored = self.stored_env(app_guid).await?;
        let mut next = env.clone();
        match stored.get(METADATA_ENV) {
            Some(metadata) => next.insert(METADATA_ENV.to_owned(), metadata.clone()),
            None => next.remove(METADATA_ENV),
        };
        self.put_app(app_guid, &json!({ "environment_json": next }))
            .await
            .map(drop)
    }

    async fn set_metadata(&self, app_guid: &str, patch: &MetadataPatch) -> Result<(), CfError> {
        let stored = self.stored_env(app_guid).await?;
        let mut metadata = Metadata::from_env(&stored);
        metadata.apply(patch);
        self.write_metadata(app_guid, stored, &metadata).await
    }

    async fn scale(
        &self,
        app_guid: &str,
        process_type: &str,
        target: &ProcessTarget,
    ) -> Result<(), CfError> {
        only_web(app_guid, process_type)?;
        let body = json!({
            "instances": target.instances,
            "memory": target.memory_mb,
            "disk_quota": target.disk_mb,
        });
        self.put_app(app_guid, &body).await.map(drop)
    }

    async fn update_process(
        &self,
        app_guid: &str,
        process_type: &str,
        target: &ProcessTarget,
    ) -> Result<(), CfError> {
        only_web(app_guid, process_type)?;
        let body: serde_json::Map<String, Value> = process_fields(target, false)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        self.put_app(app_guid, &Value::Object(body)).await.map(drop)
    }

    /// Stop, then start (v2 has no restart or deployments, whatever `strategy`), and wait.
    async fn restart(
        &self,
        app_guid: &str,
        _strategy: Strategy,
        deadline: Deadline,
    ) -> Result<RolledOut, CfError> {
        self.set_state(app_guid, "STOPPED").await?;
        self.set_state(app_guid, "STARTED").await?;
        match self.wait_running(app_guid, deadline).await {
            Ok(app) => Ok(RolledOut {
                droplet: None,
                updated_at: app["metadata"]["updated_at"].as_str().map(str::to_owned),
            }),
            Err(Failed::Cf(e)) => Err(e),
            Err(Failed::Rollout { step, reason }) => Err(CfError::Rollout {
                app: app_guid.to_owned(),
                step: step.to_owned(),
                reason,
                restored: "nothing to restore: the same image restarted".into(),
            }),
        }
    }

    async fn set_routes(
        &self,
        app_guid: &str,
        space_guid: &str,
        routes: &BTreeSet<String>,
    ) -> Result<(), CfError> {
        let cf = &self.cf;
        let domains = shared_domains(cf).await?;
        let names: BTreeMap<String, String> = domains.iter().cloned().collect();
        let mapped: BTreeMap<String, String> = cf
            .list_v2(&format!("/v2/apps/{app_guid}/routes"), &[])
            .await?
            .iter()
            .filter_map(|r| Some((route_url(&r["entity"], &names)?, guid(r)?.to_owned())))
            .collect();
        for url in routes.iter().filter(|u| !mapped.contains_key(*u)) {
            let (host, domain_guid, path) =
                split_route(url, &domains).ok_or_else(|| CfError::Protocol {
                    method: "PUT".into(),
                    path: format!("/v2/apps/{app_guid}/routes"),
                    detail: format!("route {url}: no shared domain of the foundation matches"),
                })?;
            let host_q = format!("host:{host}");
            let domain_q = format!("domain_guid:{domain_guid}");
            let path_q = format!("path:{path}");
            let existing = cf
                .list_v2(
                    "/v2/routes",
                    &[
                        ("q", host_q.as_str()),
                        ("q", domain_q.as_str()),
                        ("q", path_q.as_str()),
                    ],
                )
                .await?;
            let route_guid = match existing.first().and_then(guid) {
                Some(g) => g.to_owned(),
                None => {
                    let mut body = json!({
                        "host": host, "domain_guid": domain_guid, "space_guid": space_guid,
                    });
                    if !path.is_empty() {
                        body["path"] = json!(path);
                    }
                    let created = cf
                        .request(Method::POST, "/v2/routes", Some(&body))
                        .await?
                        .body;
                    created_guid(&created, "/v2/routes")?
                }
            };
            cf.request(
                Method::PUT,
                &format!("/v2/apps/{app_guid}/routes/{route_guid}"),
                None,
            )
            .await?;
        }
        for (url, route_guid) in &mapped {
            if !routes.contains(url) {
                cf.request(
                    Method::DELETE,
                    &format!("/v2/apps/{app_guid}/routes/{route_guid}"),
                    None,
                )
                .await?;
            }
        }
        Ok(())
    }

    async fn start(&self, app_guid: &str) -> Result<(), CfError> {
        self.set_state(app_guid, "STARTED").await
    }

    async fn stop(&self, app_guid: &str) -> Result<(), CfError> {
        self.set_state(app_guid, "STOPPED").await
    }

    /// `DELETE /v2/apps/:guid` without `async=true`: CC v2 deletes at once (204).
    async fn delete_app(&self, app_guid: &str) -> Result<(), CfError> {
        self.cf
            .request(Method::DELETE, &format!("/v2/apps/{app_guid}"), None)
            .await
            .map(drop)
    }
}

/// v2 app fields for a process's settings: its command and health check, and with `scale`
/// its instances, memory and disk. An absent command is `""` (CC v2: use the image's own).
fn process_fields(target: &ProcessTarget, scale: bool) -> Vec<(&'static str, Value)> {
    let mut fields = vec![
        ("command", json!(target.command.clone().unwrap_or_default())),
        (
            "health_check_type",
            json!(target.health_check_type.as_str()),
        ),
    ];
    if let Some(endpoint) = &target.health_check_endpoint {
        fields.push(("health_check_http_endpoint", json!(endpoint)));
    }
    if let Some(timeout) = target.timeout {
        fields.push(("health_check_timeout", json!(timeout)));
    }
    if scale {
        fields.push(("instances", json!(target.instances)));
        fields.push(("memory", json!(target.memory_mb)));
        fields.push(("disk_quota", json!(target.disk_mb)));
    }
    fields
}

fn only_web(app_guid: &str, process_type: &str) -> Result<(), CfError> {
    if process_type == WEB {
        Ok(())
    } else {
        Err(CfError::Protocol {
            method: "PUT".into(),
            path: format!("/v2/apps/{app_guid}"),
            detail: format!("a v2 app has one process (web), not `{process_type}`"),
        })
    }
}

/// `host.domain/path` -> (host, domain GUID, path) on the longest matching shared domain.
fn split_route<'a>(
    url: &'a str,
    domains: &'a [(String, String)],
) -> Option<(&'a str, &'a str, &'a str)> {
    let (hostname, path) = match url.find('/') {
        Some(i) => url.split_at(i),
        None => (url, ""),
    };
    domains
        .iter()
        .filter_map(|(guid, name)| {
            if hostname == name {
                return Some(("", guid.as_str(), name.len()));
            }
            let host = hostname.strip_suffix(name.as_str())?.strip_suffix('.')?;
            (!host.contains('.')).then_some((host, guid.as_str(), name.len()))
        })
        .max_by_key(|(_, _, len)| *len)
        .map(|(host, guid, _)| (host, guid, path))
}

/// `a,b,c` for a v2 `IN` filter.
fn join(items: &BTreeSet<&str>) -> String {
    items.iter().copied().collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(user: Option<&str>, password: Option<&str>) -> ImageSource {
        ImageSource {
            reference: "registry.example.com:5000/team/api:1.0@sha256:abc".into(),
            username: user.map(str::to_owned),
            password: password.map(Secret::new),
        }
    }

    #[test]
    fn inline_credentials_are_built_and_stripped_again() {
        let inline = inline_reference(&source(Some("ci"), Some("s3cret"))).expect("inline");
        assert_eq!(
            inline.expose(),
            "ci:s3cret@registry.example.com:5000/team/api:1.0@sha256:abc"
        );
        assert_eq!(format!("{inline:?}"), "(redacted)");
        assert_eq!(
            strip_credentials(inline.expose()),
            "registry.example.com:5000/team/api:1.0@sha256:abc"
        );
        let plain = inline_reference(&source(None, None)).expect("plain");
        assert_eq!(strip_credentials(plain.expose()), plain.expose());
        assert_eq!(
            strip_credentials("team/api@sha256:abc"),
            "team/api@sha256:abc"
        );
        assert_eq!(
            strip_credentials("api:1.0@sha256:abc"),
            "api:1.0@sha256:abc"
        );
        let refused = inline_reference(&source(Some("ci"), Some("p@ss"))).expect_err("an @");
        assert!(!refused.contains("p@ss"), "{refused}");
    }

    #[test]
    fn metadata_round_trips_through_the_env_var_and_patches_delete_with_none() {
        let mut metadata = Metadata::from_maps(
            &BTreeMap::from([(MANAGED_LABEL.to_owned(), "true".to_owned())]),
            &BTreeMap::from([("driftless.dev/revision".to_owned(), "abc".to_owned())]),
        );
        let env = BTreeMap::from([(METADATA_ENV.to_owned(), metadata.to_env())]);
        assert_eq!(Metadata::from_env(&env), metadata);
        metadata.apply(&MetadataPatch {
            labels: BTreeMap::new(),
            annotations: BTreeMap::from([
                ("driftless.dev/revision".to_owned(), None),
                (
                    "driftless.dev/digest".to_owned(),
                    Some("sha256:1".to_owned()),
                ),
            ]),
        });
        assert_eq!(
            metadata.annotations,
            BTreeMap::from([("driftless.dev/digest".to_owned(), "sha256:1".to_owned())])
        );
        let garbage = BTreeMap::from([(METADATA_ENV.to_owned(), "{not json".to_owned())]);
        assert_eq!(Metadata::from_env(&garbage), Metadata::default());
    }

    #[test]
    fn routes_split_on_the_longest_shared_domain() {
        let domains = vec![
            ("d1".to_owned(), "example.com".to_owned()),
            ("d2".to_owned(), "apps.example.com".to_owned()),
        ];
        assert_eq!(
            split_route("api.apps.example.com/v1", &domains),
            Some(("api", "d2", "/v1"))
        );
        assert_eq!(
            split_route("apps.example.com", &domains),
            Some(("", "d2", ""))
        );
        assert_eq!(
            split_route("www.example.com", &domains),
            Some(("www", "d1", ""))
        );
        assert_eq!(split_route("a.b.other.org", &domains), None);
        assert_eq!(
            registry_host("registry.example.com:5000/team/api:1"),
            Some("registry.example.com:5000")
        );
        assert_eq!(registry_host("team/api:1"), None);
    }
}
