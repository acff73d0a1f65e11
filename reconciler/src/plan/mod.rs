//! The plan: what must change on one foundation for it to run what git declares.
//!
//! [`plan`] is pure (no IO, no clock) and deterministic (changes sorted by target): from the
//! validated desired state, the live snapshot, the registry's answers for the images and the
//! policy, it builds a closed set of actions per target with field-level diffs, the rollout each
//! needs, a human reason, and the [`Work`] that `apply` executes. Nothing secret is in a plan:
//! credentials are named by registry host and fingerprint, and apply resolves them itself.
//!
//! The rules:
//!
//! - **Feature flags.** Only flags declared in the foundation's `feature_flags` are targets; a
//!   declared flag whose live value differs is an `update` (`Work::SetFlag`). `diego_docker`
//!   is never turned off implicitly: a declared `false` is honoured (it is explicit) and its
//!   reason says that it stops every docker app. While `diego_docker` is off and not declared
//!   true, app changes that start instances are `blocked`.
//! - **Apps git declares.** Absent live: `create`. Owned: a field diff, `update` or `noop`.
//!   Not owned: `blocked` ("exists and is not managed by driftless") unless adopting
//!   (`--adopt` or `policy.adopt`), which adds the managed label and converges the app.
//!   Suspended apps (`settings.suspend`) are `noop` when in sync and `blocked` ("suspended")
//!   when they drift. A drifting app with a deployment in progress is `blocked` until it ends.
//!   A create in a space that does not exist is `blocked` (driftless does not create spaces).
//! - **Apps git does not declare**, in managed spaces: owned ones are `delete` with prune on
//!   (`--prune` or `policy.prune`) and `orphan` without; unowned ones are `unowned` (reported,
//!   not drift). Nothing is pruned in an unreadable space; apps in `desired.unknown` are
//!   `blocked` and never changed or deleted.
//! - **Invalid `driftless.yaml`**: every create, update and delete becomes `blocked`.
//! - **Mass-delete guard**: more deletes than `policy.max_delete_fraction` of the owned apps in
//!   scope (and at least 2) set [`Plan::refused`] unless `--allow-mass-delete`.
//! - **Normalisation** ([`normalise`]): Cloud Foundry's defaults (1 instance, 1024 MB memory and
//!   disk, `port` checks for `web` and `process` for other types, `/` for `http` checks),
//!   normalised image references, env as maps, routes as sets (`Routes::Default` is
//!   `<name>.<default domain>`, a random route the app already has is kept). Only desired
//!   process types, labels and annotations are compared; the rest of the live app is left alone.
//!   A `timeout` git does not give is not compared.
//! - **Hidden values**: env and commands have no bulk read; when the live value is unknown, the
//!   provenance hashes ([`env_hash`], [`command_hash`]) recorded at the last apply stand in.
//!   Secret-looking env values show as `(sensitive)`, credentials as `(credential changed)`.
//! - **Rollouts**: instances or routes only: `in_place`; memory, disk, health check, command or
//!   env: the app's strategy (a restart); a new image, a moved digest or a new credential: the
//!   strategy with an image build; metadata only: `none`; a stopped app is started; a create is
//!   `none`.
//! - **Images**: with `policy.pin_digest` the deployed reference is pinned to the digest the
//!   preflight resolved. A change that starts instances (create, image, restart, start, scale
//!   up) needs [`ImageCheck::Resolved`], else it is `blocked` with the registry's reason and the
//!   running app is left alone; changes that start nothing proceed. `allowed_registries` and
//!   `require_digest` block a drifting app. A tag that now resolves to another digest than the
//!   one recorded is redeployed (`tag_moved: redeploy`) or `blocked` ("tag moved: ...").
//!   Two pinned references are the same image when repository and digest agree.
//! - **Provenance**: every applied spec carries the managed label and the [`provenance`]
//!   annotations; they are written with a change, never a reason for one. The hashes are 16 hex
//!   digits of sha256 over canonical JSON (sorted maps). Known limit: the env hash covers the
//!   values, so someone who can read annotations and knows every other value could confirm a
//!   guess of a weak secret; it never reveals one.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

mod build;
pub mod normalise;

pub use build::{DIEGO_DOCKER, DIEGO_DOCKER_OFF, PlanContext, plan};
pub use normalise::{command_hash, env_hash, spec_hash};

use crate::{
    cf::platform::AppSpec,
    model::{AppKey, Strategy},
};

