//! The imperative shell: the axum router, the middleware (request ids, request counting,
//! latency, injected faults, rate limits) and the shared handle the handlers lock.

pub(crate) mod admin;
pub(crate) mod routes;
pub(crate) mod v2;
pub(crate) mod v3;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::config::SimConfig;
use crate::error::ApiError;
use crate::ids::SeededRng;
use crate::model::Actor;
use crate::state::{PullCheck, State as SimState};
use crate::uaa::Uaa;

/// Everything the handlers share.
#[derive(Debug)]
pub(crate) struct Inner {
    pub state: Mutex<SimState>,
    pub config: SimConfig,
    pub base: String,
    pub uaa: Uaa,
    pub counts: Mutex<BTreeMap<String, u64>>,
    pub log: Mutex<Vec<LoggedRequest>>,
    pub faults: Mutex<SeededRng>,
    pub request_ids: Mutex<SeededRng>,
    pub rate: Mutex<BTreeMap<String, (DateTime<Utc>, u32)>>,
    pub http: reqwest::Client,
    pub registry: Option<crate::registry::RegistryHandle>,
}

/// The cloneable handle axum passes to handlers.
#[derive(Debug, Clone)]
pub(crate) struct Shared(pub Arc<Inner>);

impl Shared {
    pub fn now(&self) -> DateTime<Utc> {
        self.0.config.clock.now()
    }

    /// Locks the state after applying every transition due now.
    pub fn lock(&self) -> MutexGuard<'_, SimState> {
        let mut st = self.0.state.lock().unwrap_or_else(PoisonError::into_inner);
        st.tick(self.now());
        st
    }

    pub fn base(&self) -> &str {
        &self.0.base
    }

    /// Whether starting instances of `target` works: the registry answers for the image.
    pub async fn pull_check(
        &self,
        target: Option<(String, Option<(String, String)>)>,
    ) -> PullCheck {
        let Some((image, creds)) = target else {
            return PullCheck::Ok;
        };
        let r = crate::registry_client::parse_image(&image);
        let insecure = self.0.config.insecure_registries.contains(&r.host);
        match crate::registry_client::resolve(&self.0.http, &image, creds.as_ref(), insecure).await
        {
            Ok(_) => PullCheck::Ok,
            Err(reason) => PullCheck::Fails(format!("failed to pull image: {reason}")),
        }
    }

    /// Resolves an image for staging.
    pub async fn resolve(
        &self,
        image: &str,
        creds: Option<&(String, String)>,
    ) -> Result<String, String> {
        let r = crate::registry_client::parse_image(image);
        let insecure = self.0.config.insecure_registries.contains(&r.host);
        crate::registry_client::resolve(&self.0.http, image, creds, insecure).await
    }
}

/// The authenticated caller: a valid, unexpired bearer token.
impl FromRequestParts<Shared> for Actor {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        shared: &Shared,
    ) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Err(ApiError::not_authenticated());
        };
        let value = value.to_str().map_err(|_| ApiError::invalid_auth_token())?;
        let token = value
            .strip_prefix("bearer ")
            .or_else(|| value.strip_prefix("Bearer "))
            .ok_or_else(ApiError::invalid_auth_token)?;
        shared.0.uaa.authenticate(token.trim(), shared.now())
    }
}

/// 403 unless the caller is an admin.
pub(crate) fn require_admin(actor: &Actor) -> Result<(), ApiError> {
    if actor.admin {
        Ok(())
    } else {
        Err(ApiError::not_authorized())
    }
}

/// Parses a JSON object body: invalid JSON is 400 CF-MessageParseError, a non-object or an
/// unknown top-level field is 422 CF-UnprocessableEntity, and a type mismatch is 422 too.
pub(crate) fn parse_body<T: DeserializeOwned>(
    body: &Bytes,
    allowed: &[&str],
) -> Result<T, ApiError> {
    let raw: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    let value: Value =
        serde_json::from_slice(raw).map_err(|_| ApiError::message_parse("invalid request body"))?;
    let Some(obj) = value.as_object() else {
        return Err(ApiError::unprocessable("Request body must be an object"));
    };
    let unknown: Vec<String> = obj
        .keys()
        .filter(|k| !allowed.contains(&k.as_str()))
        .map(|k| format!("'{k}'"))
        .collect();
    if !unknown.is_empty() {
        return Err(ApiError::unprocessable(format!(
            "Unknown field(s): {}",
            unknown.join(", ")
        )));
    }
    serde_json::from_value(value)
        .map_err(|e| ApiError::unprocessable(format!("Invalid request body: {e}")))
}

