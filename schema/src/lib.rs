//! Wire types of what people write in git: Cloud Foundry app manifests and `driftless.yaml`.
//!
//! These types are the *file format*, lenient on purpose: scalars that carry units or counts are
//! kept as the text the user wrote ([`Scalar`]) so the loader can report every problem with its
//! location instead of stopping at the first type error. The reconciler converts them by hand
//! into validated domain types (`driftless::model`); the planner never sees these structs.
//!
//! Hyphen and underscore spellings of a key are one key (`disk_quota` and `disk-quota`). Fields
//! carry Cloud Foundry's own spelling; the loader matches either, and [`manifest_schema`] and
//! [`config_schema`] list both spellings so editors accept what the loader accepts.
//!
//! Unknown keys are not rejected here (no `deny_unknown_fields`): the loader reports them as
//! warnings, and as errors under `--strict`.

use std::collections::BTreeMap;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer};

/// The text of a YAML scalar (string, number or boolean), exactly as written.
///
/// Used where the manifest's value needs checking that serde's type errors would describe badly
/// (`memory: 512` has no unit; `instances: -1`). The field's schema states the expected form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scalar(pub String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Scalar;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_owned()))
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        // `deserialize_str` lets a YAML deserializer hand over the scalar's text as written
        // (`1.50` stays `1.50`); self-describing formats such as JSON still reach the typed
        // visitor methods above.
        deserializer.deserialize_str(Visitor)
    }
}

impl JsonSchema for Scalar {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Scalar".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": ["string", "number", "boolean"] })
    }
}

/// A key that must never appear, such as `docker.password`: a secret in git.
///
/// It accepts any value so the loader can report it with a located, secret-free message; its
/// schema is `false`, so editors flag it too.
#[derive(Clone, Debug, PartialEq)]
pub struct Forbidden;

impl<'de> Deserialize<'de> for Forbidden {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Consume the value without looking at it: it may be a secret.
        serde::de::IgnoredAny::deserialize(deserializer).map(|_| Forbidden)
    }
}

impl JsonSchema for Forbidden {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Forbidden".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        Schema::from(false)
    }
}

// ---------------------------------------------------------------------------------------------
// Cloud Foundry app manifests
// ---------------------------------------------------------------------------------------------

/// A Cloud Foundry app manifest (`cf push -f manifest.yml`). Its org and space come from the
/// file's path in the repo: `<org>/<space>/<file>.yml`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[schemars(title = "Cloud Foundry app manifest (driftless)")]
pub struct AppManifest {
    /// The manifest schema version; Cloud Foundry knows only `1`.
    #[schemars(with = "Option<u32>", range(min = 1, max = 1))]
    pub version: Option<Scalar>,
    /// The apps this manifest declares.
    #[schemars(required)]
    pub applications: Vec<ManifestApp>,
}

