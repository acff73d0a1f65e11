//! The reconciler's hands and eyes on a foundation, in its own words.
//!
//! [`Platform`] speaks the domain (observe a scope, create a docker app, roll out an image,
//! scale, set env, start/stop, delete, feature flags), not HTTP. Two implementations:
//! `cf::v3::V3` (Cloud Foundry, CC API v3) and `cf::v2::V2` (Stackato and v2-only foundations).
//! `apply` is written against this trait only.
//!
//! Every value here is secret-free except [`ImageSource::password`], a [`Secret`] that the
//! implementation exposes at the last moment (the v3 package body, the Stackato inline
//! `user:pass@` reference) and never logs.

use std::{
    collections::{BTreeMap, BTreeSet},
    future::Future,
    time::Duration,
};

use super::CfError;
use crate::{
    model::{HealthCheckKind, PlatformKind, SpaceKey, Strategy, live::Live},
    secret::Secret,
};

/// One process type as it should run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessTarget {
    pub instances: u32,
    pub memory_mb: u64,
    pub disk_mb: u64,
    pub health_check_type: HealthCheckKind,
    /// For `http` checks.
    pub health_check_endpoint: Option<String>,
    /// Seconds an instance may take to become healthy (`timeout` in the manifest).
    pub timeout: Option<u32>,
    pub command: Option<String>,
}

/// An app's settings that are not its image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppSpec {
    pub name: String,
    pub space_guid: String,
    pub env: BTreeMap<String, String>,
    /// Process type -> settings (always has `web`).
    pub processes: BTreeMap<String, ProcessTarget>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

/// The image to deploy, with the credentials Cloud Foundry will pull it with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageSource {
    /// As deployed: `host/repo:tag@sha256:...` when pinned.
    pub reference: String,
    pub username: Option<String>,
    pub password: Option<Secret>,
}

/// A metadata change: `None` values delete the key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetadataPatch {
    pub labels: BTreeMap<String, Option<String>>,
    pub annotations: BTreeMap<String, Option<String>>,
}

/// How a rollout went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RolledOut {
    /// The droplet now current.
    pub droplet: Option<String>,
    /// The app's `updated_at` after the change, when known.
    pub updated_at: Option<String>,
}

/// How long a rollout may take before it is cancelled and rolled back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadline(pub Duration);

impl Deadline {
    /// Cloud Foundry's own bound: every instance may take its health-check timeout (60 s when
    /// not given) to become healthy, one batch after another, plus staging.
    pub fn for_rollout(timeout_s: Option<u32>, instances: u32) -> Deadline {
        let per_instance = u64::from(timeout_s.unwrap_or(60));
        Deadline(Duration::from_secs(
            120 + per_instance * u64::from(instances.max(1)),
        ))
    }
}

/// A Cloud Foundry or Stackato foundation, as the reconciler uses it.
///
/// Futures are `Send` so that apply can run changes concurrently on a multi-threaded runtime.
pub trait Platform: Send + Sync {
    /// Which dialect this is.
    fn kind(&self) -> PlatformKind;

    /// The live state of the `scope` spaces (owned and unowned apps) and the feature flags,
    /// from bulk list requests only.
    fn observe(
        &self,
        scope: &BTreeSet<SpaceKey>,
    ) -> impl Future<Output = Result<Live, CfError>> + Send;

    /// The shared domain default routes go on (`None`: the foundation has none). Observe may
    /// already fill `Live::default_domain`; this is the separate read for when it does not.
    fn default_domain(&self) -> impl Future<Output = Result<Option<String>, CfError>> + Send;

    /// The app's stamp now (`LiveApp::stamp`: its and its processes' `updated_at`; `None`:
    /// the app is gone), to refuse changes planned on a stale observation.
    fn app_stamp(
        &self,
        app_guid: &str,
    ) -> impl Future<Output = Result<Option<String>, CfError>> + Send;

    /// The foundation's clock as of its latest answer (its `Date` header), if it sent one.
    fn server_time(&self) -> Option<chrono::DateTime<chrono::Utc>>;

    /// One app's environment variables (the per-app read of a deep check).
    fn read_env(
        &self,
        app_guid: &str,
    ) -> impl Future<Output = Result<BTreeMap<String, String>, CfError>> + Send;

