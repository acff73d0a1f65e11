//! An embedded, in-memory Docker Registry V2: serves manifests by tag and digest (HEAD and
//! GET), blobs and tag lists, with optional Basic auth, the `Docker-Content-Digest` and
//! `Content-Type` headers, distribution 2.8's Accept negotiation for OCI manifests, and
//! `MANIFEST_UNKNOWN` errors. Images are pushed in process with [`RegistryHandle::push_image`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::config::RegistryConfig;
use crate::error::SimError;

/// The OCI image manifest media type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

#[derive(Debug, Default)]
struct Repo {
    manifests: BTreeMap<String, Vec<u8>>,
    tags: BTreeMap<String, String>,
}

#[derive(Debug, Default)]
struct Store {
    repos: BTreeMap<String, Repo>,
    blobs: BTreeMap<String, Vec<u8>>,
    down: bool,
    tokens: BTreeMap<String, ()>,
    issued: u64,
}

#[derive(Debug, Clone)]
struct Shared {
    store: Arc<Mutex<Store>>,
    basic_auth: Option<(String, String)>,
    bearer: bool,
    addr: SocketAddr,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running embedded registry.
#[derive(Debug)]
pub struct RegistryHandle {
    addr: SocketAddr,
    shared: Shared,
    shutdown: Mutex<Option<oneshot::Sender<()>>>,
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

impl RegistryHandle {
    /// Starts a registry on `config.listen` (default a free loopback port).
    pub async fn start(config: RegistryConfig) -> Result<Self, SimError> {
        let addr = config
            .listen
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| SimError::Bind { addr, source })?;
        let addr = listener.local_addr().map_err(SimError::Listener)?;
        let shared = Shared {
            store: Arc::default(),
            basic_auth: config.basic_auth,
            bearer: config.bearer,
            addr,
        };
        let router = Router::new()
            .route("/token", axum::routing::get(token))
            .route("/v2/", axum::routing::get(ping))
            .route("/v2", axum::routing::get(ping))
            .route("/v2/{*rest}", axum::routing::any(dispatch))
            .with_state(shared.clone());
        let (tx, rx) = oneshot::channel();
        tokio::spawn(async move {
            let server = axum::serve(listener, router).with_graceful_shutdown(async {
                let _ = rx.await;
            });
            if let Err(error) = server.await {
                tracing::warn!(%error, "Embedded registry stopped.");
            }
        });
        Ok(Self {
            addr,
            shared,
            shutdown: Mutex::new(Some(tx)),
        })
    }

    /// `127.0.0.1:PORT`, the registry part of image references.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Stores a small generated OCI image under `repo:tag` and returns its manifest digest. The
    /// same `payload` always gives the same digest.
    pub fn push_image(&self, repo: &str, tag: &str, payload: &str) -> String {
        let layer = payload.as_bytes().to_vec();
        let config = json!({
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/usr/bin:/bin"]},
            "rootfs": {"type": "layers", "diff_ids": [sha256_digest(&layer)]},
        })
        .to_string()
        .into_bytes();
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256_digest(&config), "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha256_digest(&layer), "size": layer.len()}],
        })
        .to_string()
        .into_bytes();
        let digest = sha256_digest(&manifest);
        let mut store = self.shared.lock();
        store.blobs.insert(sha256_digest(&config), config);
        store.blobs.insert(sha256_digest(&layer), layer);
        let entry = store.repos.entry(repo.to_owned()).or_default();
        entry.manifests.insert(digest.clone(), manifest);
        entry.tags.insert(tag.to_owned(), digest.clone());
        digest
    }

    /// Points `repo:tag` at a manifest already in `repo`. Returns false if there is none.
    pub fn move_tag(&self, repo: &str, tag: &str, digest: &str) -> bool {
        let mut store = self.shared.lock();
        match store.repos.get_mut(repo) {
            Some(r) if r.manifests.contains_key(digest) => {
                r.tags.insert(tag.to_owned(), digest.to_owned());
                true
            }
            _ => false,
        }
    }

    /// Removes a tag (the manifest stays reachable by digest).
    pub fn delete_tag(&self, repo: &str, tag: &str) {
        if let Some(r) = self.shared.lock().repos.get_mut(repo) {
            r.tags.remove(tag);
        }
    }

    /// The digest `repo:tag` points at.
    pub fn digest_of(&self, repo: &str, tag: &str) -> Option<String> {
        self.shared
            .lock()
            .repos
            .get(repo)
            .and_then(|r| r.tags.get(tag).cloned())
    }

    /// While down, every request answers 503 (the registry is "unreachable" for staging).
    pub fn set_down(&self, down: bool) {
        self.shared.lock().down = down;
    }

    /// Stops serving.
    pub fn shutdown(&self) {
        let tx = self
            .shutdown
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(tx) = tx {
            let _ = tx.send(());
        }
    }
}