/// Provenance annotations driftless writes on every app it owns.
pub mod provenance {
    /// The git revision (commit SHA) of the last apply.
    pub const REVISION: &str = "driftless.dev/revision";
    /// The manifest's repo-relative path and line.
    pub const SOURCE: &str = "driftless.dev/source";
    /// The image reference as written in git (tag form).
    pub const IMAGE: &str = "driftless.dev/image";
    /// The digest the tag resolved to when it was deployed.
    pub const DIGEST: &str = "driftless.dev/digest";
    /// A hash of the applied spec (processes, routes, metadata, image as written).
    pub const SPEC_HASH: &str = "driftless.dev/spec-hash";
    /// A hash of the applied environment variables (env has no bulk read).
    pub const ENV_HASH: &str = "driftless.dev/env-hash";
    /// A hash of the applied process commands (lists hide commands).
    pub const COMMAND_HASH: &str = "driftless.dev/command-hash";
    /// The fingerprint (never the value) of the registry credential of the last build.
    pub const CREDENTIAL: &str = "driftless.dev/credential";
    /// The droplet driftless last made current, and the exact reference it runs: while the
    /// app's current droplet is this one, observe knows its image without reading droplets.
    pub const DROPLET: &str = "driftless.dev/droplet";
    pub const DEPLOYED_IMAGE: &str = "driftless.dev/deployed-image";
    /// `<revision>@<digest>` of a rollout that failed and was rolled back: not retried until
    /// git moves (or the digest does).
    pub const FAILED_ROLLOUT: &str = "driftless.dev/failed-rollout";
}

/// What the registry said about one image reference, just before planning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageCheck {
    /// The tag (or digest) resolved to this digest.
    Resolved { digest: String },
    /// Unreachable, unauthorized, not found, not V2: `kind` is `RegistryError::kind`.
    Failed { kind: String, reason: String },
}

/// What the registry said, by the image reference as written in git (normalised form).
pub type Images = BTreeMap<String, ImageCheck>;

/// Run options that are not repo policy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlanOptions {
    /// The git commit the desired state came from (`None` for a plain directory).
    pub revision: Option<String>,
    /// `--prune` (or-ed with `policy.prune`).
    pub prune: bool,
    /// `--adopt` (or-ed with `policy.adopt`).
    pub adopt: bool,
    /// `--allow-mass-delete`.
    pub allow_mass_delete: bool,
}

/// The plan for one foundation.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub foundation: String,
    pub revision: Option<String>,
    /// Sorted by target: feature flags first, then apps.
    pub changes: Vec<Change>,
    /// The mass-delete guard (or another whole-plan stop) refused the plan: nothing may be
    /// applied. The changes are still listed for the report.
    pub refused: Option<String>,
}

/// What a change is about.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Target {
    FeatureFlag(String),
    App(AppKey),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::FeatureFlag(name) => write!(f, "feature_flag:{name}"),
            Target::App(key) => write!(f, "app:{key}"),
        }
    }
}

/// The closed set of actions (DESIGN.md §3). `Unowned` is reported, never drift.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    Create,
    Update,
    Delete,
    Orphan,
    Blocked,
    Noop,
    Unowned,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::Orphan => "orphan",
            Action::Blocked => "blocked",
            Action::Noop => "noop",
            Action::Unowned => "unowned",
        }
    }

    /// Whether this counts as drift / pending change (exit code 2).
    pub fn is_drift(self) -> bool {
        !matches!(self, Action::Noop | Action::Unowned)
    }
}

/// How a change reaches running instances.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rollout {
    /// Nothing runs differently (metadata, a stop, a delete, a flag).
    None,
    /// Takes effect without restarting instances (instances-only scale, routes).
    InPlace,
    /// Stop and start (strategy `restart`).
    Restart,
    Rolling,
    Canary,
}

impl Rollout {
    pub fn as_str(self) -> &'static str {
        match self {
            Rollout::None => "none",
            Rollout::InPlace => "in_place",
            Rollout::Restart => "restart",
            Rollout::Rolling => "rolling",
            Rollout::Canary => "canary",
        }
    }

    /// The rollout an app's strategy gives to a change that needs new instances.
    pub fn for_strategy(strategy: Strategy) -> Rollout {
        match strategy {
            Strategy::Rolling => Rollout::Rolling,
            Strategy::Canary => Rollout::Canary,
            Strategy::Restart => Rollout::Restart,
        }
    }
}