/// Declares a wire struct with the process keys shared by an app's top level (its `web`
/// process) and `processes[]` entries, plus [`ProcessFields`] access to them. Not
/// `#[serde(flatten)]`: flattening would hide unknown keys from the loader.
macro_rules! with_process_fields {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$fmeta:meta])* pub $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty,)*

    /// Number of instances (0 or more).
    #[schemars(with = "Option<u32>")]
    pub instances: Option<Scalar>,
    /// Memory per instance with a unit: B, K, KB, M, MB, G, GB, T, TB (case-insensitive).
    #[schemars(with = "Option<String>", pattern(r"^\s*[0-9]+\s*([bB]|[kKmMgGtT][bB]?)\s*$"))]
    pub memory: Option<Scalar>,
    /// Disk per instance with a unit (`1G`, `512M`).
    #[schemars(with = "Option<String>", pattern(r"^\s*[0-9]+\s*([bB]|[kKmMgGtT][bB]?)\s*$"))]
    pub disk_quota: Option<Scalar>,
    /// Log rate limit per instance with a unit (`1KB`, `16M`), or `-1` for unlimited.
    #[serde(rename = "log-rate-limit-per-second", default)]
    #[schemars(schema_with = "log_rate_schema")]
    pub log_rate_limit_per_second: Option<Scalar>,
    /// The command that starts the process (default: the image's entrypoint).
    pub command: Option<String>,
    /// Liveness health check: `port` (default), `process`, or `http`.
    #[serde(rename = "health-check-type")]
    pub health_check_type: Option<HealthCheckType>,
    /// The path a `http` health check requests (Cloud Foundry's default: `/`).
    #[serde(rename = "health-check-http-endpoint")]
    pub health_check_http_endpoint: Option<String>,
    /// Seconds a single health check may take.
    #[serde(rename = "health-check-invocation-timeout")]
    #[schemars(with = "Option<u32>", range(min = 1))]
    pub health_check_invocation_timeout: Option<Scalar>,
    /// Seconds between health checks.
    #[serde(rename = "health-check-interval")]
    #[schemars(with = "Option<u32>", range(min = 1))]
    pub health_check_interval: Option<Scalar>,
    /// Readiness health check: `port`, `process`, or `http`.
    #[serde(rename = "readiness-health-check-type")]
    pub readiness_health_check_type: Option<HealthCheckType>,
    /// The path a `http` readiness check requests (required for `http`).
    #[serde(rename = "readiness-health-check-http-endpoint")]
    pub readiness_health_check_http_endpoint: Option<String>,
    /// Seconds a single readiness check may take.
    #[serde(rename = "readiness-health-check-invocation-timeout")]
    #[schemars(with = "Option<u32>", range(min = 1))]
    pub readiness_health_check_invocation_timeout: Option<Scalar>,
    /// Seconds between readiness checks.
    #[serde(rename = "readiness-health-check-interval")]
    #[schemars(with = "Option<u32>", range(min = 1))]
    pub readiness_health_check_interval: Option<Scalar>,
    /// Seconds an instance may take to become healthy after it starts.
    #[schemars(with = "Option<u32>", range(min = 1))]
    pub timeout: Option<Scalar>,
    /// The OS user the process runs as.
    pub user: Option<String>,
        }

        impl $name {
            /// The process keys of this entry.
            pub fn process_fields(&self) -> ProcessFields {
                ProcessFields {
                    instances: self.instances.clone(),
                    memory: self.memory.clone(),
                    disk_quota: self.disk_quota.clone(),
                    log_rate_limit_per_second: self.log_rate_limit_per_second.clone(),
                    command: self.command.clone(),
                    health_check_type: self.health_check_type,
                    health_check_http_endpoint: self.health_check_http_endpoint.clone(),
                    health_check_invocation_timeout: self.health_check_invocation_timeout.clone(),
                    health_check_interval: self.health_check_interval.clone(),
                    readiness_health_check_type: self.readiness_health_check_type,
                    readiness_health_check_http_endpoint: self.readiness_health_check_http_endpoint.clone(),
                    readiness_health_check_invocation_timeout: self.readiness_health_check_invocation_timeout.clone(),
                    readiness_health_check_interval: self.readiness_health_check_interval.clone(),
                    timeout: self.timeout.clone(),
                    user: self.user.clone(),
                }
            }
        }
    };
}

/// The process keys of an app's top level or of one `processes[]` entry, as written.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProcessFields {
    pub instances: Option<Scalar>,
    pub memory: Option<Scalar>,
    pub disk_quota: Option<Scalar>,
    pub log_rate_limit_per_second: Option<Scalar>,
    pub command: Option<String>,
    pub health_check_type: Option<HealthCheckType>,
    pub health_check_http_endpoint: Option<String>,
    pub health_check_invocation_timeout: Option<Scalar>,
    pub health_check_interval: Option<Scalar>,
    pub readiness_health_check_type: Option<HealthCheckType>,
    pub readiness_health_check_http_endpoint: Option<String>,
    pub readiness_health_check_invocation_timeout: Option<Scalar>,
    pub readiness_health_check_interval: Option<Scalar>,
    pub timeout: Option<Scalar>,
    pub user: Option<String>,
}

with_process_fields! {
/// One entry of `applications:`. Top-level process keys (`instances`, `memory`, `command`, ...)
/// describe the `web` process, as in Cloud Foundry.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
pub struct ManifestApp {
    /// The app's name, unique in its space (Cloud Foundry compares names case-insensitively).
    #[schemars(required, length(min = 1))]
    pub name: Option<String>,
    /// The docker image to run. driftless deploys docker images only.
    pub docker: Option<DockerSource>,
    /// Buildpack apps are not supported; present only to report it clearly.
    pub buildpack: Option<String>,
    /// Buildpack apps are not supported; present only to report it clearly.
    pub buildpacks: Option<Vec<String>>,
    /// App bits to upload: not used with docker images; present only to report it clearly.
    pub path: Option<String>,
    /// The stack; ignored by Cloud Foundry for docker apps.
    pub stack: Option<String>,
    /// Environment variables (scalars; numbers and booleans become strings, as in `cf push`).
    pub env: Option<BTreeMap<String, Option<Scalar>>>,
    /// Routes the app gets, exactly (`host.domain[:port][/path]`).
    pub routes: Option<Vec<ManifestRoute>>,
    /// `true`: the app gets no route at all.
    #[serde(rename = "no-route")]
    pub no_route: Option<bool>,
    /// `true`: the app gets a route with a random host name.
    #[serde(rename = "random-route")]
    pub random_route: Option<bool>,
    /// `true`: the app gets the default route when it lists none.
    #[serde(rename = "default-route")]
    pub default_route: Option<bool>,
    /// The app's processes; the `web` entry overrides the top-level process keys.
    pub processes: Option<Vec<ManifestProcess>>,
    /// Sidecar processes.
    pub sidecars: Option<Vec<ManifestSidecar>>,
    /// Service instances to bind.
    pub services: Option<Vec<ServiceBinding>>,
    /// Cloud Foundry metadata set on the app.
    pub metadata: Option<ManifestMetadata>,
    /// App features, such as `ssh` or `revisions`.
    pub features: Option<BTreeMap<String, bool>>,
}
}

