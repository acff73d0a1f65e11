//! The records the simulated Cloud Controller keeps. Plain data; the transitions live in
//! `state`, the JSON shapes in `render`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::ids::{
    AppGuid, BuildGuid, DeploymentGuid, DomainGuid, DropletGuid, JobGuid, OrgGuid, PackageGuid,
    ProcessGuid, RevisionGuid, RouteGuid, SpaceGuid, UserGuid,
};
use crate::labels::Metadata;

/// Who is making a request, from the bearer token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Actor {
    /// The UAA user (or client) id.
    pub guid: UserGuid,
    /// User name or client id.
    pub name: String,
    /// Email (users only; empty for clients).
    pub email: String,
    /// Whether the token carries `cloud_controller.admin`.
    pub admin: bool,
}

/// An organization.
#[derive(Debug, Clone, Serialize)]
pub struct Org {
    pub guid: OrgGuid,
    pub seq: u64,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub metadata: Metadata,
}

/// A space.
#[derive(Debug, Clone, Serialize)]
pub struct Space {
    pub guid: SpaceGuid,
    pub seq: u64,
    pub name: String,
    pub org: OrgGuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub metadata: Metadata,
}

/// Desired app state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AppState {
    #[serde(rename = "STARTED")]
    Started,
    #[serde(rename = "STOPPED")]
    Stopped,
}

impl AppState {
    pub fn as_str(self) -> &'static str {
        match self {
            AppState::Started => "STARTED",
            AppState::Stopped => "STOPPED",
        }
    }
}

/// An app lifecycle: `docker` (no data) or `buildpack` (data kept verbatim).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Lifecycle {
    Docker,
    Buildpack(Value),
}

impl Lifecycle {
    pub fn type_str(&self) -> &'static str {
        match self {
            Lifecycle::Docker => "docker",
            Lifecycle::Buildpack(_) => "buildpack",
        }
    }
}

/// An app.
#[derive(Debug, Clone, Serialize)]
pub struct App {
    pub guid: AppGuid,
    pub seq: u64,
    pub name: String,
    pub space: SpaceGuid,
    pub state: AppState,
    pub lifecycle: Lifecycle,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub metadata: Metadata,
    pub env: BTreeMap<String, Value>,
    pub current_droplet: Option<DropletGuid>,
}

/// A health check (liveness or readiness).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthCheck {
    pub kind: String,
    pub timeout: Option<u64>,
    pub invocation_timeout: Option<u64>,
    pub interval: Option<u64>,
    pub endpoint: Option<String>,
}

/// A process of an app.
#[derive(Debug, Clone, Serialize)]
pub struct Process {
    pub guid: ProcessGuid,
    pub seq: u64,
    pub app: AppGuid,
    pub kind: String,
    pub command: Option<String>,
    pub instances: u32,
    pub memory_in_mb: u64,
    pub disk_in_mb: u64,
    pub log_rate_limit: i64,
    pub health_check: HealthCheck,
    pub readiness: HealthCheck,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub metadata: Metadata,
    pub version: String,
    pub revision: Option<RevisionGuid>,
    /// Instances with an index at or above this crash (image not pullable or unhealthy).
    pub crashed_from: Option<u32>,
    /// Why instances crash, shown in stats `details`.
    pub crash_reason: Option<String>,
    /// When the instances last (re)started, for `uptime` and `since`.
    pub started_at: DateTime<Utc>,
}

/// A docker package.
#[derive(Debug, Clone, Serialize)]
pub struct Package {
    pub guid: PackageGuid,
    pub seq: u64,
    pub app: AppGuid,
    pub image: String,
    pub username: Option<String>,
    #[serde(skip)]
    pub password: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub metadata: Metadata,
}

/// Build state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum BuildState {
    #[serde(rename = "STAGING")]
    Staging,
    #[serde(rename = "STAGED")]
    Staged,
    #[serde(rename = "FAILED")]
    Failed,
}

impl BuildState {
    pub fn as_str(self) -> &'static str {
        match self {
            BuildState::Staging => "STAGING",
            BuildState::Staged => "STAGED",
            BuildState::Failed => "FAILED",
        }
    }
}

/// What staging found when it fetched the image manifest: the digest, or a staging error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum StagingOutcome {
    Digest(String),
    Error(String),
}

/// A build.
#[derive(Debug, Clone, Serialize)]
pub struct Build {
    pub guid: BuildGuid,
    pub seq: u64,
    pub app: AppGuid,
    pub package: PackageGuid,
    pub state: BuildState,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub completes_at: DateTime<Utc>,
    pub outcome: StagingOutcome,
    pub droplet: Option<DropletGuid>,
    pub created_by: Actor,
    pub metadata: Metadata,
    /// A v2 `PUT {state: STARTED}` build: the app starts on the droplet once staged.
    pub start_when_staged: bool,
}