/// One field that differs. Values are JSON; a secret-looking env value is `"(sensitive)"`, a
/// credential is `"(credential changed)"`, an unreadable value (no bulk read) is `null`.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldDiff {
    /// `instances`, `processes.worker.memory`, `env.GREETING`, `image`, `state`, ...
    pub path: String,
    pub live: Value,
    pub desired: Value,
}

/// One target's change.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    pub target: Target,
    pub action: Action,
    pub fields: Vec<FieldDiff>,
    pub rollout: Rollout,
    /// Why, for a person: "not in git; prune is off", "registry.example.com: unauthorized".
    pub reason: String,
    /// What apply does (nothing for noop, orphan, blocked, unowned).
    pub work: Work,
}

/// What apply executes for a change.
#[derive(Clone, Debug, PartialEq)]
pub enum Work {
    Nothing,
    SetFlag {
        name: String,
        enabled: bool,
    },
    Create(Box<AppWork>),
    Update(Box<AppWork>),
    Delete {
        guid: String,
        observed_updated_at: String,
    },
}

/// Creating or converging one app.
#[derive(Clone, Debug, PartialEq)]
pub struct AppWork {
    /// `None` when creating.
    pub guid: Option<String>,
    /// The app's `LiveApp::stamp` when observed: apply fails the change as stale if it moved.
    pub observed_updated_at: Option<String>,
    /// The desired settings, provenance annotations included.
    pub spec: AppSpec,
    pub strategy: Strategy,
    /// A new package and build are needed (new app, new image or digest, new credential).
    pub image: Option<ImageWork>,
    /// Process types whose instances/memory/disk change.
    pub scale: BTreeSet<String>,
    /// Process types whose command or health check change.
    pub update_processes: BTreeSet<String>,
    pub env: bool,
    pub metadata: bool,
    /// The routes the app must have exactly, when they change.
    pub routes: Option<BTreeSet<String>>,
    /// The app must be started (it was stopped) / restarted (env or process changes). Both
    /// are `false` when `image` is set: the deploy starts a stopped app and replaces running
    /// instances itself.
    pub start: bool,
    pub restart: bool,
    /// What runs now, to restore on a failed rollout.
    pub previous: Option<Previous>,
}

/// The image to deploy. No secret: apply finds the credential by `registry` host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageWork {
    /// The reference to deploy (pinned `host/repo:tag@sha256:...` unless `pin_digest: false`).
    pub reference: String,
    /// As written in git (normalised), to resolve again just before the push.
    pub written: String,
    pub registry: String,
    pub username: Option<String>,
    /// The digest the preflight resolved.
    pub digest: Option<String>,
}

/// What an app ran before a change: restored when a rollout fails.
#[derive(Clone, Debug, PartialEq)]
pub struct Previous {
    pub env: Option<BTreeMap<String, String>>,
    pub processes: BTreeMap<String, crate::cf::platform::ProcessTarget>,
}

/// What identifies one rollout attempt: the revision, digest and spec hash of the desired
/// annotations, `<revision>@<digest>@<spec-hash>` (`-` for what is unknown). A failed rollout
/// is recorded under it (`provenance::FAILED_ROLLOUT`) and not tried again until one moves.
pub fn rollout_key(annotations: &BTreeMap<String, String>) -> String {
    let get = |k: &str| annotations.get(k).map_or("-", String::as_str);
    format!(
        "{}@{}@{}",
        get(provenance::REVISION),
        get(provenance::DIGEST),
        get(provenance::SPEC_HASH)
    )
}

/// Counts by action, for summaries.
pub fn summary(plan: &Plan) -> BTreeMap<Action, usize> {
    let mut counts = BTreeMap::new();
    for change in &plan.changes {
        *counts.entry(change.action).or_insert(0) += 1;
    }
    counts
}

/// Whether any change is drift (exit code 2).
pub fn has_drift(plan: &Plan) -> bool {
    plan.changes.iter().any(|c| c.action.is_drift())
}

/// What apply did with one change (`apply --output json`'s `result`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    Applied,
    Failed,
    Blocked,
    Skipped,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Failed => "failed",
            Outcome::Blocked => "blocked",
            Outcome::Skipped => "skipped",
        }
    }
}

/// The result of applying one change. `error` never holds a secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeResult {
    pub outcome: Outcome,
    pub error: Option<String>,
}

/// A plan, and what apply did with it (same order as `plan.changes`), for the renderers.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub plan: Plan,
    /// `None` for `plan` and `drift`.
    pub results: Option<Vec<ChangeResult>>,
}

#[cfg(test)]
mod tests;