impl Drop for RegistryHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn api_version(mut resp: Response) -> Response {
    resp.headers_mut().insert(
        "Docker-Distribution-Api-Version",
        HeaderValue::from_static("registry/2.0"),
    );
    resp
}

fn error(status: StatusCode, code: &str, message: &str, detail: serde_json::Value) -> Response {
    let body = json!({"errors": [{"code": code, "message": message, "detail": detail}]});
    api_version((status, axum::Json(body)).into_response())
}

fn basic_ok(shared: &Shared, headers: &HeaderMap) -> bool {
    let Some((user, pass)) = shared.basic_auth.as_ref() else {
        return true;
    };
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    );
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        == Some(expected.as_str())
}

/// Checks Basic or Bearer auth; `Some(response)` is the 401 challenge (or a 503 while down).
fn check_auth(shared: &Shared, headers: &HeaderMap, scope: Option<&str>) -> Option<Response> {
    if shared.lock().down {
        return Some(api_version(
            (StatusCode::SERVICE_UNAVAILABLE, "registry unavailable").into_response(),
        ));
    }
    shared.basic_auth.as_ref()?;
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let challenge = if shared.bearer {
        if let Some(token) = given.strip_prefix("Bearer ")
            && shared.lock().tokens.contains_key(token)
        {
            return None;
        }
        let scope = scope
            .map(|s| format!(",scope=\"repository:{s}:pull\""))
            .unwrap_or_default();
        format!(
            "Bearer realm=\"http://{}/token\",service=\"driftless-registry\"{scope}",
            shared.addr
        )
    } else {
        if basic_ok(shared, headers) {
            return None;
        }
        "Basic realm=\"driftless-simulator\"".to_owned()
    };
    let mut resp = error(
        StatusCode::UNAUTHORIZED,
        "UNAUTHORIZED",
        "authentication required",
        serde_json::Value::Null,
    );
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    Some(resp)
}

/// The token server of the Bearer mode: Basic credentials in, an opaque token out.
async fn token(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    if !basic_ok(&shared, &headers) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"details": "incorrect username or password"})),
        )
            .into_response();
    }
    let token = {
        let mut store = shared.lock();
        store.issued += 1;
        let token = sha256_digest(format!("token-{}-{}", shared.addr, store.issued).as_bytes())
            .replace("sha256:", "tok-");
        store.tokens.insert(token.clone(), ());
        token
    };
    axum::Json(json!({"token": token, "access_token": token, "expires_in": 300, "issued_at": "2026-01-01T00:00:00Z"})).into_response()
}

async fn ping(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    if let Some(challenge) = check_auth(&shared, &headers, None) {
        return challenge;
    }
    api_version(axum::Json(json!({})).into_response())
}

