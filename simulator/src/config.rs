//! The in-process configuration: where to listen, who may log in, and the fault and timing
//! knobs. `driftless simulate` maps its flags onto [`SimConfig`]; tests build one directly.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::{Clock, SystemClock};
use crate::error::SimError;

/// A UAA user that can use the password grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSpec {
    /// Login name.
    pub username: String,
    /// Password, compared verbatim.
    pub password: String,
    /// Cloud Controller admin (`cloud_controller.admin` scope). Otherwise a space developer
    /// in every space.
    #[serde(default)]
    pub admin: bool,
}

/// A UAA client that can use the client-credentials grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientSpec {
    /// Client id.
    pub client_id: String,
    /// Client secret.
    pub client_secret: String,
    /// Whether the client's tokens carry `cloud_controller.admin`.
    #[serde(default)]
    pub admin: bool,
}

/// Injected transport faults, drawn from the seeded RNG.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Faults {
    /// Probability in `[0, 1]` that a request answers 502 or 503 instead of being served.
    pub error_rate: f64,
    /// Probability in `[0, 1]` that a request's connection is dropped before a complete response.
    pub drop_rate: f64,
}

/// A CF-style rate limit: `limit` requests per `reset_interval`, per user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed per window.
    pub limit: u32,
    /// Window length.
    pub reset_interval: Duration,
}

/// The embedded Registry V2.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RegistryConfig {
    /// Where to listen; `None` is `127.0.0.1:0`.
    pub listen: Option<SocketAddr>,
    /// Credentials the registry requires; `None` is anonymous access.
    pub basic_auth: Option<(String, String)>,
    /// Challenge with `Bearer realm=".../token",service=...` (a token server on the same
    /// port that checks `basic_auth`) instead of `Basic`.
    pub bearer: bool,
}

/// Everything the simulator needs to start. `Default` is the documented default foundation.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Where to listen (default `127.0.0.1:0`, a free port).
    pub listen: SocketAddr,
    /// Written with the bound port (decimal, newline) once the server accepts connections.
    pub port_file: Option<PathBuf>,
    /// Serve the Stackato v2 dialect (`/v2/...`) in addition to v3.
    pub stackato: bool,
    /// With `stackato`: serve only v2, as the pre-v3 Cloud Controller of HP Stackato 3 and 4
    /// does: `GET /` and `/v3/...` answer 404 CF-NotFound (in the v2 error shape); discovery is
    /// `/v2/info` alone.
    pub v2_only: bool,
    /// Seed of every random choice (GUIDs, injected faults).
    pub seed: u64,
    /// The clock every time-based transition reads.
    pub clock: Arc<dyn Clock>,
    /// Password-grant users (default: `admin`/`admin` admin, `developer`/`developer`).
    pub users: Vec<UserSpec>,
    /// Client-credentials clients (default: `driftless`/`driftless` admin).
    pub clients: Vec<ClientSpec>,
    /// Access-token lifetime (default 20 minutes).
    pub token_lifetime: Duration,
    /// Refresh-token lifetime (default 30 days).
    pub refresh_token_lifetime: Duration,
    /// How long a build stays STAGING (default 2 s).
    pub staging_duration: Duration,
    /// How long a deployment stays DEPLOYING, and a canary step lasts (default 3 s).
    pub deployment_duration: Duration,
    /// How long an asynchronous job stays PROCESSING (default 0: done on the next read).
    pub job_duration: Duration,
    /// How long started instances report STARTING before RUNNING (default 0).
    pub start_duration: Duration,
    /// Added to every request before it is served.
    pub latency: Duration,
    /// Injected 502/503s and dropped connections.
    pub faults: Faults,
    /// Rate limiting; `None` disables it (and `/v3/info` says so).
    pub rate_limit: Option<RateLimit>,
    /// Images whose instances fail their health check (exact reference, or a prefix ending in
    /// `*`). Rollouts of them never finish.
    pub unhealthy_images: BTreeSet<String>,
    /// Registry hosts reached over plain HTTP. Loopback hosts always are.
    pub insecure_registries: BTreeSet<String>,
    /// Initial state (orgs, spaces, apps, flags, logins).
    pub seed_state: Option<SeedState>,
    /// Start an embedded Registry V2 next to the API.
    pub registry: Option<RegistryConfig>,
    /// The shared domain every org gets as its default (default `apps.sim.local`).
    pub shared_domain: String,
    /// Serve HTTPS with this certificate chain and key (PEM files) instead of plain HTTP.
    pub tls: Option<TlsConfig>,
}