/// The schema of `log-rate-limit-per-second`: a size with a unit, or -1 for unlimited.
fn log_rate_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "anyOf": [
            { "type": "string", "pattern": r"^\s*(-1|[0-9]+\s*([bB]|[kKmMgGtT][bB]?))\s*$" },
            { "const": -1 },
            { "type": "null" }
        ]
    })
}

/// Where the image comes from.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
pub struct DockerSource {
    /// A Docker image reference: `[host[:port]/]repo[:tag][@sha256:digest]`.
    #[schemars(required)]
    pub image: Option<String>,
    /// The registry user, when the image is private. Its password comes from the matching
    /// `registries` entry of `driftless.yaml`, never from git.
    pub username: Option<String>,
    /// Not allowed: a password in git. Use `driftless.yaml` `registries` with a reference.
    pub password: Option<Forbidden>,
}

/// A liveness or readiness health check type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum HealthCheckType {
    Port,
    Process,
    Http,
    /// Deprecated spelling of `process`.
    None,
}

with_process_fields! {
/// One entry of `processes:`.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
pub struct ManifestProcess {
    /// The process type, such as `web` or `worker`.
    #[serde(rename = "type")]
    #[schemars(required, length(min = 1))]
    pub kind: Option<String>,
}
}

/// One entry of `routes:`.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
pub struct ManifestRoute {
    /// `host.domain[:port][/path]`.
    #[schemars(required, length(min = 1))]
    pub route: Option<String>,
    /// `http1` (default for HTTP routes), `http2`, or `tcp`.
    pub protocol: Option<RouteProtocol>,
    /// Route options, such as `loadbalancing`.
    pub options: Option<BTreeMap<String, Scalar>>,
}

/// A route protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RouteProtocol {
    Http1,
    Http2,
    Tcp,
}

/// One sidecar.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
pub struct ManifestSidecar {
    #[schemars(required, length(min = 1))]
    pub name: Option<String>,
    /// The process types it runs beside.
    #[schemars(required)]
    pub process_types: Option<Vec<String>>,
    #[schemars(required)]
    pub command: Option<String>,
    #[schemars(
        with = "Option<String>",
        pattern(r"^\s*[0-9]+\s*([bB]|[kKmMgGtT][bB]?)\s*$")
    )]
    pub memory: Option<Scalar>,
}

/// A service binding: a service instance name, or a mapping with binding settings.
#[derive(Clone, Debug, PartialEq, JsonSchema)]
#[serde(untagged)]
pub enum ServiceBinding {
    Name(String),
    Detailed(ServiceBindingDetails),
}

/// A service binding with settings.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, JsonSchema)]
pub struct ServiceBindingDetails {
    /// The service instance's name.
    #[schemars(required, length(min = 1))]
    pub name: Option<String>,
    /// The binding's name.
    pub binding_name: Option<String>,
    /// Arbitrary parameters passed to the service broker.
    pub parameters: Option<BTreeMap<String, serde_json::Value>>,
}

const SERVICE_BINDING_FIELDS: &[&str] = &["name", "binding_name", "parameters"];

impl<'de> Deserialize<'de> for ServiceBinding {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Asked for as a struct rather than `serde(untagged)`: untagged buffers the value, which
        // would hide the mapping's keys from the driftless YAML reader (no unknown-key report, no
        // `binding-name` spelling). That reader hands a scalar to `visit_str`.
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = ServiceBinding;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a service instance name, or a mapping with `name`")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ServiceBinding, E> {
                Ok(ServiceBinding::Name(v.to_owned()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<ServiceBinding, A::Error> {
                let details = ServiceBindingDetails::deserialize(
                    serde::de::value::MapAccessDeserializer::new(map),
                )?;
                Ok(ServiceBinding::Detailed(details))
            }
        }
        deserializer.deserialize_struct("ServiceBindingDetails", SERVICE_BINDING_FIELDS, Visitor)
    }
}

