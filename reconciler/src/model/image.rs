//! Docker image references: parsing with the distribution grammar, and normalisation.
//!
//! `nginx` is `docker.io/library/nginx:latest`; `registry.example.com:5000/team/app:1.2@sha256:…`
//! keeps its host, tag and digest. Cloud Foundry pulls with the Registry V2 API, so the host is
//! what the registry client talks to (Docker Hub's API host is `registry-1.docker.io`).

use std::fmt;

/// The registry host for images written without one.
pub const DOCKER_HUB: &str = "docker.io";

/// A parsed, normalised image reference.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ImageRef {
    /// Registry host with optional port, lowercase (`docker.io`, `registry.example.com:5000`).
    pub registry: String,
    /// Repository path (`library/nginx`, `team/app`).
    pub repository: String,
    /// The tag; `latest` when neither tag nor digest was written.
    pub tag: Option<String>,
    /// `sha256:<hex>` when pinned.
    pub digest: Option<String>,
}

/// Why a string is not an image reference. The message never includes credentials.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}; expected `[host[:port]/]repository[:tag][@sha256:<64 hex digits>]`")]
pub struct ImageRefError {
    pub reason: String,
}

fn err(reason: impl Into<String>) -> ImageRefError {
    ImageRefError {
        reason: reason.into(),
    }
}

