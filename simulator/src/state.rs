//! The foundation's state and its transitions: pure functions of the state, the request and
//! `now`. Handlers lock the state, call one of these, and render the result.
//!
//! Time-based transitions (builds finishing, deployments progressing, jobs completing) happen in
//! [`State::tick`], which every request calls first with the injected clock's `now`: no
//! background timers, so the same inputs always give the same state.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::clock::after;
use crate::error::{ApiError, DuringDeployment};
use crate::ids::{
    AppGuid, BuildGuid, DeploymentGuid, DomainGuid, DropletGuid, JobGuid, OrgGuid, PackageGuid,
    ProcessGuid, RevisionGuid, RouteGuid, SeededRng, SpaceGuid,
};
use crate::labels::Metadata;
use crate::model::{
    Actor, App, AppState, Build, BuildState, Deployment, DeploymentStatus, Destination, Domain,
    Droplet, FeatureFlag, HealthCheck, Job, JobState, JobTarget, Lifecycle, Org, Package, Process,
    Revision, Route, Space, StagingOutcome, Strategy,
};

/// Durations of the time-based transitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// STAGING -> STAGED/FAILED.
    pub staging: Duration,
    /// DEPLOYING -> DEPLOYED, and each canary step.
    pub deployment: Duration,
    /// Job PROCESSING -> COMPLETE.
    pub job: Duration,
    /// Instances STARTING -> RUNNING after a (re)start.
    pub start: Duration,
}

/// Whether instances of an image can start: the registry answered for it and it is healthy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullCheck {
    /// Nothing to start (e.g. scale down), or the image was fetched fine.
    Ok,
    /// The instances crash, with this reason.
    Fails(String),
}

/// Most instances one process may have (stats list every instance).
pub const MAX_INSTANCES: u32 = 10_000;

/// The CF feature flags and their default values.
pub const FEATURE_FLAGS: &[(&str, bool)] = &[
    ("app_bits_upload", true),
    ("app_scaling", true),
    ("diego_cnb", false),
    ("diego_docker", false),
    ("env_var_visibility", true),
    ("hide_marketplace_from_unauthenticated_users", false),
    ("private_domain_creation", true),
    ("resource_matching", true),
    ("route_creation", true),
    ("route_sharing", false),
    ("service_instance_creation", true),
    ("service_instance_sharing", false),
    ("set_roles_by_username", true),
    ("space_developer_env_var_visibility", true),
    ("space_scoped_private_broker_creation", true),
    ("task_creation", true),
    ("unset_roles_by_username", true),
    ("user_org_creation", false),
];

/// Everything a foundation holds.
#[derive(Debug)]
pub struct State {
    rng: SeededRng,
    seq: u64,
    pub timing: Timing,
    pub unhealthy_images: BTreeSet<String>,
    /// The next this many jobs fail (a broker or a blobstore refusing, on a real CC).
    pub failing_jobs: u32,
    pub orgs: BTreeMap<OrgGuid, Org>,
    pub spaces: BTreeMap<SpaceGuid, Space>,
    pub apps: BTreeMap<AppGuid, App>,
    pub processes: BTreeMap<ProcessGuid, Process>,
    pub packages: BTreeMap<PackageGuid, Package>,
    pub builds: BTreeMap<BuildGuid, Build>,
    pub droplets: BTreeMap<DropletGuid, Droplet>,
    pub deployments: BTreeMap<DeploymentGuid, Deployment>,
    pub revisions: BTreeMap<crate::ids::RevisionGuid, Revision>,
    pub jobs: BTreeMap<JobGuid, Job>,
    pub feature_flags: BTreeMap<String, FeatureFlag>,
    pub domains: BTreeMap<DomainGuid, Domain>,
    pub routes: BTreeMap<RouteGuid, Route>,
    pending_builds: BTreeSet<BuildGuid>,
    /// Index: an app's processes (kept in step with `processes`).
    app_processes: BTreeMap<AppGuid, BTreeSet<ProcessGuid>>,
    /// Index: an app's revisions.
    app_revisions: BTreeMap<AppGuid, Vec<RevisionGuid>>,
    /// Index: (space, lowercased name) -> app, for CF's case-insensitive uniqueness.
    app_names: BTreeMap<(SpaceGuid, String), AppGuid>,
    active_deployments: BTreeSet<DeploymentGuid>,
    pending_jobs: BTreeSet<JobGuid>,
}

/// A new app.
#[derive(Debug, Clone)]
pub struct NewApp {
    pub name: String,
    pub space: SpaceGuid,
    pub lifecycle: Lifecycle,
    pub env: BTreeMap<String, Value>,
    pub metadata: Metadata,
}

/// A process scale.
#[derive(Debug, Clone, Copy, Default)]
pub struct Scale {
    pub instances: Option<u32>,
    pub memory_in_mb: Option<u64>,
    pub disk_in_mb: Option<u64>,
    pub log_rate_limit: Option<i64>,
}

/// A process update.
#[derive(Debug, Clone, Default)]
pub struct ProcessUpdate {
    /// `Some(None)` resets the command.
    pub command: Option<Option<String>>,
    pub health_check: Option<HealthCheck>,
    pub readiness: Option<HealthCheck>,
    pub metadata: Option<Value>,
}

/// A new route.
#[derive(Debug, Clone)]
pub struct NewRoute {
    pub space: SpaceGuid,
    pub domain: DomainGuid,
    pub host: String,
    pub path: String,
    pub loadbalancing: Option<String>,
    pub metadata: Metadata,
}

/// A route destination to add.
#[derive(Debug, Clone)]
pub struct NewDestination {
    pub app: AppGuid,
    pub process_type: String,
    pub port: Option<u16>,
    pub protocol: Option<String>,
    pub weight: Option<u32>,
}

/// A new deployment.
#[derive(Debug, Clone)]
pub struct NewDeployment {
    pub app: AppGuid,
    pub droplet: Option<DropletGuid>,
    pub revision: Option<RevisionGuid>,
    pub strategy: Strategy,
    pub max_in_flight: u32,
    pub canary_steps: Vec<u32>,
    pub metadata: Metadata,
}

fn default_health_check() -> HealthCheck {
    HealthCheck {
        kind: "port".into(),
        timeout: None,
        invocation_timeout: None,
        interval: None,
        endpoint: None,
    }
}

fn default_readiness() -> HealthCheck {
    HealthCheck {
        kind: "process".into(),
        timeout: None,
        invocation_timeout: None,
        interval: None,
        endpoint: None,
    }
}