fn template(path: &str) -> String {
    // axum's `{guid}` becomes CF-doc style `:guid`.
    path.split('/')
        .map(
            |seg| match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => format!(":{}", name.trim_start_matches('*')),
                None => seg.to_owned(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

/// Counts requests by method and route template (route layer: runs after matching).
async fn count(State(shared): State<Shared>, req: Request, next: Next) -> Response {
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let Some(path) = path.filter(|p| !p.starts_with("/_sim")) else {
        return next.run(req).await;
    };
    let route = format!("{} {}", req.method(), template(&path));
    let method = req.method().to_string();
    let uri = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().path().to_owned(), |p| p.as_str().to_owned());
    *shared
        .0
        .counts
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(route.clone())
        .or_default() += 1;
    let resp = next.run(req).await;
    let at = crate::clock::cf_time(shared.now());
    let mut log = shared.0.log.lock().unwrap_or_else(PoisonError::into_inner);
    if log.len() < MAX_LOG {
        log.push(LoggedRequest {
            method,
            uri,
            route,
            status: resp.status().as_u16(),
            at,
        });
    }
    resp
}

/// Requests kept in the log (counts keep counting beyond it).
const MAX_LOG: usize = 100_000;

/// One served request, for tests that must see an exact request sequence.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LoggedRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// Path and query as sent.
    pub uri: String,
    /// `METHOD /route/:template`, the key of the counts.
    pub route: String,
    /// The response status.
    pub status: u16,
    /// When it was served, by the simulator's clock (CF timestamp format).
    pub at: String,
}

fn request_id(shared: &Shared, incoming: Option<&HeaderValue>) -> String {
    let own = shared
        .0
        .request_ids
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .guid();
    match incoming.and_then(|v| v.to_str().ok()) {
        Some(theirs) if !theirs.is_empty() => format!("{theirs}::{own}"),
        _ => own,
    }
}

/// One fault-injection draw per request, made where the connection is served (so a drop
/// can close it before any response byte) and read again by the middleware.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FaultRoll {
    roll: f64,
    pick: u64,
}

impl Shared {
    /// Draws the request's fault roll; `None` when faults are off or for `/_sim`.
    fn fault_roll(&self, path: &str) -> Option<FaultRoll> {
        let faults = self.0.config.faults;
        if path.starts_with("/_sim") || (faults.error_rate <= 0.0 && faults.drop_rate <= 0.0) {
            return None;
        }
        let mut rng = self.0.faults.lock().unwrap_or_else(PoisonError::into_inner);
        Some(FaultRoll {
            roll: rng.next_f64(),
            pick: rng.next_u64(),
        })
    }
}

/// The hyper service around the router: drops the connection (no response at all) when the
/// fault roll says so, and hands everything else to axum.
#[derive(Debug, Clone)]
pub(crate) struct Served {
    pub router: Router,
    pub shared: Shared,
}

impl hyper::service::Service<axum::http::Request<hyper::body::Incoming>> for Served {
    type Response = Response;
    type Error = std::io::Error;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Response, std::io::Error>> + Send>,
    >;

    fn call(&self, req: axum::http::Request<hyper::body::Incoming>) -> Self::Future {
        let roll = self.shared.fault_roll(req.uri().path());
        if roll.is_some_and(|r| r.roll < self.shared.0.config.faults.drop_rate) {
            return Box::pin(async {
                Err(std::io::Error::other(
                    "connection dropped by fault injection",
                ))
            });
        }
        let mut req = req.map(Body::new);
        if let Some(r) = roll {
            req.extensions_mut().insert(r);
        }
        let mut router = self.router.clone();
        Box::pin(async move {
            match tower_service::Service::call(&mut router, req).await {
                Ok(resp) => Ok(resp),
                Err(never) => match never {},
            }
        })
    }
}

/// Accepts connections until `stop` fires; each is served on its own task (after a TLS
/// handshake when `tls` is set).
pub(crate) async fn run(
    listener: tokio::net::TcpListener,
    served: Served,
    tls: Option<tokio_rustls::TlsAcceptor>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let served = served.clone();
                let tls = tls.clone();
                connections.spawn(async move {
                    let builder = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
                    // A dropped connection (fault injection), a failed handshake or a client
                    // hang-up ends here.
                    match tls {
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                let _ = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), served).await;
                            }
                        }
                        None => {
                            let _ = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), served).await;
                        }
                    }
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.abort_all();
}

