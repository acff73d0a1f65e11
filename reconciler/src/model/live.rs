//! What a foundation runs, as one bulk observation saw it: the planner's other input.
//!
//! Built by `cf::v3::observe` from paged list requests only. Env vars and process commands
//! have no bulk read in Cloud Foundry; they are compared through the provenance annotations
//! driftless writes (hashes), and read per app only on a deep check.

use std::collections::{BTreeMap, BTreeSet};

use super::{AppKey, SpaceKey};

/// The label that marks an app as driftless's.
pub const MANAGED_LABEL: &str = "driftless.dev/managed";

/// A foundation's observed state within a scope (the spaces git manages).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Live {
    /// The scope's spaces that exist, with their GUIDs.
    pub spaces: BTreeMap<SpaceKey, String>,
    /// Every app in those spaces, owned or not.
    pub apps: BTreeMap<AppKey, LiveApp>,
    /// Every feature flag of the foundation.
    pub feature_flags: BTreeMap<String, bool>,
    /// The domain `cf push` gives a default route on (the first shared domain).
    pub default_domain: Option<String>,
}

/// One observed app.
#[derive(Clone, Debug, PartialEq)]
pub struct LiveApp {
    pub guid: String,
    pub started: bool,
    /// Moves when the app's env, current droplet, name or state change (the change signal).
    pub updated_at: String,
    /// Carries [`MANAGED_LABEL`] = `true`.
    pub owned: bool,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// The current droplet's image (`None`: no droplet yet).
    pub image: Option<String>,
    /// Process type -> settings.
    pub processes: BTreeMap<String, LiveProcess>,
    /// Route URLs (`host.domain/path`) with this app as a destination.
    pub routes: BTreeSet<String>,
    /// An ACTIVE deployment is rolling, by GUID.
    pub deployment: Option<String>,
    /// Environment variables, when read (per app: a deep check, or `updated_at` moved);
    /// `None`: compare through the env-hash annotation.
    pub env: Option<BTreeMap<String, String>>,
}

impl LiveApp {
    /// What moves when anyone changes the app: its `updated_at` (env, droplet, state, name,
    /// metadata) and state, and each process's `updated_at`, instances, memory, disk and health
    /// check. Timestamps have whole seconds, so the values themselves are part of it: a
    /// `cf scale` in the same second as the observation still shows. Apply compares it with a
    /// fresh read to refuse changes planned on a stale observation.
    pub fn stamp(&self) -> String {
        stamp(
            &self.updated_at,
            self.started,
            self.processes.iter().map(|(kind, p)| {
                (
                    kind.as_str(),
                    format!(
                        "{}/{}/{}/{}/{}",
                        p.updated_at, p.instances, p.memory_mb, p.disk_mb, p.health_check_type
                    ),
                )
            }),
        )
    }
}

/// The stamp of an app's `updated_at` and state, and its processes' (type, details) pairs,
/// details as `updated_at/instances/memory_mb/disk_mb/health_check_type`.
pub fn stamp<'a>(
    app: &str,
    started: bool,
    processes: impl IntoIterator<Item = (&'a str, String)>,
) -> String {
    let mut processes: Vec<(&str, String)> = processes.into_iter().collect();
    processes.sort_unstable();
    let mut out = format!("{app}/{}", if started { "STARTED" } else { "STOPPED" });
    for (kind, details) in processes {
        out.push_str(&format!(";{kind}={details}"));
    }
    out
}

/// One observed process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveProcess {
    pub guid: String,
    pub instances: u32,
    pub memory_mb: u64,
    pub disk_mb: u64,
    pub health_check_type: String,
    pub health_check_endpoint: Option<String>,
    /// Seconds an instance may take to become healthy.
    pub timeout: Option<u32>,
    /// `None` when hidden (lists hide commands) or not set.
    pub command: Option<String>,
    pub updated_at: String,
}
