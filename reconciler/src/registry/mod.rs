//! A Docker Registry HTTP API V2 client: is the registry there, and what digest does a tag name?
//!
//! Cloud Foundry pulls images with the V2 API only, and needs the registry reachable whenever an
//! instance starts, so driftless asks the registry itself, with the credentials Cloud Foundry
//! will use, just before any change that starts instances. The client:
//! - pings `GET /v2/` (a registry without the V2 API gets a clear error);
//! - answers Basic and Bearer-token challenges (`WWW-Authenticate`), caching tokens per host,
//!   scope and user until they expire;
//! - resolves a tag with `HEAD /v2/<repo>/manifests/<tag>`, sending all four manifest media types
//!   in `Accept` (registry 2.8 answers 404 for OCI images, and converts Docker schema2 to schema1
//!   with another digest, without them), falling back to `GET` and hashing the body when a
//!   registry sends no `Docker-Content-Digest`;
//! - tells apart unreachable, not V2, unauthorized, not found, and ok.
//!
//! Credentials travel only in `Authorization` headers; errors name hosts and images, never them.

pub mod challenge;

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use reqwest::{StatusCode, header};
use sha2::Digest as _;

use crate::{model::ImageRef, secret::Credentials};

pub use challenge::Challenge;

/// The manifest media types a pull accepts, OCI and Docker, single-platform and lists.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json, \
     application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.list.v2+json";

/// How to reach a registry's API.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Endpoint {
    /// The API host (`registry-1.docker.io` for Docker Hub images).
    pub host: String,
    /// `false`: plain HTTP (a lab registry marked `insecure`).
    pub tls: bool,
}

impl Endpoint {
    /// The endpoint for an image's registry host (`docker.io` is served by
    /// `registry-1.docker.io`).
    pub fn for_registry(registry: &str, insecure: bool) -> Endpoint {
        let host = match registry {
            "docker.io" | "index.docker.io" => "registry-1.docker.io".to_owned(),
            other => other.to_owned(),
        };
        Endpoint {
            host,
            tls: !insecure,
        }
    }

    fn url(&self, path: &str) -> String {
        format!(
            "{}://{}{path}",
            if self.tls { "https" } else { "http" },
            self.host
        )
    }
}

/// A tag (or digest) resolved in the registry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// `sha256:<hex>`, as the registry names the manifest.
    pub digest: String,
    /// The manifest's media type, such as `application/vnd.oci.image.manifest.v1+json`.
    pub media_type: String,
}

/// Why a registry could not answer. Never carries a credential.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("registry {host} is unreachable: {reason}")]
    Unreachable { host: String, reason: String },
    #[error(
        "{host} does not serve the Docker Registry HTTP API V2 ({detail}); Cloud Foundry pulls only from V2 registries"
    )]
    NotV2 { host: String, detail: String },
    #[error("registry {host} refused {what} (HTTP {status}): {hint}")]
    Unauthorized {
        host: String,
        what: String,
        status: u16,
        hint: &'static str,
    },
    #[error("image {image} not found in its registry ({code})")]
    NotFound { image: String, code: String },
    #[error("registry {host}: {detail}")]
    Protocol { host: String, detail: String },
}

impl RegistryError {
    /// A stable, short name of the failure, for reports and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            RegistryError::Unreachable { .. } => "unreachable",
            RegistryError::NotV2 { .. } => "not_v2",
            RegistryError::Unauthorized { .. } => "unauthorized",
            RegistryError::NotFound { .. } => "not_found",
            RegistryError::Protocol { .. } => "protocol",
        }
    }
}