impl ImageRef {
    /// Parses `text` with the Docker reference grammar and normalises Docker Hub names.
    pub fn parse(text: &str) -> Result<ImageRef, ImageRefError> {
        if text.is_empty() {
            return Err(err("the image reference is empty"));
        }
        if text.trim() != text || text.contains(char::is_whitespace) {
            return Err(err("the image reference contains whitespace"));
        }
        if text.contains("://") {
            return Err(err("an image reference has no URL scheme"));
        }
        let first_slash = text.find('/').unwrap_or(text.len());
        if text[..first_slash].contains('@') && text[first_slash..].contains(['/', ':']) {
            // `user:pass@host/repo`: Stackato's push syntax. Never repeat it: it holds a secret.
            return Err(err(
                "the image reference carries credentials (`user:password@host/...`); \
                 a secret must never be in git, give the registry's credentials in driftless.yaml",
            ));
        }
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => (rest, Some(parse_digest(digest)?)),
            None => (text, None),
        };
        let (name, tag) = split_tag(rest);
        let tag = tag.map(parse_tag).transpose()?;
        let (registry, path) = split_domain(name)?;
        validate_path(path)?;
        if name.len() > 255 {
            return Err(err("the repository name is longer than 255 characters"));
        }
        let registry = match registry {
            None | Some("index.docker.io") | Some("registry-1.docker.io") => DOCKER_HUB.to_owned(),
            Some(host) => host.to_ascii_lowercase(),
        };
        let repository = if registry == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path.to_owned()
        };
        let tag = match (tag, &digest) {
            (None, None) => Some("latest".to_owned()),
            (tag, _) => tag,
        };
        Ok(ImageRef {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// `registry/repository`, without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The same image pinned to `digest`, keeping the tag for readability.
    pub fn pinned(&self, digest: &str) -> ImageRef {
        ImageRef {
            digest: Some(digest.to_owned()),
            ..self.clone()
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// Splits `name[:tag]`; a colon before the last slash belongs to a host port.
fn split_tag(text: &str) -> (&str, Option<&str>) {
    let last_slash = text.rfind('/').map_or(0, |i| i + 1);
    match text[last_slash..].rfind(':') {
        Some(i) => (&text[..last_slash + i], Some(&text[last_slash + i + 1..])),
        None => (text, None),
    }
}

fn parse_tag(tag: &str) -> Result<String, ImageRefError> {
    let valid = !tag.is_empty()
        && tag.len() <= 128
        && tag.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if valid {
        Ok(tag.to_owned())
    } else {
        Err(err(format!(
            "the tag `{tag}` is invalid: at most 128 letters, digits, `_`, `.` or `-`, \
             not starting with `.` or `-`"
        )))
    }
}

fn parse_digest(digest: &str) -> Result<String, ImageRefError> {
    let bad = || {
        err(format!(
            "the digest `{digest}` is invalid: it must be sha256:<64 lowercase hex digits>"
        ))
    };
    let (algorithm, hex) = digest.split_once(':').ok_or_else(bad)?;
    let len = match algorithm {
        "sha256" => 64,
        "sha512" => 128,
        _ => return Err(bad()),
    };
    if hex.len() == len
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(digest.to_owned())
    } else {
        Err(bad())
    }
}

/// Splits off the registry host: the first component is a host if it has a `.` or a `:`, or
/// is `localhost` (as in the Docker client).
fn split_domain(name: &str) -> Result<(Option<&str>, &str), ImageRefError> {
    let Some((first, rest)) = name.split_once('/') else {
        return Ok((None, name));
    };
    if !(first.contains(['.', ':'])
        || first == "localhost"
        || first.chars().any(|c| c.is_ascii_uppercase()))
    {
        return Ok((None, name));
    }
    let (host, port) = match first.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || first.starts_with('[') => (host, Some(port)),
        _ => (first, None),
    };
    if let Some(port) = port
        && (port.is_empty()
            || !port.bytes().all(|b| b.is_ascii_digit())
            || port.parse::<u16>().is_err())
    {
        return Err(err(format!(
            "the registry port `{port}` is not a port number"
        )));
    }
    let host_ok = if let Some(v6) = host.strip_prefix('[') {
        v6.strip_suffix(']')
            .is_some_and(|inner| inner.parse::<std::net::Ipv6Addr>().is_ok())
    } else {
        !host.is_empty()
            && host.split('.').all(|label| {
                !label.is_empty()
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            })
    };
    if host_ok {
        Ok((Some(first), rest))
    } else {
        Err(err(format!(
            "the registry host `{host}` is not a host name"
        )))
    }
}

/// Path components: lowercase alphanumerics joined by `.`, `_`, `__` or runs of `-`.
fn validate_path(path: &str) -> Result<(), ImageRefError> {
    if path.is_empty() {
        return Err(err("the repository name is empty"));
    }
    for component in path.split('/') {
        if component.is_empty() {
            return Err(err(
                "the repository path has an empty component (`//` or a trailing `/`)",
            ));
        }
        if component.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(err(format!(
                "the repository path `{path}` must be lowercase"
            )));
        }
        if !component_ok(component) {
            return Err(err(format!(
                "the repository path component `{component}` is invalid: lowercase letters and \
                 digits, separated by `.`, `_`, `__` or `-`"
            )));
        }
    }
    Ok(())
}

fn component_ok(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        // A separator: `.`, `_`, `__`, or one or more `-`.
        let start = i;
        match bytes[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < bytes.len() && bytes[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < bytes.len() && bytes[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
        if i == start || i >= bytes.len() || !alnum(bytes[i]) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(text: &str) -> String {
        ImageRef::parse(text).map_or_else(|e| format!("error: {}", e.reason), |r| r.to_string())
    }

    #[test]
    fn docker_hub_names_normalise() {
        assert_eq!(norm("nginx"), "docker.io/library/nginx:latest");
        assert_eq!(norm("nginx:1.27"), "docker.io/library/nginx:1.27");
        assert_eq!(norm("bitnami/redis"), "docker.io/bitnami/redis:latest");
        assert_eq!(
            norm("index.docker.io/library/nginx:1"),
            "docker.io/library/nginx:1"
        );
    }

    #[test]
    fn hosts_ports_tags_and_digests_are_kept() {
        let digest = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            norm("localhost:5000/demo/hello:v1"),
            "localhost:5000/demo/hello:v1"
        );
        assert_eq!(
            norm("Registry.Example.com/team/app:1.2"),
            "registry.example.com/team/app:1.2"
        );
        assert_eq!(
            norm(&format!("reg.io/app@{digest}")),
            format!("reg.io/app@{digest}")
        );
        assert_eq!(
            norm(&format!("reg.io/app:v2@{digest}")),
            format!("reg.io/app:v2@{digest}")
        );
        assert_eq!(norm("[::1]:5000/app:x"), "[::1]:5000/app:x");
        assert_eq!(
            norm("localhost/a__b.c--d_e:T_1.2-x"),
            "localhost/a__b.c--d_e:T_1.2-x"
        );
    }

    #[test]
    fn malformed_references_say_what_is_wrong() {
        assert_eq!(
            norm("Team/App"),
            "error: the repository path `App` must be lowercase"
        );
        assert_eq!(
            norm("bad_host.io/app"),
            "error: the registry host `bad_host.io` is not a host name"
        );
        assert_eq!(
            norm("reg.io/Team/app"),
            "error: the repository path `Team/app` must be lowercase"
        );
        assert_eq!(
            norm("reg.io:99999/app"),
            "error: the registry port `99999` is not a port number"
        );
        assert_eq!(
            norm("app:-bad"),
            "error: the tag `-bad` is invalid: at most 128 letters, digits, `_`, `.` or `-`, not starting with `.` or `-`"
        );
        assert_eq!(
            norm("app@sha256:abc"),
            "error: the digest `sha256:abc` is invalid: it must be sha256:<64 lowercase hex digits>"
        );
        assert_eq!(
            norm("reg.io//app"),
            "error: the repository path has an empty component (`//` or a trailing `/`)"
        );
        assert_eq!(
            norm("reg.io/a-/b"),
            "error: the repository path component `a-` is invalid: lowercase letters and digits, separated by `.`, `_`, `__` or `-`"
        );
        assert_eq!(
            norm("a___b"),
            "error: the repository path component `a___b` is invalid: lowercase letters and digits, separated by `.`, `_`, `__` or `-`"
        );
        assert_eq!(
            norm("https://reg.io/app"),
            "error: an image reference has no URL scheme"
        );
        assert_eq!(norm(""), "error: the image reference is empty");
        assert_eq!(
            norm("app :1"),
            "error: the image reference contains whitespace"
        );
    }

    #[test]
    fn credentials_in_a_reference_are_refused_without_echoing_them() {
        let message = norm("ci:hunter2@reg.io/app:1");
        assert!(message.contains("carries credentials"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
    }
}
