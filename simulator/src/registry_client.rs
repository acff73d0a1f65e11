//! What staging and instance starts do against an image's registry: `/v2/` ping, a Basic or
//! Bearer-token challenge answered with the package's credentials, then a manifest GET with
//! the OCI and Docker media types in `Accept`. The result is the digest, or the staging error.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, AUTHORIZATION, WWW_AUTHENTICATE};

use crate::registry::sha256_digest;

/// The Accept header every manifest request sends (see TEST-INFRA.md section 1d).
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json";

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// Registry host (and port).
    pub host: String,
    /// Repository path.
    pub repo: String,
    /// Tag or `sha256:` digest.
    pub reference: String,
}

/// Parses `[host/]repo[:tag][@digest]` the way docker does (Docker Hub when no host).
pub fn parse_image(image: &str) -> ImageRef {
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d.to_owned())),
        None => (image, None),
    };
    let (host, path) = match name.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first.to_owned(), rest.to_owned())
        }
        _ => ("registry-1.docker.io".to_owned(), name.to_owned()),
    };
    let (repo, tag) = match path.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => (r.to_owned(), t.to_owned()),
        _ => (path.clone(), "latest".to_owned()),
    };
    let repo = if host == "registry-1.docker.io" && !repo.contains('/') {
        format!("library/{repo}")
    } else {
        repo
    };
    ImageRef {
        host,
        repo,
        reference: digest.unwrap_or(tag),
    }
}

fn is_loopback(host: &str) -> bool {
    let h = host.rsplit_once(':').map_or(host, |(h, _)| h);
    h == "localhost" || h.starts_with("127.") || h == "[::1]"
}

fn parse_challenge(value: &str) -> (String, BTreeMap<String, String>) {
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    let mut params = BTreeMap::new();
    for part in rest.split(',') {
        if let Some((k, v)) = part.trim().split_once('=') {
            params.insert(
                k.trim().to_ascii_lowercase(),
                v.trim().trim_matches('"').to_owned(),
            );
        }
    }
    (scheme.to_ascii_lowercase(), params)
}

/// Fetches the image's manifest and returns its digest, or a CF-like staging error message.
pub async fn resolve(
    client: &reqwest::Client,
    image: &str,
    credentials: Option<&(String, String)>,
    insecure: bool,
) -> Result<String, String> {
    let r = parse_image(image);
    let scheme = if insecure || is_loopback(&r.host) {
        "http"
    } else {
        "https"
    };
    let base = format!("{scheme}://{}", r.host);
    let basic = credentials.map(|(u, p)| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
        )
    });
    let unreachable = |e: &dyn std::fmt::Display| {
        format!(
            "failed to fetch image {image}: registry {} is unreachable: {e}",
            r.host
        )
    };
    let ping = client
        .get(format!("{base}/v2/"))
        .send()
        .await
        .map_err(|e| unreachable(&e))?;
    let auth = match ping.status() {
        s if s.is_success() => basic.clone(),
        StatusCode::UNAUTHORIZED => {
            let challenge = ping
                .headers()
                .get(WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            let (kind, params) = parse_challenge(challenge);
            if kind == "bearer" {
                let realm = params.get("realm").cloned().unwrap_or_default();
                let query = form_urlencoded::Serializer::new(String::new())
                    .append_pair("service", params.get("service").map_or("", String::as_str))
                    .append_pair("scope", &format!("repository:{}:pull", r.repo))
                    .finish();
                let sep = if realm.contains('?') { '&' } else { '?' };
                let mut req = client.get(format!("{realm}{sep}{query}"));
                if let Some(b) = &basic {
                    req = req.header(AUTHORIZATION, b);
                }
                let resp = req.send().await.map_err(|e| unreachable(&e))?;
                if !resp.status().is_success() {
                    return Err(format!(
                        "failed to fetch image {image}: unauthorized: incorrect username or password"
                    ));
                }
                let body: serde_json::Value = resp.json().await.map_err(|e| unreachable(&e))?;
                let token = body
                    .get("token")
                    .or_else(|| body.get("access_token"))
                    .and_then(|t| t.as_str())
                    .unwrap_or_default();
                Some(format!("Bearer {token}"))
            } else {
                match &basic {
                    Some(b) => Some(b.clone()),
                    None => {
                        return Err(format!(
                            "failed to fetch image {image}: unauthorized: authentication required"
                        ));
                    }
                }
            }
        }
        s => return Err(unreachable(&format!("GET /v2/ answered {s}"))),
    };
    let mut req = client
        .get(format!("{base}/v2/{}/manifests/{}", r.repo, r.reference))
        .header(ACCEPT, MANIFEST_ACCEPT);
    if let Some(a) = &auth {
        req = req.header(AUTHORIZATION, a);
    }
    let resp = req.send().await.map_err(|e| unreachable(&e))?;
    match resp.status() {
        s if s.is_success() => {
            let header = resp
                .headers()
                .get("docker-content-digest")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body = resp.bytes().await.map_err(|e| unreachable(&e))?;
            Ok(header.unwrap_or_else(|| sha256_digest(&body)))
        }
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(format!(
            "failed to fetch image {image}: unauthorized: incorrect username or password"
        )),
        StatusCode::NOT_FOUND => Err(format!(
            "failed to fetch image {image}: manifest unknown: {}:{}",
            r.repo, r.reference
        )),
        s => Err(unreachable(&format!("manifest request answered {s}"))),
    }
}

/// A client for registry requests: short timeouts, so an unreachable registry fails fast.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default()
}