/// Settings of a [`RegistryClient`].
#[derive(Clone, Debug)]
pub struct RegistryOptions {
    /// Per request.
    pub timeout: Duration,
    pub user_agent: String,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            timeout: Duration::from_secs(15),
            user_agent: format!("driftless/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

type TokenKey = (Endpoint, String, Option<String>);

/// A registry client with a token cache. Cheap to share (`&self` methods).
#[derive(Debug)]
pub struct RegistryClient {
    http: reqwest::Client,
    tokens: Mutex<HashMap<TokenKey, (String, Instant)>>,
}

impl RegistryClient {
    pub fn new(options: &RegistryOptions) -> Result<Self, RegistryError> {
        let http = reqwest::Client::builder()
            .timeout(options.timeout)
            .connect_timeout(options.timeout.min(Duration::from_secs(5)))
            .user_agent(options.user_agent.clone())
            // Redirects to blob storage are fine, but never to another scheme's host with our
            // Authorization header: reqwest drops sensitive headers on cross-host redirects.
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .map_err(|e| RegistryError::Protocol {
                host: String::new(),
                detail: format!("http client: {e}"),
            })?;
        Ok(RegistryClient {
            http,
            tokens: Mutex::new(HashMap::new()),
        })
    }

    /// `GET /v2/`: the registry is up and speaks V2 (200, or 401 with the V2 header).
    pub async fn ping(
        &self,
        endpoint: &Endpoint,
        credentials: Option<&Credentials>,
    ) -> Result<(), RegistryError> {
        let response = self
            .send(
                endpoint,
                reqwest::Method::GET,
                "/v2/",
                None,
                credentials,
                "the API",
            )
            .await?;
        match response.status() {
            StatusCode::OK => Ok(()),
            status => Err(unexpected(endpoint, status, "GET /v2/")),
        }
    }

    /// Resolves the image's tag (or digest) to the manifest digest the registry serves.
    pub async fn resolve(
        &self,
        endpoint: &Endpoint,
        image: &ImageRef,
        credentials: Option<&Credentials>,
    ) -> Result<Resolved, RegistryError> {
        let reference = image
            .digest
            .as_deref()
            .or(image.tag.as_deref())
            .unwrap_or("latest");
        let path = format!("/v2/{}/manifests/{reference}", image.repository);
        let scope = format!("repository:{}:pull", image.repository);
        let what = format!("pulling {}", image.name());
        let head = self
            .send(
                endpoint,
                reqwest::Method::HEAD,
                &path,
                Some(&scope),
                credentials,
                &what,
            )
            .await?;
        let response = match head.status() {
            StatusCode::OK if digest_header(&head).is_some() => {
                return Ok(Resolved {
                    digest: digest_header(&head).unwrap_or_default(),
                    media_type: media_type(&head),
                });
            }
            // No digest on HEAD (some registries), or HEAD not allowed: GET and hash the body.
            StatusCode::OK | StatusCode::METHOD_NOT_ALLOWED => {
                self.send(
                    endpoint,
                    reqwest::Method::GET,
                    &path,
                    Some(&scope),
                    credentials,
                    &what,
                )
                .await?
            }
            _ => head,
        };
        match response.status() {
            StatusCode::OK => {
                let header_digest = digest_header(&response);
                let media_type = media_type(&response);
                let body = response
                    .bytes()
                    .await
                    .map_err(|e| transport(endpoint, &e))?;
                let digest = header_digest.unwrap_or_else(|| {
                    let hash = sha2::Sha256::digest(&body);
                    format!(
                        "sha256:{}",
                        hash.iter().map(|b| format!("{b:02x}")).collect::<String>()
                    )
                });
                Ok(Resolved { digest, media_type })
            }
            StatusCode::NOT_FOUND => {
                // A registry says why (`MANIFEST_UNKNOWN`, `NAME_UNKNOWN`) or at least marks its
                // answer as V2; a bare 404 with neither comes from something else (a web server
                // at that host), which Cloud Foundry could not pull from either.
                let v2 = response
                    .headers()
                    .contains_key("docker-distribution-api-version");
                match (error_code(response).await, v2) {
                    (Some(code), _) => Err(RegistryError::NotFound {
                        image: image.to_string(),
                        code,
                    }),
                    (None, true) => Err(RegistryError::NotFound {
                        image: image.to_string(),
                        code: "MANIFEST_UNKNOWN".to_owned(),
                    }),
                    (None, false) => Err(RegistryError::NotV2 {
                        host: endpoint.host.clone(),
                        detail: format!(
                            "{path} answered 404 without the V2 API header or a registry error"
                        ),
                    }),
                }
            }
            status => Err(unexpected(endpoint, status, &format!("HEAD {path}"))),
        }
    }

    /// Sends a request, answering one auth challenge. A 401 that survives it is `Unauthorized`.
    async fn send(
        &self,
        endpoint: &Endpoint,
        method: reqwest::Method,
        path: &str,
        scope: Option<&str>,
        credentials: Option<&Credentials>,
        what: &str,
    ) -> Result<reqwest::Response, RegistryError> {
        let url = endpoint.url(path);
        // Tokens are cached per credential (its fingerprint), so a wrong password never reuses a
        // token that the right one earned.
        let identity = credentials.map(crate::secret::fingerprint);
        let cached = scope.and_then(|scope| self.cached_token(endpoint, scope, &identity));
        let first = self
            .request(method.clone(), &url, cached.as_deref().map(Auth::Bearer))
            .await
            .map_err(|e| transport(endpoint, &e))?;
        check_v2(endpoint, &first, path)?;
        if first.status() != StatusCode::UNAUTHORIZED {
            return Ok(first);
        }
        let challenge = first
            .headers()
            .get_all(header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(challenge::parse);
        let bearer;
        let auth = match challenge {
            Some(Challenge::Basic) => match credentials {
                Some(credentials) => Auth::Basic(credentials),
                None => return Err(unauthorized(endpoint, what, 401, false)),
            },
            Some(Challenge::Bearer {
                realm,
                service,
                scope: challenge_scope,
            }) => {
                let scope = scope.map(str::to_owned).or(challenge_scope);
                let (token, ttl) = self
                    .fetch_token(
                        endpoint,
                        &realm,
                        service.as_deref(),
                        scope.as_deref(),
                        credentials,
                        what,
                    )
                    .await?;
                if let Some(scope) = &scope {
                    self.store_token(endpoint, scope, &identity, &token, ttl);
                }
                bearer = token;
                Auth::Bearer(&bearer)
            }
            None => {
                return Err(RegistryError::Protocol {
                    host: endpoint.host.clone(),
                    detail: "401 without a Basic or Bearer challenge".to_owned(),
                });
            }
        };
        let second = self
            .request(method, &url, Some(auth))
            .await
            .map_err(|e| transport(endpoint, &e))?;
        match second.status() {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(unauthorized(
                endpoint,
                what,
                second.status().as_u16(),
                credentials.is_some(),
            )),
            _ => Ok(second),
        }
    }

    async fn request(
        &self,
        method: reqwest::Method,
        url: &str,
        auth: Option<Auth<'_>>,
    ) -> Result<reqwest::Response, reqwest::Error> {
        let mut request = self
            .http
            .request(method, url)
            .header(header::ACCEPT, MANIFEST_ACCEPT);
        request = match auth {
            Some(Auth::Basic(c)) => request.basic_auth(&c.username, Some(c.password.expose())),
            Some(Auth::Bearer(token)) => request.bearer_auth(token),
            None => request,
        };
        request.send().await
    }

    /// Gets a token from the challenge's realm (Basic credentials when we have them).
    async fn fetch_token(
        &self,
        endpoint: &Endpoint,
        realm: &str,
        service: Option<&str>,
        scope: Option<&str>,
        credentials: Option<&Credentials>,
        what: &str,
    ) -> Result<(String, Duration), RegistryError> {
        let mut url = reqwest::Url::parse(realm).map_err(|_| RegistryError::Protocol {
            host: endpoint.host.clone(),
            detail: format!("the token realm `{realm}` is not a URL"),
        })?;
        check_realm(endpoint, &url, credentials.is_some())?;
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = service {
                query.append_pair("service", service);
            }
            if let Some(scope) = scope {
                query.append_pair("scope", scope);
            }
            if let Some(credentials) = credentials {
                query.append_pair("account", &credentials.username);
            }
        }
        let realm_host = url.host_str().unwrap_or_default().to_owned();
        let mut request = self.http.get(url);
        if let Some(c) = credentials {
            request = request.basic_auth(&c.username, Some(c.password.expose()));
        }
        let response = request
            .send()
            .await
            .map_err(|e| RegistryError::Unreachable {
                host: realm_host.clone(),
                reason: format!("token server: {}", reason(&e)),
            })?;
        match response.status() {
            StatusCode::OK => {}
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                return Err(unauthorized(
                    endpoint,
                    what,
                    response.status().as_u16(),
                    credentials.is_some(),
                ));
            }
            status => {
                return Err(RegistryError::Protocol {
                    host: realm_host,
                    detail: format!("token server answered {status}"),
                });
            }
        }
        let body: serde_json::Value =
            response.json().await.map_err(|_| RegistryError::Protocol {
                host: realm_host.clone(),
                detail: "token server answered something other than JSON".to_owned(),
            })?;
        let token = body
            .get("token")
            .or_else(|| body.get("access_token"))
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| RegistryError::Protocol {
                host: realm_host,
                detail: "token server answered without a token".to_owned(),
            })?;
        // Distribution's default lifetime is 60 s; keep a margin so a cached token never expires
        // in flight.
        let ttl = body
            .get("expires_in")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(60);
        Ok((
            token.to_owned(),
            Duration::from_secs(ttl.saturating_sub(10).max(1)),
        ))
    }