    /// One process's command (`None`: the image's own), read singly because lists hide it:
    /// for a deep check.
    fn read_command(
        &self,
        app_guid: &str,
        process_guid: &str,
    ) -> impl Future<Output = Result<Option<String>, CfError>> + Send;

    /// Sets a feature flag (`diego_docker`, ...).
    fn set_feature_flag(
        &self,
        name: &str,
        enabled: bool,
    ) -> impl Future<Output = Result<(), CfError>> + Send;

    /// Creates a stopped docker app with its env, metadata and process settings, and no
    /// droplet; returns its GUID. The image comes with [`Platform::deploy_image`].
    fn create_app(&self, spec: &AppSpec) -> impl Future<Output = Result<String, CfError>> + Send;

    /// Stages `image` and makes it the app's running droplet: for a stopped app (a new one)
    /// by setting the droplet and starting it; for a started app with `strategy` (rolling or
    /// canary deployments, or a stop-start restart). Waits until the instances run, at most
    /// `deadline`; on failure or deadline the rollout is cancelled so the previous droplet
    /// keeps (or goes back to) running, and an error is returned.
    fn deploy_image(
        &self,
        app_guid: &str,
        image: &ImageSource,
        strategy: Strategy,
        deadline: Deadline,
    ) -> impl Future<Output = Result<RolledOut, CfError>> + Send;

    /// Replaces the app's environment variables (keys absent from `env` are removed).
    fn set_env(
        &self,
        app_guid: &str,
        env: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<(), CfError>> + Send;

    /// [`Platform::set_env`] when the env now is known (observed, and unchanged since: the
    /// stale check passed), which spares a read where the dialect allows.
    fn set_env_known(
        &self,
        app_guid: &str,
        env: &BTreeMap<String, String>,
        current: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<(), CfError>> + Send {
        let _ = current;
        self.set_env(app_guid, env)
    }

    /// Changes labels and annotations.
    fn set_metadata(
        &self,
        app_guid: &str,
        patch: &MetadataPatch,
    ) -> impl Future<Output = Result<(), CfError>> + Send;

    /// Sets a process type's instances, memory and disk. Only a change of instances takes
    /// effect without a restart.
    fn scale(
        &self,
        app_guid: &str,
        process_type: &str,
        target: &ProcessTarget,
    ) -> impl Future<Output = Result<(), CfError>> + Send;

    /// Sets a process type's command and health check (take effect on the next restart).
    fn update_process(
        &self,
        app_guid: &str,
        process_type: &str,
        target: &ProcessTarget,
    ) -> impl Future<Output = Result<(), CfError>> + Send;

    /// Restarts the app's current droplet with `strategy` so env and process changes take
    /// effect; waits at most `deadline`, cancelling a failed deployment.
    /// The droplet does not change, so `RolledOut::droplet` is `None`.
    fn restart(
        &self,
        app_guid: &str,
        strategy: Strategy,
        deadline: Deadline,
    ) -> impl Future<Output = Result<RolledOut, CfError>> + Send;

    /// [`Platform::restart`] when whether the app runs is known (observed, and unchanged
    /// since: the stale check passed), which spares a read where the dialect allows.
    fn restart_known(
        &self,
        app_guid: &str,
        strategy: Strategy,
        deadline: Deadline,
        started: bool,
    ) -> impl Future<Output = Result<RolledOut, CfError>> + Send {
        let _ = started;
        self.restart(app_guid, strategy, deadline)
    }

    /// Makes exactly these route URLs (`host.domain[/path]`) point at the app.
    fn set_routes(
        &self,
        app_guid: &str,
        space_guid: &str,
        routes: &BTreeSet<String>,
    ) -> impl Future<Output = Result<(), CfError>> + Send;

    /// Starts a stopped app.
    fn start(&self, app_guid: &str) -> impl Future<Output = Result<(), CfError>> + Send;

    /// Stops a started app.
    fn stop(&self, app_guid: &str) -> impl Future<Output = Result<(), CfError>> + Send;

    /// Deletes an app (waiting for the delete job).
    fn delete_app(&self, app_guid: &str) -> impl Future<Output = Result<(), CfError>> + Send;
}
