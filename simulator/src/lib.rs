//! A simulated Cloud Foundry foundation over HTTP: a Cloud Controller v3 (and, with
//! `stackato: true`, the Stackato v2 dialect), a UAA token endpoint and an optional embedded
//! Docker Registry V2.
//!
//! It is deterministic: GUIDs and injected faults come from a seeded generator and every
//! time-based transition reads the injected [`Clock`], evaluated lazily when state is read.
//!
//! ```no_run
//! # async fn demo() -> Result<(), simulator::SimError> {
//! let sim = simulator::start(simulator::SimConfig::default()).await?;
//! println!("{}", sim.url());
//! sim.shutdown().await;
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

mod clock;
mod config;
mod error;
mod http;
pub mod ids;
mod labels;
mod model;
mod query;
mod registry;
mod registry_client;
mod render;
mod state;
mod uaa;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use crate::clock::{Clock, ManualClock, OffsetClock, SystemClock};
pub use crate::config::{
    ClientSpec, Faults, RateLimit, RegistryConfig, SeedApp, SeedOrg, SeedSpace, SeedState,
    SimConfig, TlsConfig, UserSpec, default_clients, default_users,
};
pub use crate::error::{ApiError, SimError};
pub use crate::http::LoggedRequest;
pub use crate::ids::SeededRng;
pub use crate::labels::{Metadata, Requirement, Selector, parse_selector};
pub use crate::registry::{OCI_MANIFEST, RegistryHandle, sha256_digest};
pub use crate::registry_client::{ImageRef, MANIFEST_ACCEPT, parse_image};

use crate::http::{Inner, Shared};
use crate::model::{AppState, Lifecycle};
use crate::state::{NewApp, PullCheck, State, Timing};

/// A running simulator. Dropping it without [`SimHandle::shutdown`] stops it too.
#[derive(Debug)]
pub struct SimHandle {
    url: String,
    port: u16,
    shared: Shared,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

/// Binds `config.listen` and serves until the handle is shut down.
pub async fn start(config: SimConfig) -> Result<SimHandle, SimError> {
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| SimError::Bind {
            addr: config.listen,
            source,
        })?;
    serve(config, listener).await
}

/// Serves on an already bound listener (for callers that bind themselves). Writes
/// `config.port_file` once the listener accepts connections.
pub async fn serve(config: SimConfig, listener: TcpListener) -> Result<SimHandle, SimError> {
    let addr = listener.local_addr().map_err(SimError::Listener)?;
    let tls = config.tls.as_ref().map(http::tls_acceptor).transpose()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let url = format!("{scheme}://{addr}");
    let registry = match &config.registry {
        Some(rc) => Some(RegistryHandle::start(rc.clone()).await?),
        None => None,
    };
    let state = build_state(&config)?;
    let uaa = uaa::Uaa::new(
        config.seed,
        format!("{url}/uaa/oauth/token"),
        config.users.clone(),
        config.clients.clone(),
        config.token_lifetime,
        config.refresh_token_lifetime,
    );
    let shared = Shared(Arc::new(Inner {
        state: Mutex::new(state),
        base: url.clone(),
        uaa,
        counts: Mutex::new(BTreeMap::new()),
        log: Mutex::new(Vec::new()),
        faults: Mutex::new(SeededRng::new(config.seed ^ 0x00fa_0175)),
        request_ids: Mutex::new(SeededRng::new(config.seed ^ 0x0052_e9ed)),
        rate: Mutex::new(BTreeMap::new()),
        http: registry_client::http_client(),
        registry,
        config,
    }));
    let router = http::router(shared.clone());
    let (tx, rx) = oneshot::channel();
    let served = http::Served {
        router,
        shared: shared.clone(),
    };
    let task = tokio::spawn(http::run(listener, served, tls, rx));
    if let Some(path) = &shared.0.config.port_file {
        std::fs::write(path, format!("{}\n", addr.port())).map_err(|source| {
            SimError::PortFile {
                path: path.clone(),
                source,
            }
        })?;
    }
    Ok(SimHandle {
        url,
        port: addr.port(),
        shared,
        stop: Some(tx),
        task: Some(task),
    })
}