    fn cached_token(
        &self,
        endpoint: &Endpoint,
        scope: &str,
        identity: &Option<String>,
    ) -> Option<String> {
        let tokens = self.tokens.lock().ok()?;
        let (token, expires) =
            tokens.get(&(endpoint.clone(), scope.to_owned(), identity.clone()))?;
        (Instant::now() < *expires).then(|| token.clone())
    }

    fn store_token(
        &self,
        endpoint: &Endpoint,
        scope: &str,
        identity: &Option<String>,
        token: &str,
        ttl: Duration,
    ) {
        if let Ok(mut tokens) = self.tokens.lock() {
            tokens.insert(
                (endpoint.clone(), scope.to_owned(), identity.clone()),
                (token.to_owned(), Instant::now() + ttl),
            );
        }
    }
}

enum Auth<'a> {
    Basic(&'a Credentials),
    Bearer(&'a str),
}

/// A V2 registry marks every answer with `Docker-Distribution-Api-Version: registry/2.0`; a 404
/// on `/v2/` or an answer without the header and without a challenge is not a V2 registry.
fn check_v2(
    endpoint: &Endpoint,
    response: &reqwest::Response,
    path: &str,
) -> Result<(), RegistryError> {
    let has_header = response
        .headers()
        .get("docker-distribution-api-version")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("registry/2"));
    let status = response.status();
    if path == "/v2/"
        && !has_header
        && (status == StatusCode::NOT_FOUND || status.is_success() || status.is_redirection())
    {
        return Err(RegistryError::NotV2 {
            host: endpoint.host.clone(),
            detail: format!("GET /v2/ answered {status} without the V2 API header"),
        });
    }
    Ok(())
}