/// A TLS acceptor from PEM files.
pub(crate) fn tls_acceptor(
    tls: &crate::config::TlsConfig,
) -> Result<tokio_rustls::TlsAcceptor, crate::error::SimError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let err = |what: String| crate::error::SimError::Tls { what };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&tls.cert_chain)
        .map_err(|e| err(format!("read {}: {e}", tls.cert_chain.display())))?
        .collect::<Result<_, _>>()
        .map_err(|e| err(format!("parse {}: {e}", tls.cert_chain.display())))?;
    let key = PrivateKeyDer::from_pem_file(&tls.key)
        .map_err(|e| err(format!("read {}: {e}", tls.key.display())))?;
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| err(format!("protocol versions: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| err(format!("certificate: {e}")))?;
    Ok(tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config)))
}

/// Request ids, latency, faults and rate limits, outside `/_sim`.
async fn shell(State(shared): State<Shared>, req: Request, next: Next) -> Response {
    let id = request_id(&shared, req.headers().get("x-vcap-request-id"));
    let path = req.uri().path().to_owned();
    let admin = path.starts_with("/_sim");
    let config = &shared.0.config;
    let before_v3 = config.stackato
        && config.v2_only
        && (path == "/" || path == "/v3" || path.starts_with("/v3/"));
    let mut resp = if before_v3 {
        crate::error::V2Error(ApiError::unknown_request()).into_response()
    } else if admin {
        next.run(req).await
    } else {
        serve_with_knobs(&shared, req, next, &path).await
    };
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-vcap-request-id", v);
    }
    // The `Date` a Cloud Controller sends is its own clock, the one `updated_at` comes from;
    // hyper would write the wall clock, which a manual or offset clock does not follow.
    let date = shared.now().format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    if let Ok(v) = HeaderValue::from_str(&date) {
        resp.headers_mut().insert(header::DATE, v);
    }
    resp
}

async fn serve_with_knobs(shared: &Shared, req: Request, next: Next, path: &str) -> Response {
    let config = &shared.0.config;
    if !config.latency.is_zero() {
        tokio::time::sleep(config.latency).await;
    }
    let faults = config.faults;
    if let Some(FaultRoll { roll, pick }) = req.extensions().get::<FaultRoll>().copied()
        && roll >= faults.drop_rate
        && roll < faults.drop_rate + faults.error_rate
    {
        return if pick % 2 == 0 {
            (
                StatusCode::BAD_GATEWAY,
                "502 Bad Gateway: Registered endpoint failed to handle the request.\n",
            )
                .into_response()
        } else {
            ApiError::service_unavailable("The service is temporarily unavailable").into_response()
        };
    }
    let limited = path.starts_with("/v2") || path.starts_with("/v3");
    let rate = match (config.rate_limit, limited) {
        (Some(limit), true) => Some(limit),
        _ => None,
    };
    let Some(limit) = rate else {
        return next.run(req).await;
    };
    let who = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_whitespace().nth(1))
        .and_then(crate::uaa::peek_subject)
        .unwrap_or_else(|| "anonymous".into());
    let now = shared.now();
    let (remaining, reset) = {
        let mut rate = shared.0.rate.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = rate.entry(who).or_insert((now, 0));
        let window_end = crate::clock::after(entry.0, limit.reset_interval);
        if now >= window_end {
            *entry = (now, 0);
        }
        let reset = crate::clock::after(entry.0, limit.reset_interval);
        if entry.1 >= limit.limit {
            (None, reset)
        } else {
            entry.1 += 1;
            (Some(limit.limit - entry.1), reset)
        }
    };
    let mut resp = match remaining {
        Some(_) => next.run(req).await,
        None => {
            let mut r = ApiError::rate_limited().into_response();
            let wait = (reset - now).num_seconds().max(1);
            if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
    };
    let h = resp.headers_mut();
    h.insert("x-ratelimit-limit", HeaderValue::from(limit.limit));
    h.insert(
        "x-ratelimit-remaining",
        HeaderValue::from(remaining.unwrap_or(0)),
    );
    h.insert("x-ratelimit-reset", HeaderValue::from(reset.timestamp()));
    resp
}

async fn fallback() -> ApiError {
    ApiError::unknown_request()
}

/// The whole router.
pub(crate) fn router(shared: Shared) -> Router {
    let mut router = v3::routes().merge(routes::routes()).merge(admin::routes());
    if shared.0.config.stackato {
        router = router.merge(v2::routes());
    }
    router
        .route_layer(middleware::from_fn_with_state(shared.clone(), count))
        .fallback(fallback)
        // CC answers an unknown method on a known path like an unknown path.
        .method_not_allowed_fallback(fallback)
        .layer(middleware::from_fn_with_state(shared.clone(), shell))
        .with_state(shared)
}