fn build_state(config: &SimConfig) -> Result<State, SimError> {
    let timing = Timing {
        staging: config.staging_duration,
        deployment: config.deployment_duration,
        job: config.job_duration,
        start: config.start_duration,
    };
    let mut st = State::new(config.seed, timing, config.unhealthy_images.clone());
    let now = config.clock.now();
    st.create_shared_domain(now, &config.shared_domain);
    let Some(seed) = &config.seed_state else {
        return Ok(st);
    };
    let invalid = |what: String| move |source: ApiError| SimError::SeedInvalid { what, source };
    // Seeded apps are created as an admin would, with docker enabled for the duration.
    let docker_flag = seed
        .feature_flags
        .get("diego_docker")
        .copied()
        .unwrap_or(false);
    st.set_feature_flag(now, "diego_docker", Some(true), None)
        .map_err(invalid("diego_docker".into()))?;
    for org in &seed.orgs {
        let org_guid = st
            .create_org(now, &org.name, Metadata::default())
            .map_err(invalid(format!("org {}", org.name)))?;
        for space in &org.spaces {
            let what = format!("space {}/{}", org.name, space.name);
            let space_guid = st
                .create_space(now, &org_guid, &space.name, Metadata::default())
                .map_err(invalid(what))?;
            for app in &space.apps {
                let what = format!("app {}/{}/{}", org.name, space.name, app.name);
                seed_app(&mut st, now, &space_guid, app).map_err(invalid(what))?;
            }
        }
    }
    st.set_feature_flag(now, "diego_docker", Some(docker_flag), None)
        .map_err(invalid("diego_docker".into()))?;
    for (name, enabled) in &seed.feature_flags {
        st.set_feature_flag(now, name, Some(*enabled), None)
            .map_err(invalid(format!("feature flag {name}")))?;
    }
    Ok(st)
}

fn seed_app(
    st: &mut State,
    now: chrono::DateTime<chrono::Utc>,
    space: &crate::ids::SpaceGuid,
    app: &SeedApp,
) -> Result<(), ApiError> {
    let env = app
        .env
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let metadata = Metadata {
        labels: app.labels.clone(),
        annotations: app.annotations.clone(),
    };
    let md_json = metadata.to_json();
    labels::apply_patch(&Metadata::default(), &md_json)?;
    let guid = st.create_app(
        now,
        NewApp {
            name: app.name.clone(),
            space: space.clone(),
            lifecycle: Lifecycle::Docker,
            env,
            metadata,
        },
    )?;
    if let Some(process) = st.newest_process(&guid, "web").map(|p| p.guid.clone()) {
        let scale = state::Scale {
            instances: app.instances,
            memory_in_mb: app.memory_in_mb,
            ..state::Scale::default()
        };
        st.scale_process(now, &process, scale, &PullCheck::Ok)?;
    }
    if let Some(image) = &app.image {
        let droplet = st.staged_droplet(now, &guid, image.clone(), None)?;
        st.set_current_droplet(now, &guid, &droplet)?;
        if app.state.as_deref() != Some(AppState::Stopped.as_str()) {
            st.start_app(now, &guid, &PullCheck::Ok)?;
        }
    }
    Ok(())
}

fn op(operation: String) -> impl FnOnce(ApiError) -> SimError {
    move |source| SimError::Operation { operation, source }
}

impl SimHandle {
    /// `http://127.0.0.1:PORT`, the API endpoint (`GET /` for discovery).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The embedded registry, if `config.registry` asked for one.
    pub fn registry(&self) -> Option<&RegistryHandle> {
        self.shared.0.registry.as_ref()
    }