/// PEM files for HTTPS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// Certificate chain, leaf first.
    pub cert_chain: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            port_file: None,
            stackato: false,
            v2_only: false,
            seed: 0,
            clock: Arc::new(SystemClock),
            users: default_users(),
            clients: default_clients(),
            token_lifetime: Duration::from_secs(20 * 60),
            refresh_token_lifetime: Duration::from_secs(30 * 24 * 3600),
            staging_duration: Duration::from_secs(2),
            deployment_duration: Duration::from_secs(3),
            job_duration: Duration::ZERO,
            start_duration: Duration::ZERO,
            latency: Duration::ZERO,
            faults: Faults::default(),
            rate_limit: None,
            unhealthy_images: BTreeSet::new(),
            insecure_registries: BTreeSet::new(),
            seed_state: None,
            registry: None,
            shared_domain: "apps.sim.local".into(),
            tls: None,
        }
    }
}

impl SimConfig {
    /// Reads a seed file (YAML or JSON, see `docs/simulator.md`) into `seed_state`; logins in
    /// the file replace the defaults.
    pub fn with_seed_file(mut self, path: &Path) -> Result<Self, SimError> {
        let seed = SeedState::from_file(path)?;
        if let Some(users) = &seed.users {
            self.users = users.clone();
        }
        if let Some(clients) = &seed.clients {
            self.clients = clients.clone();
        }
        self.seed_state = Some(seed);
        Ok(self)
    }
}

/// The default logins of DESIGN.md section 6.
pub fn default_users() -> Vec<UserSpec> {
    vec![
        UserSpec {
            username: "admin".into(),
            password: "admin".into(),
            admin: true,
        },
        UserSpec {
            username: "developer".into(),
            password: "developer".into(),
            admin: false,
        },
    ]
}

/// The default client of DESIGN.md section 6.
pub fn default_clients() -> Vec<ClientSpec> {
    vec![ClientSpec {
        client_id: "driftless".into(),
        client_secret: "driftless".into(),
        admin: true,
    }]
}

/// A seed file: initial foundation state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedState {
    /// Replaces the default users when present.
    #[serde(default)]
    pub users: Option<Vec<UserSpec>>,
    /// Replaces the default clients when present.
    #[serde(default)]
    pub clients: Option<Vec<ClientSpec>>,
    /// Feature flag values, e.g. `diego_docker: true`.
    #[serde(default)]
    pub feature_flags: BTreeMap<String, bool>,
    /// Organizations with their spaces and apps.
    #[serde(default)]
    pub orgs: Vec<SeedOrg>,
}

/// A seeded organization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedOrg {
    /// Name.
    pub name: String,
    /// Spaces.
    #[serde(default)]
    pub spaces: Vec<SeedSpace>,
}

/// A seeded space.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedSpace {
    /// Name.
    pub name: String,
    /// Apps.
    #[serde(default)]
    pub apps: Vec<SeedApp>,
}

/// A seeded docker app, already staged (its droplet exists; no registry is contacted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedApp {
    /// Name.
    pub name: String,
    /// Docker image reference; `None` seeds an app with no package or droplet.
    #[serde(default)]
    pub image: Option<String>,
    /// `STARTED` (default when an image is given) or `STOPPED`.
    #[serde(default)]
    pub state: Option<String>,
    /// Web instances (default 1).
    #[serde(default)]
    pub instances: Option<u32>,
    /// Web memory in MB (default 1024).
    #[serde(default)]
    pub memory_in_mb: Option<u64>,
    /// Environment variables.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

impl SeedState {
    /// Parses a seed file (YAML, of which JSON is a subset).
    pub fn from_file(path: &Path) -> Result<Self, SimError> {
        let text = std::fs::read_to_string(path).map_err(|source| SimError::SeedRead {
            path: path.to_owned(),
            source,
        })?;
        serde_yaml::from_str(&text).map_err(|source| SimError::SeedParse {
            path: path.to_owned(),
            source,
        })
    }
}