async fn dispatch(
    State(shared): State<Shared>,
    method: Method,
    headers: HeaderMap,
    Path(rest): Path<String>,
) -> Response {
    let repo = ["/manifests/", "/blobs/", "/tags/list"]
        .iter()
        .find_map(|m| rest.split_once(m).map(|(r, _)| r.to_owned()));
    if let Some(challenge) = check_auth(&shared, &headers, repo.as_deref()) {
        return challenge;
    }
    if let Some(repo) = rest.strip_suffix("/tags/list") {
        let store = shared.lock();
        return match store.repos.get(repo) {
            Some(r) => api_version(
                axum::Json(json!({"name": repo, "tags": r.tags.keys().collect::<Vec<_>>()}))
                    .into_response(),
            ),
            None => error(
                StatusCode::NOT_FOUND,
                "NAME_UNKNOWN",
                "repository name not known to registry",
                json!({"name": repo}),
            ),
        };
    }
    if let Some((repo, reference)) = rest.rsplit_once("/manifests/") {
        return manifest(&shared, &method, &headers, repo, reference);
    }
    if let Some((_, digest)) = rest.rsplit_once("/blobs/") {
        let store = shared.lock();
        return match store.blobs.get(digest) {
            Some(blob) => {
                let mut resp = if method == Method::HEAD {
                    Response::new(Body::empty())
                } else {
                    Response::new(Body::from(blob.clone()))
                };
                let h = resp.headers_mut();
                h.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/octet-stream"),
                );
                h.insert(header::CONTENT_LENGTH, HeaderValue::from(blob.len()));
                if let Ok(v) = HeaderValue::from_str(digest) {
                    h.insert("Docker-Content-Digest", v);
                }
                api_version(resp)
            }
            None => error(
                StatusCode::NOT_FOUND,
                "BLOB_UNKNOWN",
                "blob unknown to registry",
                json!({"digest": digest}),
            ),
        };
    }
    error(
        StatusCode::NOT_FOUND,
        "UNSUPPORTED",
        "The operation is unsupported.",
        serde_json::Value::Null,
    )
}

fn manifest(
    shared: &Shared,
    method: &Method,
    headers: &HeaderMap,
    repo: &str,
    reference: &str,
) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return error(
            StatusCode::METHOD_NOT_ALLOWED,
            "UNSUPPORTED",
            "The operation is unsupported.",
            serde_json::Value::Null,
        );
    }
    let store = shared.lock();
    let unknown = |detail| {
        error(
            StatusCode::NOT_FOUND,
            "MANIFEST_UNKNOWN",
            "manifest unknown",
            detail,
        )
    };
    let Some(r) = store.repos.get(repo) else {
        return error(
            StatusCode::NOT_FOUND,
            "NAME_UNKNOWN",
            "repository name not known to registry",
            json!({"name": repo}),
        );
    };
    let digest = if reference.starts_with("sha256:") {
        reference.to_owned()
    } else {
        match r.tags.get(reference) {
            Some(d) => d.clone(),
            None => return unknown(json!({"Tag": reference})),
        }
    };
    let Some(body) = r.manifests.get(&digest) else {
        return unknown(json!({"Digest": reference}));
    };
    // As distribution 2.8 does: an OCI manifest is only served to clients that accept it.
    let accepts_oci = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains(OCI_MANIFEST));
    if !accepts_oci {
        return error(
            StatusCode::NOT_FOUND,
            "MANIFEST_UNKNOWN",
            "OCI manifest found, but accept header does not support OCI manifests",
            serde_json::Value::Null,
        );
    }
    let mut resp = if *method == Method::HEAD {
        Response::new(Body::empty())
    } else {
        Response::new(Body::from(body.clone()))
    };
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(OCI_MANIFEST));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    if let Ok(v) = HeaderValue::from_str(&digest) {
        h.insert("Docker-Content-Digest", v.clone());
    }
    if let Ok(v) = HeaderValue::from_str(&format!("\"{digest}\"")) {
        h.insert(header::ETAG, v);
    }
    api_version(resp)
}