    /// Stops serving and waits for the server task.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        if let Some(r) = &self.shared.0.registry {
            r.shutdown();
        }
    }

    /// Requests served, by `METHOD /route/:template` (e.g. `GET /v3/apps`).
    pub fn request_counts(&self) -> BTreeMap<String, u64> {
        self.shared.request_counts()
    }

    /// Total Cloud Controller requests: every counted `/v2` and `/v3` route (not UAA, not `GET /`).
    pub fn cc_request_count(&self) -> u64 {
        self.request_counts()
            .iter()
            .filter(|(k, _)| k.contains(" /v3") || k.contains(" /v2"))
            .map(|(_, v)| v)
            .sum()
    }

    /// The requests served since the last reset, in order (at most 100,000).
    pub fn request_log(&self) -> Vec<LoggedRequest> {
        self.shared.request_log()
    }

    /// Clears the request counts and the request log.
    pub fn reset_request_counts(&self) {
        self.shared.reset_request_counts();
    }

    /// The whole state as JSON (what `GET /_sim/state` returns).
    pub fn state_dump(&self) -> Value {
        self.shared.dump()
    }

    /// The GUID of `org/space/name`, if the app exists.
    pub fn app_guid(&self, org: &str, space: &str, name: &str) -> Option<String> {
        self.shared
            .find_app(org, space, name)
            .ok()
            .map(|g| g.to_string())
    }

    /// Creates `org` (if missing) and `space` in it, as an admin would; returns their GUIDs.
    pub fn create_space(&self, org: &str, space: &str) -> Result<(String, String), SimError> {
        self.shared
            .sim_create_space(org, space)
            .map_err(op(format!("create space {org}/{space}")))
    }

    /// `cf scale NAME -i N`.
    pub async fn scale_app(
        &self,
        org: &str,
        space: &str,
        name: &str,
        instances: u32,
    ) -> Result<(), SimError> {
        let what = format!("scale {org}/{space}/{name}");
        let app = self
            .shared
            .find_app(org, space, name)
            .map_err(op(what.clone()))?;
        self.shared
            .sim_scale(&app, instances)
            .await
            .map_err(op(what))
    }

    /// `cf set-env NAME KEY VALUE` (or `cf unset-env` with `None`).
    pub fn set_env(
        &self,
        org: &str,
        space: &str,
        name: &str,
        key: &str,
        value: Option<&str>,
    ) -> Result<(), SimError> {
        let what = format!("set-env {org}/{space}/{name} {key}");
        let app = self
            .shared
            .find_app(org, space, name)
            .map_err(op(what.clone()))?;
        self.shared.sim_set_env(&app, key, value).map_err(op(what))
    }

    /// `cf stop NAME`.
    pub fn stop_app(&self, org: &str, space: &str, name: &str) -> Result<(), SimError> {
        let what = format!("stop {org}/{space}/{name}");
        let app = self
            .shared
            .find_app(org, space, name)
            .map_err(op(what.clone()))?;
        self.shared.sim_stop(&app).map_err(op(what))
    }

    /// `cf push NAME --docker-image IMAGE` of an existing app.
    pub async fn push_image(
        &self,
        org: &str,
        space: &str,
        name: &str,
        image: &str,
    ) -> Result<(), SimError> {
        let what = format!("push {org}/{space}/{name} {image}");
        let app = self
            .shared
            .find_app(org, space, name)
            .map_err(op(what.clone()))?;
        self.shared.sim_push(&app, image).await.map_err(op(what))
    }

    /// `cf delete NAME -f` (immediate, no job).
    pub fn delete_app(&self, org: &str, space: &str, name: &str) -> Result<(), SimError> {
        let what = format!("delete {org}/{space}/{name}");
        let app = self
            .shared
            .find_app(org, space, name)
            .map_err(op(what.clone()))?;
        self.shared.sim_delete(&app).map_err(op(what))
    }

    /// Makes instances of images matching `pattern` fail (or pass again) their health checks
    /// from the next start on.
    pub fn set_image_health(&self, pattern: &str, healthy: bool) {
        self.shared.sim_image_health(pattern, healthy);
    }

    /// The next `n` async jobs (app and route deletes) end FAILED and change nothing.
    pub fn fail_next_jobs(&self, n: u32) {
        self.shared.lock().failing_jobs = n;
    }

    /// `cf enable-feature-flag` / `cf disable-feature-flag`.
    pub fn set_feature_flag(&self, name: &str, enabled: bool) -> Result<(), SimError> {
        self.shared
            .sim_feature_flag(name, enabled)
            .map_err(op(format!("feature flag {name}")))
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}