fn digest_header(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get("docker-content-digest")?
        .to_str()
        .ok()
        .map(str::to_owned)
}

fn media_type(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or(v).trim().to_owned())
        .unwrap_or_default()
}

/// The first error code of a registry error body (`{"errors":[{"code":"MANIFEST_UNKNOWN"}]}`).
async fn error_code(response: reqwest::Response) -> Option<String> {
    let body: serde_json::Value = response.json().await.ok()?;
    body.get("errors")?
        .get(0)?
        .get("code")?
        .as_str()
        .map(str::to_owned)
}

fn unauthorized(
    endpoint: &Endpoint,
    what: &str,
    status: u16,
    had_credentials: bool,
) -> RegistryError {
    RegistryError::Unauthorized {
        host: endpoint.host.clone(),
        what: what.to_owned(),
        status,
        hint: if had_credentials {
            "the credentials were rejected; check the `registries` entry's username and password"
        } else {
            "it needs credentials; add a `registries` entry for this host in driftless.yaml"
        },
    }
}

/// A registry reached over TLS must not send its credentials to a token server in clear text
/// (a downgrade a tampered challenge could ask for). Pure.
fn check_realm(
    endpoint: &Endpoint,
    realm: &reqwest::Url,
    with_credentials: bool,
) -> Result<(), RegistryError> {
    if endpoint.tls && realm.scheme() != "https" && with_credentials {
        return Err(RegistryError::Protocol {
            host: endpoint.host.clone(),
            detail: format!(
                "the token realm {}://{} is not HTTPS; credentials are not sent in clear text",
                realm.scheme(),
                realm.host_str().unwrap_or_default()
            ),
        });
    }
    Ok(())
}