/// Matches an image reference against the configured unhealthy patterns.
/// A pattern is an exact reference or a prefix ending in `*`, and is tried against the full
/// reference and against it without the registry host (`demo/broken*` matches
/// `127.0.0.1:5000/demo/broken:v1`).
pub fn image_matches(patterns: &BTreeSet<String>, image: &str) -> bool {
    let parsed = crate::registry_client::parse_image(image);
    let short = image
        .strip_prefix(&format!("{}/", parsed.host))
        .unwrap_or(image);
    patterns.iter().any(|p| {
        [image, short]
            .iter()
            .any(|candidate| match p.strip_suffix('*') {
                Some(prefix) => candidate.starts_with(prefix),
                None => p == candidate,
            })
    })
}

impl State {
    /// An empty foundation with the default feature flags.
    pub fn new(seed: u64, timing: Timing, unhealthy_images: BTreeSet<String>) -> Self {
        let feature_flags = FEATURE_FLAGS
            .iter()
            .map(|(name, enabled)| {
                let flag = FeatureFlag {
                    name: (*name).to_owned(),
                    enabled: *enabled,
                    updated_at: None,
                    custom_error_message: None,
                };
                ((*name).to_owned(), flag)
            })
            .collect();
        Self {
            rng: SeededRng::new(seed),
            seq: 0,
            timing,
            unhealthy_images,
            orgs: BTreeMap::new(),
            spaces: BTreeMap::new(),
            apps: BTreeMap::new(),
            processes: BTreeMap::new(),
            packages: BTreeMap::new(),
            builds: BTreeMap::new(),
            droplets: BTreeMap::new(),
            deployments: BTreeMap::new(),
            revisions: BTreeMap::new(),
            jobs: BTreeMap::new(),
            failing_jobs: 0,
            feature_flags,
            domains: BTreeMap::new(),
            routes: BTreeMap::new(),
            pending_builds: BTreeSet::new(),
            app_processes: BTreeMap::new(),
            app_revisions: BTreeMap::new(),
            app_names: BTreeMap::new(),
            active_deployments: BTreeSet::new(),
            pending_jobs: BTreeSet::new(),
        }
    }

