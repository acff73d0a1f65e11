//! Secrets in memory, and resolving the references that stand for them in git.
//!
//! A [`Secret`] never shows its value through `Debug` or `Display`, so a secret that ends up in a
//! log line, an error or a report prints as `(redacted)`. Its value leaves only through
//! [`Secret::expose`], called at the last moment (an HTTP header, a Stackato push argument).
//! A [`fingerprint`] identifies a credential without revealing it (for provenance annotations).
//!
//! Resolving a `SecretRef` reads the process environment or a file: this is shell code, kept
//! behind the [`SecretSource`] trait so callers and tests can supply values explicitly.

use std::{collections::BTreeMap, fmt, path::Path};

use base64::Engine as _;
use sha2::Digest as _;

use crate::model::SecretRef;

/// A secret value. `Debug` and `Display` print `(redacted)`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself. Call only where it must go out (a request header, a push argument).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(redacted)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(redacted)")
    }
}

/// A username and password for a registry (or a UAA user).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: Secret,
}

/// A short, stable, one-way identifier of a credential: `sha256:` and 16 hex digits of
/// sha256(username, NUL, password). Changes when either changes; reveals neither.
pub fn fingerprint(credentials: &Credentials) -> String {
    let mut hasher = sha2::Sha256::new();
    hasher.update(credentials.username.as_bytes());
    hasher.update([0]);
    hasher.update(credentials.password.expose().as_bytes());
    let digest = hasher.finalize();
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Why a secret reference could not be resolved. Never carries the value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("environment variable `{name}` is not set")]
    EnvMissing { name: String },
    #[error("read secret file {path}: {reason}")]
    File { path: String, reason: String },
    #[error("docker config {path}: {reason}")]
    DockerConfig { path: String, reason: String },
}

/// Where secret references are resolved: the process environment and files, or a fixed map in
/// tests and in the embedded demo.
pub trait SecretSource {
    fn env(&self, name: &str) -> Option<String>;
    fn file(&self, path: &Path) -> Result<String, String>;
}

/// The real environment and file system.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcessSecrets;

impl SecretSource for ProcessSecrets {
    fn env(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    fn file(&self, path: &Path) -> Result<String, String> {
        std::fs::read_to_string(path).map_err(|e| e.kind().to_string())
    }
}

/// Fixed values, for tests and the demo.
#[derive(Clone, Debug, Default)]
pub struct StaticSecrets {
    pub env: BTreeMap<String, String>,
    pub files: BTreeMap<String, String>,
}

impl SecretSource for StaticSecrets {
    fn env(&self, name: &str) -> Option<String> {
        self.env.get(name).cloned()
    }