/// A status the protocol does not expect there. A 5xx is the registry (or the proxy in front
/// of it) being down, as unable to serve a pull as one that does not answer: `unreachable`.
fn unexpected(endpoint: &Endpoint, status: StatusCode, what: &str) -> RegistryError {
    if status.is_server_error() {
        return RegistryError::Unreachable {
            host: endpoint.host.clone(),
            reason: format!("{what} answered {status}"),
        };
    }
    RegistryError::Protocol {
        host: endpoint.host.clone(),
        detail: format!("{what} answered {status}"),
    }
}

fn transport(endpoint: &Endpoint, error: &reqwest::Error) -> RegistryError {
    RegistryError::Unreachable {
        host: endpoint.host.clone(),
        reason: reason(error),
    }
}

/// A transport error in a few words, without the URL (which could carry a query token).
fn reason(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        "connection failed".to_owned()
    } else if error.is_body() || error.is_decode() {
        "the answer broke off".to_owned()
    } else {
        "request failed".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_go_to_a_clear_text_realm_of_a_tls_registry() {
        let tls = Endpoint::for_registry("reg.example.com", false);
        let lab = Endpoint::for_registry("localhost:5000", true);
        let http = reqwest::Url::parse("http://auth.example.com/token").unwrap();
        let https = reqwest::Url::parse("https://auth.example.com/token").unwrap();
        let refused = check_realm(&tls, &http, true).unwrap_err().to_string();
        assert!(refused.contains("not HTTPS"), "{refused}");
        assert!(check_realm(&tls, &https, true).is_ok());
        assert!(
            check_realm(&tls, &http, false).is_ok(),
            "anonymous tokens carry nothing"
        );
        assert!(
            check_realm(&lab, &http, true).is_ok(),
            "an insecure registry is all HTTP"
        );
    }

    #[test]
    fn docker_hub_is_served_by_registry_1() {
        assert_eq!(
            Endpoint::for_registry("docker.io", false),
            Endpoint {
                host: "registry-1.docker.io".into(),
                tls: true
            }
        );
        assert_eq!(
            Endpoint::for_registry("localhost:5000", true).url("/v2/"),
            "http://localhost:5000/v2/"
        );
        assert_eq!(
            Endpoint::for_registry("reg.example.com", false).url("/v2/"),
            "https://reg.example.com/v2/"
        );
    }

    #[test]
    fn errors_have_stable_kinds() {
        let e = RegistryError::NotFound {
            image: "x".into(),
            code: "MANIFEST_UNKNOWN".into(),
        };
        assert_eq!(e.kind(), "not_found");
        assert_eq!(
            e.to_string(),
            "image x not found in its registry (MANIFEST_UNKNOWN)"
        );
    }
}