    /// A fresh GUID from the seeded generator.
    pub fn guid(&mut self) -> String {
        self.rng.guid()
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn flag(&self, name: &str) -> bool {
        self.feature_flags.get(name).is_some_and(|f| f.enabled)
    }

    fn require_docker(&self) -> Result<(), ApiError> {
        if self.flag("diego_docker") {
            Ok(())
        } else {
            Err(ApiError::feature_disabled("diego_docker"))
        }
    }

    // ---- lookups -------------------------------------------------------------------------

    pub fn app(&self, guid: &AppGuid) -> Result<&App, ApiError> {
        self.apps
            .get(guid)
            .ok_or_else(|| ApiError::not_found("App"))
    }

    fn app_mut(&mut self, guid: &AppGuid) -> Result<&mut App, ApiError> {
        self.apps
            .get_mut(guid)
            .ok_or_else(|| ApiError::not_found("App"))
    }

    pub fn process(&self, guid: &ProcessGuid) -> Result<&Process, ApiError> {
        self.processes
            .get(guid)
            .ok_or_else(|| ApiError::not_found("Process"))
    }

    /// The app's processes of `kind`, oldest first.
    pub fn processes_of(&self, app: &AppGuid) -> Vec<&Process> {
        let mut out: Vec<&Process> = self
            .app_processes
            .get(app)
            .into_iter()
            .flatten()
            .filter_map(|g| self.processes.get(g))
            .collect();
        out.sort_by_key(|p| p.seq);
        out
    }

    /// The newest process of `kind` of an app (during a deployment, the new one).
    pub fn newest_process(&self, app: &AppGuid, kind: &str) -> Option<&Process> {
        self.app_processes
            .get(app)?
            .iter()
            .filter_map(|g| self.processes.get(g))
            .filter(|p| p.kind == kind)
            .max_by_key(|p| p.seq)
    }

    /// Finds an app by org, space and app name (names compare case-insensitively for apps).
    pub fn find_app(&self, org: &str, space: &str, name: &str) -> Option<&App> {
        let org = self.orgs.values().find(|o| o.name == org)?;
        let space = self
            .spaces
            .values()
            .find(|s| s.org == org.guid && s.name == space)?;
        self.apps
            .values()
            .find(|a| a.space == space.guid && a.name.eq_ignore_ascii_case(name))
    }

    /// The image and registry credentials a start of `droplet` pulls.
    pub fn pull_target(&self, droplet: &DropletGuid) -> Option<(String, Option<(String, String)>)> {
        let droplet = self.droplets.get(droplet)?;
        let creds = droplet
            .package
            .as_ref()
            .and_then(|p| self.packages.get(p))
            .and_then(|p| Some((p.username.clone()?, p.password.clone().unwrap_or_default())));
        Some((droplet.image.clone(), creds))
    }

    /// The image an app's start would pull, if it has a current droplet.
    pub fn app_pull_target(&self, app: &AppGuid) -> Option<(String, Option<(String, String)>)> {
        let droplet = self.apps.get(app)?.current_droplet.clone()?;
        self.pull_target(&droplet)
    }

    fn health(&self, image: &str, pull: &PullCheck) -> Option<String> {
        match pull {
            PullCheck::Fails(reason) => Some(reason.clone()),
            PullCheck::Ok if image_matches(&self.unhealthy_images, image) => {
                Some("Instance never healthy after 1m0s: Failed to make TCP connection to port 8080: connection refused".into())
            }
            PullCheck::Ok => None,
        }
    }

    // ---- orgs and spaces -----------------------------------------------------------------

    pub fn create_org(
        &mut self,
        now: DateTime<Utc>,
        name: &str,
        metadata: Metadata,
    ) -> Result<OrgGuid, ApiError> {
        if name.is_empty() {
            return Err(ApiError::unprocessable("Name can't be blank"));
        }
        if self
            .orgs
            .values()
            .any(|o| o.name.eq_ignore_ascii_case(name))
        {
            return Err(ApiError::uniqueness(format!(
                "Organization '{name}' already exists."
            )));
        }
        let guid = OrgGuid::new(self.guid());
        let seq = self.next_seq();
        let org = Org {
            guid: guid.clone(),
            seq,
            name: name.into(),
            created_at: now,
            updated_at: now,
            metadata,
        };
        self.orgs.insert(guid.clone(), org);
        Ok(guid)
    }

    pub fn create_space(
        &mut self,
        now: DateTime<Utc>,
        org: &OrgGuid,
        name: &str,
        metadata: Metadata,
    ) -> Result<SpaceGuid, ApiError> {
        if !self.orgs.contains_key(org) {
            return Err(ApiError::unprocessable(
                "Invalid organization. Ensure the organization exists and you have access to it.",
            ));
        }
        if name.is_empty() {
            return Err(ApiError::unprocessable("Name can't be blank"));
        }
        if self
            .spaces
            .values()
            .any(|s| &s.org == org && s.name.eq_ignore_ascii_case(name))
        {
            return Err(ApiError::uniqueness(format!(
                "Organization '{}' already contains a space with name '{name}'.",
                self.orgs
                    .get(org)
                    .map(|o| o.name.as_str())
                    .unwrap_or_default()
            )));
        }
        let guid = SpaceGuid::new(self.guid());
        let seq = self.next_seq();
        let space = Space {
            guid: guid.clone(),
            seq,
            name: name.into(),
            org: org.clone(),
            created_at: now,
            updated_at: now,
            metadata,
        };
        self.spaces.insert(guid.clone(), space);
        Ok(guid)
    }

    // ---- apps ----------------------------------------------------------------------------

    pub fn create_app(&mut self, now: DateTime<Utc>, new: NewApp) -> Result<AppGuid, ApiError> {
        if !self.spaces.contains_key(&new.space) {
            return Err(ApiError::unprocessable(
                "Invalid space. Ensure that the space exists and you have access to it.",
            ));
        }
        if new.name.is_empty() {
            return Err(ApiError::unprocessable("Name can't be blank"));
        }
        if matches!(new.lifecycle, Lifecycle::Docker) {
            self.require_docker()?;
        }
        self.check_name_free(&new.space, &new.name, None)?;
        validate_env(&new.env)?;
        let guid = AppGuid::new(self.guid());
        let seq = self.next_seq();
        let app = App {
            guid: guid.clone(),
            seq,
            name: new.name,
            space: new.space,
            state: AppState::Stopped,
            lifecycle: new.lifecycle,
            created_at: now,
            updated_at: now,
            metadata: new.metadata,
            env: new.env,
            current_droplet: None,
        };
        self.app_names
            .insert((app.space.clone(), app.name.to_lowercase()), guid.clone());
        self.apps.insert(guid.clone(), app);
        self.create_process(now, &guid, "web", 1);
        Ok(guid)
    }

    fn check_name_free(
        &self,
        space: &SpaceGuid,
        name: &str,
        except: Option<&AppGuid>,
    ) -> Result<(), ApiError> {
        let taken = self
            .app_names
            .get(&(space.clone(), name.to_lowercase()))
            .is_some_and(|g| Some(g) != except);
        if taken {
            let space_name = self
                .spaces
                .get(space)
                .map(|s| s.name.as_str())
                .unwrap_or_default();
            return Err(ApiError::uniqueness(format!(
                "App with the name '{name}' already exists in space '{space_name}'."
            )));
        }
        Ok(())
    }

    fn create_process(
        &mut self,
        now: DateTime<Utc>,
        app: &AppGuid,
        kind: &str,
        instances: u32,
    ) -> ProcessGuid {
        let guid = ProcessGuid::new(self.guid());
        let version = self.guid();
        let seq = self.next_seq();
        let process = Process {
            guid: guid.clone(),
            seq,
            app: app.clone(),
            kind: kind.into(),
            command: None,
            instances,
            memory_in_mb: 1024,
            disk_in_mb: 1024,
            log_rate_limit: -1,
            health_check: default_health_check(),
            readiness: default_readiness(),
            created_at: now,
            updated_at: now,
            metadata: Metadata::default(),
            version,
            revision: None,
            crashed_from: None,
            crash_reason: None,
            started_at: now,
        };
        self.app_processes
            .entry(app.clone())
            .or_default()
            .insert(guid.clone());
        self.processes.insert(guid.clone(), process);
        guid
    }

    fn remove_process(&mut self, guid: &ProcessGuid) {
        if let Some(p) = self.processes.remove(guid)
            && let Some(set) = self.app_processes.get_mut(&p.app)
        {
            set.remove(guid);
        }
    }

    /// PATCH /v3/apps/:guid.
    pub fn update_app(
        &mut self,
        now: DateTime<Utc>,
        guid: &AppGuid,
        name: Option<String>,
        lifecycle: Option<Lifecycle>,
        metadata: Option<&Value>,
    ) -> Result<(), ApiError> {
        let app = self.app(guid)?.clone();
        if let Some(name) = &name {
            if name.is_empty() {
                return Err(ApiError::unprocessable("Name can't be blank"));
            }
            self.check_name_free(&app.space, name, Some(guid))?;
        }
        if let Some(lc) = &lifecycle
            && lc.type_str() != app.lifecycle.type_str()
        {
            return Err(ApiError::unprocessable("Lifecycle type cannot be changed"));
        }
        let metadata = match metadata {
            Some(patch) => Some(crate::labels::apply_patch(&app.metadata, patch)?),
            None => None,
        };
        if let Some(name) = name {
            let app = self.app_mut(guid)?;
            let space = app.space.clone();
            let old = std::mem::replace(&mut app.name, name);
            let new_key = (space.clone(), app.name.to_lowercase());
            self.app_names.remove(&(space, old.to_lowercase()));
            self.app_names.insert(new_key, guid.clone());
        }
        let app = self.app_mut(guid)?;
        match (lifecycle, &mut app.lifecycle) {
            (
                Some(Lifecycle::Buildpack(Value::Object(new))),
                Lifecycle::Buildpack(Value::Object(old)),
            ) => {
                old.extend(new);
            }
            (Some(lc), _) => app.lifecycle = lc,
            (None, _) => {}
        }
        if let Some(md) = metadata {
            app.metadata = md;
        }
        app.updated_at = now;
        Ok(())
    }

    /// PATCH /v3/apps/:guid/environment_variables: merge, `null` deletes.
    pub fn patch_env(
        &mut self,
        now: DateTime<Utc>,
        guid: &AppGuid,
        patch: &serde_json::Map<String, Value>,
    ) -> Result<BTreeMap<String, Value>, ApiError> {
        let mut env = self.app(guid)?.env.clone();
        for (key, value) in patch {
            if value.is_null() {
                env.remove(key);
            } else {
                env.insert(key.clone(), value.clone());
            }
        }
        validate_env(&env)?;
        let app = self.app_mut(guid)?;
        app.env = env.clone();
        app.updated_at = now;
        Ok(env)
    }

    /// POST /v3/apps/:guid/actions/start. `pull` is the registry check the shell made.
    pub fn start_app(
        &mut self,
        now: DateTime<Utc>,
        guid: &AppGuid,
        pull: &PullCheck,
    ) -> Result<(), ApiError> {
        let app = self.app(guid)?.clone();
        if matches!(app.lifecycle, Lifecycle::Docker) {
            self.require_docker()?;
        }
        let Some(droplet) = app.current_droplet.clone() else {
            return Err(ApiError::unprocessable(
                "Assign a droplet before starting this app.",
            ));
        };
        let image = self
            .droplets
            .get(&droplet)
            .map(|d| d.image.clone())
            .unwrap_or_default();
        let crash = self.health(&image, pull);
        let was_stopped = app.state == AppState::Stopped;
        let revision = if was_stopped {
            self.maybe_new_revision(now, guid, &droplet, "Initial revision.")
        } else {
            None
        };
        let guids: Vec<ProcessGuid> = self
            .app_processes
            .get(guid)
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        for g in &guids {
            let Some(p) = self.processes.get_mut(g) else {
                continue;
            };
            if was_stopped {
                p.started_at = now;
                p.crashed_from = crash.as_ref().map(|_| 0);
                p.crash_reason.clone_from(&crash);
                if let Some(rev) = &revision {
                    p.revision = Some(rev.clone());
                }
            }
        }
        let app = self.app_mut(guid)?;
        if was_stopped {
            app.state = AppState::Started;
            app.updated_at = now;
        }
        Ok(())
    }

    /// 422 if the app has an ACTIVE deployment (CC refuses web scale/update and stop then).
    pub fn check_not_deploying(
        &self,
        app: &AppGuid,
        what: DuringDeployment,
    ) -> Result<(), ApiError> {
        let deploying = self
            .active_deployments
            .iter()
            .filter_map(|d| self.deployments.get(d))
            .any(|d| &d.app == app && d.status.is_active());
        if deploying {
            Err(ApiError::disabled_during_deployment(what))
        } else {
            Ok(())
        }
    }

    /// POST /v3/apps/:guid/actions/stop.
    pub fn stop_app(&mut self, now: DateTime<Utc>, guid: &AppGuid) -> Result<(), ApiError> {
        let app = self.app_mut(guid)?;
        if app.state == AppState::Started {
            app.state = AppState::Stopped;
            app.updated_at = now;
        }
        Ok(())
    }

    /// POST /v3/apps/:guid/actions/restart.
    pub fn restart_app(
        &mut self,
        now: DateTime<Utc>,
        guid: &AppGuid,
        pull: &PullCheck,
    ) -> Result<(), ApiError> {
        self.app(guid)?;
        self.stop_app(now, guid)?;
        self.start_app(now, guid, pull)
    }

    /// PATCH /v3/apps/:guid/relationships/current_droplet.
    pub fn set_current_droplet(
        &mut self,
        now: DateTime<Utc>,
        app: &AppGuid,
        droplet: &DropletGuid,
    ) -> Result<(), ApiError> {
        self.app(app)?;
        match self.droplets.get(droplet) {
            Some(d) if &d.app == app => {}
            _ => {
                return Err(ApiError::unprocessable(
                    "Unable to assign current droplet. Ensure the droplet exists and belongs to this app.",
                ));
            }
        }
        let app = self.app_mut(app)?;
        if app.current_droplet.as_ref() != Some(droplet) {
            app.current_droplet = Some(droplet.clone());
            app.updated_at = now;
        }
        Ok(())
    }

    /// DELETE /v3/apps/:guid: a job that deletes the app when it completes.
    pub fn delete_app(&mut self, now: DateTime<Utc>, guid: &AppGuid) -> Result<JobGuid, ApiError> {
        self.app(guid)?;
        let job = JobGuid::new(self.guid());
        let fails_with = self.take_job_failure();
        self.jobs.insert(
            job.clone(),
            Job {
                guid: job.clone(),
                operation: "app.delete".into(),
                state: JobState::Processing,
                target: JobTarget::App(guid.clone()),
                created_at: now,
                updated_at: now,
                due_at: after(now, self.timing.job),
                fails_with,
            },
        );
        self.pending_jobs.insert(job.clone());
        Ok(job)
    }

    /// Removes an app and everything that belongs to it, at once.
    pub fn purge_app(&mut self, guid: &AppGuid) {
        if let Some(app) = self.apps.remove(guid) {
            self.app_names.remove(&(app.space, app.name.to_lowercase()));
        }
        for p in self.app_processes.remove(guid).into_iter().flatten() {
            self.processes.remove(&p);
        }
        self.app_revisions.remove(guid);
        self.packages.retain(|_, p| &p.app != guid);
        self.builds.retain(|_, b| &b.app != guid);
        self.droplets.retain(|_, d| &d.app != guid);
        self.deployments.retain(|_, d| &d.app != guid);
        self.revisions.retain(|_, r| &r.app != guid);
        for route in self.routes.values_mut() {
            route.destinations.retain(|d| &d.app != guid);
        }
        let builds = &self.builds;
        self.pending_builds.retain(|b| builds.contains_key(b));
        let deployments = &self.deployments;
        self.active_deployments
            .retain(|d| deployments.contains_key(d));
    }

    // ---- processes -----------------------------------------------------------------------

    /// POST /v3/processes/:guid/actions/scale. `pull` matters only for a scale-up.
    pub fn scale_process(
        &mut self,
        now: DateTime<Utc>,
        guid: &ProcessGuid,
        scale: Scale,
        pull: &PullCheck,
    ) -> Result<(), ApiError> {
        let process = self.process(guid)?.clone();
        if process.kind == "web" {
            self.check_not_deploying(&process.app, DuringDeployment::Scale)?;
        }
        if scale.instances.is_some_and(|n| n > MAX_INSTANCES) {
            return Err(ApiError::unprocessable(format!(
                "Instances must be less than or equal to {MAX_INSTANCES} (the simulator's instance limit)"
            )));
        }
        if matches!(scale.memory_in_mb, Some(0)) || matches!(scale.disk_in_mb, Some(0)) {
            return Err(ApiError::unprocessable(
                "Memory in mb must be greater than 0",
            ));
        }
        let app_started = self
            .apps
            .get(&process.app)
            .is_some_and(|a| a.state == AppState::Started);
        let image = self
            .app_pull_target(&process.app)
            .map(|(i, _)| i)
            .unwrap_or_default();
        let crash = self.health(&image, pull);
        let restart = scale
            .memory_in_mb
            .is_some_and(|m| m != process.memory_in_mb)
            || scale.disk_in_mb.is_some_and(|d| d != process.disk_in_mb);
        let p = self
            .processes
            .get_mut(guid)
            .ok_or_else(|| ApiError::not_found("Process"))?;
        if let Some(n) = scale.instances {
            if n > p.instances && app_started && crash.is_some() {
                p.crashed_from = Some(p.crashed_from.unwrap_or(p.instances).min(p.instances));
                p.crash_reason.clone_from(&crash);
            }
            p.instances = n;
        }
        if let Some(m) = scale.memory_in_mb {
            p.memory_in_mb = m;
        }
        if let Some(d) = scale.disk_in_mb {
            p.disk_in_mb = d;
        }
        if let Some(l) = scale.log_rate_limit {
            p.log_rate_limit = l;
        }
        if restart && app_started {
            p.started_at = now;
            p.crashed_from = crash.as_ref().map(|_| 0);
            p.crash_reason = crash;
        }
        p.updated_at = now;
        Ok(())
    }

    /// PATCH /v3/processes/:guid.
    pub fn update_process(
        &mut self,
        now: DateTime<Utc>,
        guid: &ProcessGuid,
        update: ProcessUpdate,
    ) -> Result<(), ApiError> {
        let process = self.process(guid)?.clone();
        let changes_running =
            update.command.is_some() || update.health_check.is_some() || update.readiness.is_some();
        if process.kind == "web" && changes_running {
            self.check_not_deploying(&process.app, DuringDeployment::Update)?;
        }
        let metadata = match &update.metadata {
            Some(patch) => Some(crate::labels::apply_patch(&process.metadata, patch)?),
            None => None,
        };
        let p = self
            .processes
            .get_mut(guid)
            .ok_or_else(|| ApiError::not_found("Process"))?;
        if let Some(cmd) = update.command {
            p.command = cmd;
        }
        if let Some(hc) = update.health_check {
            p.health_check = hc;
        }
        if let Some(rc) = update.readiness {
            p.readiness = rc;
        }
        if let Some(md) = metadata {
            p.metadata = md;
        }
        p.updated_at = now;
        Ok(())
    }

    // ---- packages, builds, droplets ------------------------------------------------------

    pub fn create_package(
        &mut self,
        now: DateTime<Utc>,
        app: &AppGuid,
        image: String,
        credentials: Option<(String, String)>,
        metadata: Metadata,
    ) -> Result<PackageGuid, ApiError> {
        let lifecycle = self.app(app)?.lifecycle.clone();
        if !matches!(lifecycle, Lifecycle::Docker) {
            return Err(ApiError::unprocessable("Type must match app type"));
        }
        if image.is_empty() {
            return Err(ApiError::unprocessable("Image required"));
        }
        let guid = PackageGuid::new(self.guid());
        let seq = self.next_seq();
        let (username, password) = match credentials {
            Some((u, p)) => (Some(u), Some(p)),
            None => (None, None),
        };
        self.packages.insert(
            guid.clone(),
            Package {
                guid: guid.clone(),
                seq,
                app: app.clone(),
                image,
                username,
                password,
                created_at: now,
                updated_at: now,
                metadata,
            },
        );
        Ok(guid)
    }

    /// The checks a build must pass before the shell fetches the image manifest.
    pub fn check_build(
        &self,
        package: &PackageGuid,
    ) -> Result<(String, Option<(String, String)>), ApiError> {
        let Some(pkg) = self.packages.get(package) else {
            return Err(ApiError::unprocessable(
                "Unable to use package. Ensure that the package exists and you have access to it.",
            ));
        };
        self.require_docker()?;
        // Only builds in `pending_builds` can be STAGING.
        let staging = self
            .pending_builds
            .iter()
            .filter_map(|b| self.builds.get(b))
            .any(|b| b.app == pkg.app && b.state == BuildState::Staging);
        if staging {
            return Err(ApiError::staging_in_progress());
        }
        let creds = pkg
            .username
            .clone()
            .map(|u| (u, pkg.password.clone().unwrap_or_default()));
        Ok((pkg.image.clone(), creds))
    }

    /// POST /v3/builds, with the manifest fetch's outcome applied when staging is due.
    pub fn create_build(
        &mut self,
        now: DateTime<Utc>,
        actor: &Actor,
        package: &PackageGuid,
        outcome: StagingOutcome,
        metadata: Metadata,
        start_when_staged: bool,
    ) -> Result<BuildGuid, ApiError> {
        self.check_build(package)?;
        let app = self
            .packages
            .get(package)
            .map(|p| p.app.clone())
            .ok_or_else(|| ApiError::not_found("Package"))?;
        let guid = BuildGuid::new(self.guid());
        let seq = self.next_seq();
        self.builds.insert(
            guid.clone(),
            Build {
                guid: guid.clone(),
                seq,
                app,
                package: package.clone(),
                state: BuildState::Staging,
                error: None,
                created_at: now,
                updated_at: now,
                completes_at: after(now, self.timing.staging),
                outcome,
                droplet: None,
                created_by: actor.clone(),
                metadata,
                start_when_staged,
            },
        );
        self.pending_builds.insert(guid.clone());
        self.tick(now);
        Ok(guid)
    }

    fn finish_build(&mut self, guid: &BuildGuid) {
        let Some(build) = self.builds.get(guid).cloned() else {
            return;
        };
        let at = build.completes_at;
        match build.outcome {
            StagingOutcome::Digest(digest) => {
                let image = self
                    .packages
                    .get(&build.package)
                    .map(|p| p.image.clone())
                    .unwrap_or_default();
                let droplet = self.insert_droplet(
                    at,
                    &build.app,
                    Some(build.package.clone()),
                    image,
                    Some(digest),
                );
                if let Some(b) = self.builds.get_mut(guid) {
                    b.state = BuildState::Staged;
                    b.droplet = Some(droplet.clone());
                    b.updated_at = at;
                }
                if build.start_when_staged {
                    // As v2 does after `PUT {state: STARTED}`: run the new droplet.
                    let _ = self.set_current_droplet(at, &build.app, &droplet);
                    let _ = self.stop_app(at, &build.app);
                    let _ = self.start_app(at, &build.app, &PullCheck::Ok);
                }
            }
            StagingOutcome::Error(error) => {
                if let Some(b) = self.builds.get_mut(guid) {
                    b.state = BuildState::Failed;
                    b.error = Some(format!("StagingError - Staging error: {error}"));
                    b.updated_at = at;
                }
            }
        }
    }

    fn insert_droplet(
        &mut self,
        now: DateTime<Utc>,
        app: &AppGuid,
        package: Option<PackageGuid>,
        image: String,
        digest: Option<String>,
    ) -> DropletGuid {
        let guid = DropletGuid::new(self.guid());
        let seq = self.next_seq();
        self.droplets.insert(
            guid.clone(),
            Droplet {
                guid: guid.clone(),
                seq,
                app: app.clone(),
                package,
                image,
                digest,
                created_at: now,
                updated_at: now,
                metadata: Metadata::default(),
            },
        );
        guid
    }

    /// A droplet made without staging (seed files and the `/_sim` push).
    pub fn staged_droplet(
        &mut self,
        now: DateTime<Utc>,
        app: &AppGuid,
        image: String,
        digest: Option<String>,
    ) -> Result<DropletGuid, ApiError> {
        let package = self.create_package(now, app, image.clone(), None, Metadata::default())?;
        Ok(self.insert_droplet(now, app, Some(package), image, digest))
    }

    // ---- revisions and deployments -------------------------------------------------------

    fn maybe_new_revision(
        &mut self,
        now: DateTime<Utc>,
        app: &AppGuid,
        droplet: &DropletGuid,
        first: &str,
    ) -> Option<RevisionGuid> {
        let env = self.apps.get(app)?.env.clone();
        let commands: BTreeMap<String, Option<String>> = self
            .processes_of(app)
            .into_iter()
            .map(|p| (p.kind.clone(), p.command.clone()))
            .collect();
        let latest = self
            .app_revisions
            .get(app)
            .into_iter()
            .flatten()
            .filter_map(|r| self.revisions.get(r))
            .max_by_key(|r| r.version);
        if let Some(latest) = latest
            && &latest.droplet == droplet
            && latest.env == env
            && latest.commands == commands
        {
            return Some(latest.guid.clone());
        }
        let description = match latest {
            None => first.to_owned(),
            Some(l) if &l.droplet != droplet => "New droplet deployed.".to_owned(),
            Some(l) if l.env != env => "New environment variables deployed.".to_owned(),
            Some(_) => "Custom start command updated.".to_owned(),
        };
        Some(self.insert_revision(now, app, droplet, commands, env, description))
    }

    fn insert_revision(
        &mut self,
        now: DateTime<Utc>,
        app: &AppGuid,
        droplet: &DropletGuid,
        commands: BTreeMap<String, Option<String>>,
        env: BTreeMap<String, Value>,
        description: String,
    ) -> RevisionGuid {
        let version = self
            .app_revisions
            .get(app)
            .into_iter()
            .flatten()
            .filter_map(|r| self.revisions.get(r))
            .map(|r| r.version)
            .max()
            .unwrap_or(0)
            + 1;
        let guid = RevisionGuid::new(self.guid());
        let seq = self.next_seq();
        self.app_revisions
            .entry(app.clone())
            .or_default()
            .push(guid.clone());
        self.revisions.insert(
            guid.clone(),
            Revision {
                guid: guid.clone(),
                seq,
                app: app.clone(),
                version,
                droplet: droplet.clone(),
                commands,
                env,
                description,
                created_at: now,
                updated_at: now,
                metadata: Metadata::default(),
            },
        );
        guid
    }

    /// The droplet a new deployment would roll out (for the shell's registry check).
    pub fn deployment_droplet(&self, new: &NewDeployment) -> Result<DropletGuid, ApiError> {
        let app = self.app(&new.app).map_err(|_| {
            ApiError::unprocessable(
                "Unable to use app. Ensure that the app exists and you have access to it.",
            )
        })?;
        if let Some(rev) = &new.revision {
            let rev = self
                .revisions
                .get(rev)
                .filter(|r| r.app == new.app)
                .ok_or_else(|| ApiError::unprocessable("The revision does not exist"))?;
            return Ok(rev.droplet.clone());
        }
        match new.droplet.clone().or_else(|| app.current_droplet.clone()) {
            Some(d) if self.droplets.get(&d).is_some_and(|x| x.app == new.app) => Ok(d),
            Some(_) => Err(ApiError::unprocessable(
                "Unable to assign current droplet. Ensure the droplet exists and belongs to this app.",
            )),
            None => Err(ApiError::unprocessable(
                "Invalid droplet. Please specify a droplet in the request or set a current droplet for the app.",
            )),
        }
    }

    /// POST /v3/deployments.
    pub fn create_deployment(
        &mut self,
        now: DateTime<Utc>,
        new: NewDeployment,
        pull: &PullCheck,
    ) -> Result<DeploymentGuid, ApiError> {
        let droplet = self.deployment_droplet(&new)?;
        let app = self.app(&new.app)?.clone();
        if matches!(app.lifecycle, Lifecycle::Docker) {
            self.require_docker()?;
        }
        // A new deployment supersedes an active one.
        let active: Vec<DeploymentGuid> = self
            .active_deployments
            .iter()
            .filter_map(|d| self.deployments.get(d))
            .filter(|d| d.app == new.app && d.status.is_active())
            .map(|d| d.guid.clone())
            .collect();
        for guid in active {
            if let Some(old) = self.deployments.get_mut(&guid) {
                old.status = DeploymentStatus::Superseded;
                old.updated_at = now;
                old.last_status_change = now;
                let interim = old.new_process.clone();
                self.remove_process(&interim);
            }
            self.active_deployments.remove(&guid);
        }
        let web = self.newest_process(&new.app, "web").cloned();
        let web_instances = web.as_ref().map_or(1, |p| p.instances);
        let previous_droplet = app.current_droplet.clone();
        let description = match &new.revision {
            Some(rev) => format!(
                "Rolled back to revision {}.",
                self.revisions.get(rev).map_or(0, |r| r.version)
            ),
            None => "New droplet deployed.".to_owned(),
        };
        let revision = match &new.revision {
            Some(rev) => {
                let r = self
                    .revisions
                    .get(rev)
                    .cloned()
                    .ok_or_else(|| ApiError::unprocessable("The revision does not exist"))?;
                Some(self.insert_revision(now, &new.app, &droplet, r.commands, r.env, description))
            }
            None => self.maybe_new_revision(now, &new.app, &droplet, "Initial revision."),
        };
        let image = self
            .droplets
            .get(&droplet)
            .map(|d| d.image.clone())
            .unwrap_or_default();
        let crash = self.health(&image, pull);
        let first_step = match new.strategy {
            Strategy::Rolling => web_instances,
            Strategy::Canary => 1,
        };
        let interim = self.create_process(now, &new.app, "web", first_step);
        if let (Some(p), Some(web)) = (self.processes.get_mut(&interim), web) {
            p.command = web.command;
            p.memory_in_mb = web.memory_in_mb;
            p.disk_in_mb = web.disk_in_mb;
            p.log_rate_limit = web.log_rate_limit;
            p.health_check = web.health_check;
            p.readiness = web.readiness;
            p.metadata = web.metadata;
        }
        if let Some(p) = self.processes.get_mut(&interim) {
            p.revision.clone_from(&revision);
            p.crashed_from = crash.as_ref().map(|_| 0);
            p.crash_reason = crash;
        }
        {
            let app = self.app_mut(&new.app)?;
            app.current_droplet = Some(droplet.clone());
            app.state = AppState::Started;
            app.updated_at = now;
        }
        let guid = DeploymentGuid::new(self.guid());
        let seq = self.next_seq();
        let revision = revision.and_then(|r| self.revisions.get(&r).map(|x| (r, x.version)));
        let canary_steps = if new.strategy == Strategy::Canary && new.canary_steps.is_empty() {
            vec![1]
        } else {
            new.canary_steps
        };
        self.deployments.insert(
            guid.clone(),
            Deployment {
                guid: guid.clone(),
                seq,
                app: new.app,
                status: DeploymentStatus::Deploying,
                strategy: new.strategy,
                max_in_flight: new.max_in_flight,
                web_instances,
                canary_steps,
                canary_step: 1,
                droplet,
                previous_droplet,
                new_process: interim,
                revision,
                created_at: now,
                updated_at: now,
                last_status_change: now,
                last_healthcheck: now,
                due_at: after(now, self.timing.deployment),
                metadata: new.metadata,
            },
        );
        self.active_deployments.insert(guid.clone());
        Ok(guid)
    }

    /// POST /v3/deployments/:guid/actions/cancel: back to the previous droplet.
    pub fn cancel_deployment(
        &mut self,
        now: DateTime<Utc>,
        guid: &DeploymentGuid,
    ) -> Result<(), ApiError> {
        let d = self
            .deployments
            .get(guid)
            .cloned()
            .ok_or_else(|| ApiError::not_found("Deployment"))?;
        if !d.status.is_active() {
            return Err(ApiError::unprocessable(format!(
                "Cannot cancel a {} deployment",
                d.status.reason()
            )));
        }
        self.remove_process(&d.new_process);
        if let Some(app) = self.apps.get_mut(&d.app) {
            app.current_droplet.clone_from(&d.previous_droplet);
            app.updated_at = now;
        }
        if let Some(d) = self.deployments.get_mut(guid) {
            d.status = DeploymentStatus::Canceled;
            d.updated_at = now;
            d.last_status_change = now;
        }
        self.active_deployments.remove(guid);
        Ok(())
    }

    /// POST /v3/deployments/:guid/actions/continue: a paused canary goes on.
    pub fn continue_deployment(
        &mut self,
        now: DateTime<Utc>,
        guid: &DeploymentGuid,
    ) -> Result<(), ApiError> {
        let deployment_duration = self.timing.deployment;
        let d = self
            .deployments
            .get_mut(guid)
            .ok_or_else(|| ApiError::not_found("Deployment"))?;
        if d.status != DeploymentStatus::Paused {
            return Err(ApiError::unprocessable(
                "Cannot continue a deployment with status: ACTIVE and reason: DEPLOYING",
            ));
        }
        d.status = DeploymentStatus::Deploying;
        d.canary_step += 1;
        d.updated_at = now;
        d.last_status_change = now;
        d.due_at = after(now, deployment_duration);
        let interim = d.new_process.clone();
        let target = d.web_instances;
        if let Some(p) = self.processes.get_mut(&interim) {
            p.instances = target;
        }
        Ok(())
    }

    fn progress_deployment(&mut self, guid: &DeploymentGuid, now: DateTime<Utc>) {
        let Some(d) = self.deployments.get(guid).cloned() else {
            self.active_deployments.remove(guid);
            return;
        };
        if d.status != DeploymentStatus::Deploying || d.due_at > now {
            return;
        }
        let healthy = self
            .processes
            .get(&d.new_process)
            .is_some_and(|p| p.crashed_from.is_none());
        if !healthy {
            // As on CF: a rollout whose new instances crash stays DEPLOYING until cancelled.
            return;
        }
        let at = d.due_at;
        let pause = d.strategy == Strategy::Canary && d.canary_step == 1;
        if let Some(dm) = self.deployments.get_mut(guid) {
            dm.last_healthcheck = at;
            dm.last_status_change = at;
            dm.updated_at = at;
            dm.status = if pause {
                DeploymentStatus::Paused
            } else {
                DeploymentStatus::Deployed
            };
        }
        if pause {
            return;
        }
        self.active_deployments.remove(guid);
        let old: Vec<ProcessGuid> = self
            .processes
            .values()
            .filter(|p| p.app == d.app && p.kind == "web" && p.guid != d.new_process)
            .map(|p| p.guid.clone())
            .collect();
        for p in old {
            self.remove_process(&p);
        }
        if let Some(p) = self.processes.get_mut(&d.new_process) {
            p.instances = d.web_instances;
        }
    }

    // ---- domains and routes --------------------------------------------------------------

    /// Adds a shared domain (the foundation's default app domain is the first one).
    pub fn create_shared_domain(&mut self, now: DateTime<Utc>, name: &str) -> DomainGuid {
        let guid = DomainGuid::new(self.guid());
        let seq = self.next_seq();
        self.domains.insert(
            guid.clone(),
            Domain {
                guid: guid.clone(),
                seq,
                name: name.into(),
                created_at: now,
                updated_at: now,
                metadata: Metadata::default(),
            },
        );
        guid
    }

    /// The default domain of an org: the oldest shared domain.
    pub fn default_domain(&self) -> Option<&Domain> {
        self.domains.values().min_by_key(|d| d.seq)
    }

    /// POST /v3/routes.
    pub fn create_route(
        &mut self,
        now: DateTime<Utc>,
        new: NewRoute,
    ) -> Result<RouteGuid, ApiError> {
        let NewRoute {
            space,
            domain,
            host,
            path,
            loadbalancing,
            metadata,
        } = new;
        let (space, domain) = (&space, &domain);
        if !self.spaces.contains_key(space) {
            return Err(ApiError::unprocessable(
                "Invalid space. Ensure that the space exists and you have access to it.",
            ));
        }
        let Some(d) = self.domains.get(domain) else {
            return Err(ApiError::unprocessable(
                "Invalid domain. Ensure that the domain exists and you have access to it.",
            ));
        };
        let valid_host = host.is_empty()
            || host == "*"
            || (host.len() <= 63
                && host.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !host.starts_with('-'));
        if !valid_host {
            return Err(ApiError::unprocessable(
                "Host must be either \"*\" or contain only alphanumeric characters, \"_\", or \"-\"",
            ));
        }
        if !path.is_empty() && (!path.starts_with('/') || path == "/" || path.contains('?')) {
            return Err(ApiError::unprocessable("Path must begin with /"));
        }
        if self
            .routes
            .values()
            .any(|r| &r.domain == domain && r.host == host && r.path == path)
        {
            let shown = if host.is_empty() {
                d.name.clone()
            } else {
                format!("{host}.{}", d.name)
            };
            return Err(ApiError::uniqueness(format!(
                "Route already exists for domain '{shown}{path}'."
            )));
        }
        let guid = RouteGuid::new(self.guid());
        let seq = self.next_seq();
        self.routes.insert(
            guid.clone(),
            Route {
                guid: guid.clone(),
                seq,
                host,
                path,
                domain: domain.clone(),
                space: space.clone(),
                destinations: Vec::new(),
                loadbalancing,
                created_at: now,
                updated_at: now,
                metadata,
            },
        );
        Ok(guid)
    }

    /// POST (insert, `replace = false`) or PATCH (replace) /v3/routes/:guid/destinations.
    pub fn set_destinations(
        &mut self,
        now: DateTime<Utc>,
        route: &RouteGuid,
        new: Vec<NewDestination>,
        replace: bool,
    ) -> Result<(), ApiError> {
        let space = self
            .routes
            .get(route)
            .ok_or_else(|| ApiError::not_found("Route"))?
            .space
            .clone();
        for NewDestination { app, protocol, .. } in &new {
            match self.apps.get(app) {
                Some(a) if a.space == space => {}
                Some(_) => {
                    return Err(ApiError::unprocessable(
                        "Routes cannot be mapped to destinations in different spaces.",
                    ));
                }
                None => {
                    return Err(ApiError::unprocessable(format!(
                        "App(s) with guid(s) \"{app}\" do not exist or you do not have access."
                    )));
                }
            }
            if let Some(p) = protocol
                && p != "http1"
                && p != "http2"
                && p != "tcp"
            {
                return Err(ApiError::unprocessable(
                    "Destinations[0]: protocol must be 'http1', 'http2' or 'tcp'.",
                ));
            }
        }
        let mut made = Vec::new();
        for NewDestination {
            app,
            process_type,
            port,
            protocol,
            weight,
        } in new
        {
            made.push(Destination {
                guid: self.guid(),
                app,
                process_type,
                port: port.unwrap_or(8080),
                protocol: protocol.unwrap_or_else(|| "http1".into()),
                weight,
                created_at: now,
                updated_at: now,
            });
        }
        let r = self
            .routes
            .get_mut(route)
            .ok_or_else(|| ApiError::not_found("Route"))?;
        if replace {
            r.destinations.clear();
        }
        for d in made {
            let dup = r
                .destinations
                .iter()
                .any(|x| x.app == d.app && x.process_type == d.process_type && x.port == d.port);
            if !dup {
                r.destinations.push(d);
            }
        }
        r.updated_at = now;
        Ok(())
    }

    /// DELETE /v3/routes/:guid/destinations/:destination_guid.
    pub fn remove_destination(
        &mut self,
        now: DateTime<Utc>,
        route: &RouteGuid,
        destination: &str,
    ) -> Result<(), ApiError> {
        let r = self
            .routes
            .get_mut(route)
            .ok_or_else(|| ApiError::not_found("Route"))?;
        let before = r.destinations.len();
        r.destinations.retain(|d| d.guid != destination);
        if r.destinations.len() == before {
            return Err(ApiError::unprocessable("Unable to unmap route from destination. Ensure the route has a destination with this guid.".to_string()));
        }
        r.updated_at = now;
        Ok(())
    }

    /// DELETE /v3/routes/:guid: a job.
    pub fn delete_route(
        &mut self,
        now: DateTime<Utc>,
        route: &RouteGuid,
    ) -> Result<JobGuid, ApiError> {
        if !self.routes.contains_key(route) {
            return Err(ApiError::not_found("Route"));
        }
        let job = JobGuid::new(self.guid());
        let fails_with = self.take_job_failure();
        self.jobs.insert(
            job.clone(),
            Job {
                guid: job.clone(),
                operation: "route.delete".into(),
                state: JobState::Processing,
                target: JobTarget::Route(route.clone()),
                created_at: now,
                updated_at: now,
                due_at: after(now, self.timing.job),
                fails_with,
            },
        );
        self.pending_jobs.insert(job.clone());
        Ok(job)
    }

    // ---- feature flags -------------------------------------------------------------------

    pub fn set_feature_flag(
        &mut self,
        now: DateTime<Utc>,
        name: &str,
        enabled: Option<bool>,
        message: Option<Option<String>>,
    ) -> Result<(), ApiError> {
        let flag = self
            .feature_flags
            .get_mut(name)
            .ok_or_else(|| ApiError::not_found("Feature flag"))?;
        if let Some(enabled) = enabled {
            flag.enabled = enabled;
        }
        if let Some(message) = message {
            flag.custom_error_message = message;
        }
        flag.updated_at = Some(now);
        Ok(())
    }

    // ---- time ----------------------------------------------------------------------------

    /// Applies every transition due at `now`. Cheap when nothing is pending.
    fn take_job_failure(&mut self) -> Option<String> {
        if self.failing_jobs == 0 {
            return None;
        }
        self.failing_jobs -= 1;
        Some(
            "The operation could not be completed: the platform refused it (simulated failure)."
                .into(),
        )
    }

    pub fn tick(&mut self, now: DateTime<Utc>) {
        let due: Vec<BuildGuid> = self
            .pending_builds
            .iter()
            .filter(|b| self.builds.get(*b).is_none_or(|x| x.completes_at <= now))
            .cloned()
            .collect();
        for b in due {
            self.pending_builds.remove(&b);
            self.finish_build(&b);
        }
        let active: Vec<DeploymentGuid> = self.active_deployments.iter().cloned().collect();
        for d in active {
            self.progress_deployment(&d, now);
        }
        let jobs: Vec<JobGuid> = self
            .pending_jobs
            .iter()
            .filter(|j| self.jobs.get(*j).is_none_or(|x| x.due_at <= now))
            .cloned()
            .collect();
        for j in jobs {
            self.pending_jobs.remove(&j);
            let Some(job) = self.jobs.get(&j).cloned() else {
                continue;
            };
            if job.fails_with.is_some() {
                if let Some(job) = self.jobs.get_mut(&j) {
                    job.state = JobState::Failed;
                    job.updated_at = job.due_at;
                }
                continue;
            }
            match &job.target {
                JobTarget::App(app) => self.purge_app(app),
                JobTarget::Route(route) => {
                    self.routes.remove(route);
                }
            }
            if let Some(job) = self.jobs.get_mut(&j) {
                job.state = JobState::Complete;
                job.updated_at = job.due_at;
            }
        }
    }
}

/// CF's rules for user-provided environment variable names.
pub fn validate_env(env: &BTreeMap<String, Value>) -> Result<(), ApiError> {
    for key in env.keys() {
        if key.is_empty() {
            return Err(ApiError::unprocessable(
                "Environment variable names cannot be blank",
            ));
        }
        if key.starts_with("VCAP_") {
            return Err(ApiError::unprocessable(
                "Environment variable names cannot start with VCAP_",
            ));
        }
        if key.starts_with("VMC") {
            return Err(ApiError::unprocessable(
                "Environment variable names cannot start with VMC",
            ));
        }
        if key == "PORT" {
            return Err(ApiError::unprocessable(
                "PORT is not a valid environment variable name",
            ));
        }
    }
    Ok(())
}