    fn file(&self, path: &Path) -> Result<String, String> {
        self.files
            .get(&path.to_string_lossy().into_owned())
            .cloned()
            .ok_or_else(|| "not found".to_owned())
    }
}

/// Resolves a reference to its value. A file's content loses one trailing newline.
pub fn resolve(reference: &SecretRef, source: &impl SecretSource) -> Result<Secret, SecretError> {
    match reference {
        SecretRef::Env { env } => source
            .env(env)
            .map(Secret)
            .ok_or_else(|| SecretError::EnvMissing { name: env.clone() }),
        SecretRef::File { file } => {
            let text = source
                .file(Path::new(file))
                .map_err(|reason| SecretError::File {
                    path: file.clone(),
                    reason,
                })?;
            let value = text
                .strip_suffix('\n')
                .map(|t| t.strip_suffix('\r').unwrap_or(t))
                .unwrap_or(&text);
            Ok(Secret(value.to_owned()))
        }
    }
}

/// The credentials for `host` in a docker `config.json` (`auths`: base64 `auth`, or
/// `username` + `password`). Hosts match as written, or with an `https://` prefix and a path
/// (`https://index.docker.io/v1/` is Docker Hub).
pub fn docker_config_credentials(
    text: &str,
    host: &str,
    path: &str,
) -> Result<Credentials, SecretError> {
    let fail = |reason: &str| SecretError::DockerConfig {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    let config: serde_json::Value =
        serde_json::from_str(text).map_err(|_| fail("not valid JSON"))?;
    let auths = config
        .get("auths")
        .and_then(serde_json::Value::as_object)
        .ok_or_else(|| fail("no `auths`"))?;
    let wanted = normalise_config_host(host);
    let entry = auths
        .iter()
        .find(|(key, _)| normalise_config_host(key) == wanted)
        .map(|(_, entry)| entry)
        .ok_or_else(|| fail(&format!("no entry for `{host}` in `auths`")))?;
    if let Some(auth) = entry.get("auth").and_then(serde_json::Value::as_str) {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|_| fail(&format!("the `auth` of `{host}` is not base64")))?;
        let decoded = String::from_utf8(decoded)
            .map_err(|_| fail(&format!("the `auth` of `{host}` is not UTF-8")))?;
        let (username, password) = decoded
            .split_once(':')
            .ok_or_else(|| fail(&format!("the `auth` of `{host}` is not `user:password`")))?;
        return Ok(Credentials {
            username: username.to_owned(),
            password: Secret(password.to_owned()),
        });
    }
    match (
        entry.get("username").and_then(serde_json::Value::as_str),
        entry.get("password").and_then(serde_json::Value::as_str),
    ) {
        (Some(username), Some(password)) => Ok(Credentials {
            username: username.to_owned(),
            password: Secret(password.to_owned()),
        }),
        _ => Err(fail(&format!(
            "the entry for `{host}` has neither `auth` nor `username` and `password`"
        ))),
    }
}

fn normalise_config_host(key: &str) -> String {
    let bare = key
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = bare.split('/').next().unwrap_or(bare).to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" => "docker.io".to_owned(),
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print_their_value() {
        let creds = Credentials {
            username: "ci".into(),
            password: Secret::new("hunter2"),
        };
        assert_eq!(format!("{}", creds.password), "(redacted)");
        let debug = format!("{creds:?}");
        assert!(
            !debug.contains("hunter2") && debug.contains("(redacted)"),
            "{debug}"
        );
        assert_eq!(creds.password.expose(), "hunter2");
    }

    #[test]
    fn fingerprints_change_with_the_credential_and_hide_it() {
        let a = Credentials {
            username: "ci".into(),
            password: Secret::new("one"),
        };
        let b = Credentials {
            username: "ci".into(),
            password: Secret::new("two"),
        };
        assert_ne!(fingerprint(&a), fingerprint(&b));
        assert_eq!(fingerprint(&a), fingerprint(&a.clone()));
        assert!(fingerprint(&a).starts_with("sha256:") && fingerprint(&a).len() == 23);
        assert!(!fingerprint(&a).contains("one"));
    }

    #[test]
    fn references_resolve_from_env_and_files() {
        let source = StaticSecrets {
            env: BTreeMap::from([("REG".to_owned(), "from-env".to_owned())]),
            files: BTreeMap::from([("/run/p".to_owned(), "from-file\n".to_owned())]),
        };
        let env = resolve(&SecretRef::Env { env: "REG".into() }, &source).expect("env");
        assert_eq!(env.expose(), "from-env");
        let file = resolve(
            &SecretRef::File {
                file: "/run/p".into(),
            },
            &source,
        )
        .expect("file");
        assert_eq!(file.expose(), "from-file");
        assert_eq!(
            resolve(&SecretRef::Env { env: "NOPE".into() }, &source),
            Err(SecretError::EnvMissing {
                name: "NOPE".into()
            })
        );
        assert!(matches!(
            resolve(&SecretRef::File { file: "/x".into() }, &source),
            Err(SecretError::File { .. })
        ));
    }

    #[test]
    fn docker_config_entries_are_found_by_host() {
        let auth = base64::engine::general_purpose::STANDARD.encode("ci:s3cret");
        let config = format!(
            r#"{{"auths": {{"registry.example.com:5000": {{"auth": "{auth}"}},
                "https://index.docker.io/v1/": {{"username": "hub", "password": "hubpass"}}}}}}"#
        );
        let reg =
            docker_config_credentials(&config, "registry.example.com:5000", "c.json").expect("reg");
        assert_eq!(
            (reg.username.as_str(), reg.password.expose()),
            ("ci", "s3cret")
        );
        let hub = docker_config_credentials(&config, "docker.io", "c.json").expect("hub");
        assert_eq!(
            (hub.username.as_str(), hub.password.expose()),
            ("hub", "hubpass")
        );
        let missing =
            docker_config_credentials(&config, "other.io", "c.json").expect_err("missing");
        assert_eq!(
            missing.to_string(),
            "docker config c.json: no entry for `other.io` in `auths`"
        );
        let bad =
            docker_config_credentials(r#"{"auths": {"x.io": {"auth": "!!"}}}"#, "x.io", "c.json")
                .expect_err("bad");
        assert!(!bad.to_string().contains("!!"));
    }
}