/// `metadata:` of an app.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
pub struct ManifestMetadata {
    /// Labels: `[prefix/]name` keys (name at most 63 characters), values at most 63 characters.
    pub labels: Option<BTreeMap<String, Option<Scalar>>>,
    /// Annotations: `[prefix/]name` keys, values at most 5000 characters.
    pub annotations: Option<BTreeMap<String, Option<Scalar>>>,
}

// ---------------------------------------------------------------------------------------------
// driftless.yaml
// ---------------------------------------------------------------------------------------------

/// `driftless.yaml` at the repo root: foundations, registries, policy and per-app settings.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[schemars(title = "driftless.yaml")]
pub struct Config {
    /// The Cloud Foundry or Stackato foundations this repo targets.
    pub foundations: Option<Vec<Foundation>>,
    /// Credentials by registry host; never inline in git.
    pub registries: Option<Vec<Registry>>,
    /// What driftless may do.
    pub policy: Option<Policy>,
    /// Per-app driftless settings, matched by `org/space/name` glob; the first match wins.
    pub apps: Option<Vec<AppSettings>>,
}

/// One foundation.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
pub struct Foundation {
    #[schemars(required, length(min = 1))]
    pub name: Option<String>,
    /// The Cloud Controller API URL, such as `https://api.sys.example.com`.
    #[schemars(required)]
    pub api: Option<String>,
    /// `cloudfoundry` (CC API v3) or `stackato` (v2); detected when absent.
    pub platform: Option<PlatformKind>,
    /// How driftless logs in.
    pub auth: Option<FoundationAuth>,
    /// Feature flags driftless converges (`diego_docker: true`). Flags not listed are left alone.
    pub feature_flags: Option<BTreeMap<String, bool>>,
    /// Manifests under this directory belong to this foundation (default: the whole repo).
    pub path: Option<String>,
    /// Skip TLS certificate checks (off by default; driftless warns when on).
    pub skip_ssl_validation: Option<bool>,
}

/// The kind of foundation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PlatformKind {
    Cloudfoundry,
    Stackato,
}

/// Login settings: a user with a password, or a UAA client with a secret.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
pub struct FoundationAuth {
    pub username: Option<String>,
    pub password: Option<SecretRef>,
    pub client_id: Option<String>,
    pub client_secret: Option<SecretRef>,
}

/// Where a secret is read from at run time. A literal value is a validation error.
#[derive(Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(untagged)]
pub enum SecretRef {
    /// `{ env: NAME }`: an environment variable of the driftless process.
    Env {
        #[schemars(length(min = 1))]
        env: String,
    },
    /// `{ file: PATH }`: a file whose content (trimmed of one trailing newline) is the secret.
    File {
        #[schemars(length(min = 1))]
        file: String,
    },
}

impl<'de> Deserialize<'de> for SecretRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SecretRefVisitor)
    }
}

/// The message for a literal secret. It never repeats the value.
pub const LITERAL_SECRET: &str = "a literal secret is not allowed in git; \
     expected a reference: `{ env: NAME }` or `{ file: PATH }`";

struct SecretRefVisitor;