/// A docker droplet.
#[derive(Debug, Clone, Serialize)]
pub struct Droplet {
    pub guid: DropletGuid,
    pub seq: u64,
    pub app: AppGuid,
    pub package: Option<PackageGuid>,
    pub image: String,
    /// The manifest digest staging resolved (`sha256:...`).
    pub digest: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub metadata: Metadata,
}

/// Deployment strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Strategy {
    #[serde(rename = "rolling")]
    Rolling,
    #[serde(rename = "canary")]
    Canary,
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Rolling => "rolling",
            Strategy::Canary => "canary",
        }
    }
}

/// `status.value` / `status.reason` of a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum DeploymentStatus {
    Deploying,
    Paused,
    Deployed,
    Canceled,
    Superseded,
}

impl DeploymentStatus {
    pub fn value(self) -> &'static str {
        match self {
            DeploymentStatus::Deploying | DeploymentStatus::Paused => "ACTIVE",
            _ => "FINALIZED",
        }
    }

    pub fn reason(self) -> &'static str {
        match self {
            DeploymentStatus::Deploying => "DEPLOYING",
            DeploymentStatus::Paused => "PAUSED",
            DeploymentStatus::Deployed => "DEPLOYED",
            DeploymentStatus::Canceled => "CANCELED",
            DeploymentStatus::Superseded => "SUPERSEDED",
        }
    }

    pub fn is_active(self) -> bool {
        self.value() == "ACTIVE"
    }
}

/// A deployment.
#[derive(Debug, Clone, Serialize)]
pub struct Deployment {
    pub guid: DeploymentGuid,
    pub seq: u64,
    pub app: AppGuid,
    pub status: DeploymentStatus,
    pub strategy: Strategy,
    pub max_in_flight: u32,
    pub web_instances: u32,
    pub canary_steps: Vec<u32>,
    pub canary_step: u32,
    pub droplet: DropletGuid,
    pub previous_droplet: Option<DropletGuid>,
    pub new_process: ProcessGuid,
    pub revision: Option<(RevisionGuid, u32)>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_status_change: DateTime<Utc>,
    pub last_healthcheck: DateTime<Utc>,
    /// When the current phase (deploying, or a canary step) is done, if instances are healthy.
    pub due_at: DateTime<Utc>,
    pub metadata: Metadata,
}

/// A revision.
#[derive(Debug, Clone, Serialize)]
pub struct Revision {
    pub guid: RevisionGuid,
    pub seq: u64,
    pub app: AppGuid,
    pub version: u32,
    pub droplet: DropletGuid,
    pub commands: BTreeMap<String, Option<String>>,
    pub env: BTreeMap<String, Value>,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub metadata: Metadata,
}

/// Job state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum JobState {
    #[serde(rename = "PROCESSING")]
    Processing,
    #[serde(rename = "COMPLETE")]
    Complete,
    #[serde(rename = "FAILED")]
    Failed,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Processing => "PROCESSING",
            JobState::Complete => "COMPLETE",
            JobState::Failed => "FAILED",
        }
    }
}

/// What an asynchronous job deletes when it completes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum JobTarget {
    App(AppGuid),
    Route(RouteGuid),
}

/// An asynchronous job.
#[derive(Debug, Clone, Serialize)]
pub struct Job {
    pub guid: JobGuid,
    pub operation: String,
    pub state: JobState,
    pub target: JobTarget,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    /// The job ends FAILED with this CF error detail, changing nothing.
    pub fails_with: Option<String>,
}

/// A feature flag.
#[derive(Debug, Clone, Serialize)]
pub struct FeatureFlag {
    pub name: String,
    pub enabled: bool,
    pub updated_at: Option<DateTime<Utc>>,
    pub custom_error_message: Option<String>,
}

/// A shared domain.
#[derive(Debug, Clone, Serialize)]
pub struct Domain {
    pub guid: DomainGuid,
    pub seq: u64,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub metadata: Metadata,
}

/// Where a route sends traffic.
#[derive(Debug, Clone, Serialize)]
pub struct Destination {
    pub guid: String,
    pub app: AppGuid,
    pub process_type: String,
    pub port: u16,
    pub protocol: String,
    pub weight: Option<u32>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An HTTP route.
#[derive(Debug, Clone, Serialize)]
pub struct Route {
    pub guid: RouteGuid,
    pub seq: u64,
    pub host: String,
    pub path: String,
    pub domain: DomainGuid,
    pub space: SpaceGuid,
    pub destinations: Vec<Destination>,
    pub loadbalancing: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub metadata: Metadata,
}