impl<'de> serde::de::Visitor<'de> for SecretRefVisitor {
    type Value = SecretRef;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a secret reference: `{ env: NAME }` or `{ file: PATH }`")
    }
    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<SecretRef, E> {
        Err(E::custom(LITERAL_SECRET))
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<SecretRef, E> {
        Err(E::custom(LITERAL_SECRET))
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<SecretRef, E> {
        Err(E::custom(LITERAL_SECRET))
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<SecretRef, E> {
        Err(E::custom(LITERAL_SECRET))
    }
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<SecretRef, E> {
        Err(E::custom(LITERAL_SECRET))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<SecretRef, A::Error> {
        use serde::de::Error;
        let mut found: Option<SecretRef> = None;
        while let Some(key) = map.next_key::<String>()? {
            let value: String = map.next_value()?;
            let next = match key.as_str() {
                "env" => SecretRef::Env { env: value },
                "file" => SecretRef::File { file: value },
                other => {
                    return Err(A::Error::custom(format!(
                        "unknown secret reference `{other}`; expected `env` or `file`"
                    )));
                }
            };
            if found.replace(next).is_some() {
                return Err(A::Error::custom(
                    "a secret reference has exactly one of `env` or `file`",
                ));
            }
        }
        found.ok_or_else(|| A::Error::custom("empty secret reference; expected `env` or `file`"))
    }
}

/// Credentials for one registry host.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
pub struct Registry {
    /// The registry host as it appears in image references (`registry.example.com:5000`).
    /// Docker Hub is `docker.io`.
    #[schemars(required, length(min = 1))]
    pub host: Option<String>,
    /// The pull user. A manifest's `docker.username` must match it.
    pub username: Option<String>,
    /// The pull password, by reference.
    pub password: Option<SecretRef>,
    /// A docker `config.json` whose `auths` entry for `host` holds the credentials.
    pub docker_config: Option<String>,
    /// The registry speaks plain HTTP (a test or lab registry).
    pub insecure: Option<bool>,
}

/// What driftless may do.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
pub struct Policy {
    /// Registry hosts images may come from (default: any).
    pub allowed_registries: Option<Vec<String>>,
    /// Refuse images given by a mutable tag only.
    pub require_digest: Option<bool>,
    /// Deploy the digest resolved before the push rather than the tag as written (default true).
    pub pin_digest: Option<bool>,
    /// Delete managed apps that were removed from git.
    pub prune: Option<bool>,
    /// Take over existing apps that git declares but driftless did not create.
    pub adopt: Option<bool>,
    /// What to do when a tag now names another digest than the one running.
    pub tag_moved: Option<TagMoved>,
    /// The largest share of managed apps one plan may delete without `--allow-mass-delete`.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub max_delete_fraction: Option<f64>,
}

/// What to do when an image tag moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TagMoved {
    /// Report it as drift, change nothing.
    Report,
    /// Roll out the new digest.
    Redeploy,
}

/// Per-app driftless settings.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
pub struct AppSettings {
    /// A glob over `org/space/name` (`*` matches within one segment, `**` across segments).
    #[serde(rename = "match")]
    #[schemars(required, length(min = 1))]
    pub pattern: Option<String>,
    /// Only on this foundation (a `foundations[].name`).
    pub foundation: Option<String>,
    /// How image and configuration changes roll out.
    pub strategy: Option<Strategy>,
    /// Freeze the app: report, never change it.
    pub suspend: Option<bool>,
}

/// A rollout strategy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    Rolling,
    Canary,
    Restart,
}

// ---------------------------------------------------------------------------------------------
// The JSON Schemas
// ---------------------------------------------------------------------------------------------

/// The JSON Schema of a Cloud Foundry app manifest as driftless reads it.
pub fn manifest_schema() -> serde_json::Value {
    finish(
        schemars::generate::SchemaSettings::draft2020_12()
            .into_generator()
            .into_root_schema_for::<AppManifest>(),
    )
}

/// The JSON Schema of `driftless.yaml`.
pub fn config_schema() -> serde_json::Value {
    finish(
        schemars::generate::SchemaSettings::draft2020_12()
            .into_generator()
            .into_root_schema_for::<Config>(),
    )
}

/// The spelling of `key` with hyphens and underscores swapped, if it has either.
pub fn alternate_spelling(key: &str) -> Option<String> {
    if key.contains('-') {
        Some(key.replace('-', "_"))
    } else if key.contains('_') {
        Some(key.replace('_', "-"))
    } else {
        None
    }
}

fn finish(schema: Schema) -> serde_json::Value {
    let mut value = schema.to_value();
    add_alternate_spellings(&mut value);
    value
}

/// Lists both spellings of every hyphenated or underscored property, as the loader accepts both.
fn add_alternate_spellings(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            if let Some(serde_json::Value::Object(properties)) = map.get_mut("properties") {
                let extra: Vec<(String, serde_json::Value)> = properties
                    .iter()
                    .filter_map(|(key, schema)| {
                        let alt = alternate_spelling(key)?;
                        (!properties.contains_key(&alt)).then(|| (alt, schema.clone()))
                    })
                    .collect();
                properties.extend(extra);
            }
            for child in map.values_mut() {
                add_alternate_spellings(child);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(add_alternate_spellings),
        _ => {}
    }
}

/// The committed schema files: file name and pretty-printed JSON (with a trailing newline).
pub fn schema_files() -> Vec<(&'static str, String)> {
    let pretty = |value: serde_json::Value| {
        let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
        text.push('\n');
        text
    };
    vec![
        ("manifest.schema.json", pretty(manifest_schema())),
        ("driftless.schema.json", pretty(config_schema())),
    ]
}
