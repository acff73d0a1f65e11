//! The HTTP core of the Cloud Foundry clients: UAA login and refresh, CF errors, pagination
//! and retries. Only this layer (and `registry`) talks HTTP.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode, header};
use serde_json::Value;

use super::CfError;
use crate::secret::Secret;

/// How driftless logs in.
#[derive(Clone, Debug)]
pub enum Login {
    /// Password grant with the `cf` client (empty secret), as the cf CLI does.
    Password { username: String, password: Secret },
    /// Client-credentials grant.
    Client {
        client_id: String,
        client_secret: Secret,
    },
}

/// Settings of a [`CfHttp`].
#[derive(Clone, Debug)]
pub struct CfOptions {
    /// Per request.
    pub timeout: Duration,
    /// Page size of list requests (CF allows up to 5000).
    pub per_page: u32,
    /// Retries of an idempotent request after a 5xx, 429 or transport error.
    pub max_retries: u32,
    /// The first backoff; it doubles per retry, with jitter.
    pub backoff: Duration,
    /// The longest `Retry-After` honoured before giving up.
    pub max_retry_after: Duration,
    /// Slow down before the rate limit (read from `X-RateLimit-*`) instead of running into it.
    pub pace: bool,
    pub user_agent: String,
    /// Requests in flight at once to this foundation (apply runs many changes concurrently).
    pub max_in_flight: usize,
    /// Accept any TLS certificate (`--skip-ssl-validation`): warned about at connect.
    pub skip_ssl_validation: bool,
}

impl Default for CfOptions {
    fn default() -> Self {
        CfOptions {
            timeout: Duration::from_secs(30),
            per_page: 5000,
            max_retries: 4,
            backoff: Duration::from_millis(200),
            max_retry_after: Duration::from_secs(120),
            pace: true,
            user_agent: format!("driftless/{}", env!("CARGO_PKG_VERSION")),
            max_in_flight: 16,
            skip_ssl_validation: false,
        }
    }
}

#[derive(Debug)]
struct Token {
    access: Secret,
    refresh: Option<Secret>,
    /// When to refresh: a margin before the UAA's `expires_in`.
    refresh_at: Instant,
}

/// An authenticated connection to one Cloud Controller.
#[derive(Debug)]
pub struct CfHttp {
    http: reqwest::Client,
    api: String,
    token_url: String,
    login: Login,
    token: tokio::sync::Mutex<Option<Token>>,
    options: CfOptions,
    budget: std::sync::Mutex<Budget>,
    throttled: std::sync::atomic::AtomicU64,
    in_flight: tokio::sync::Semaphore,
    /// The latest `Date` the Cloud Controller answered with: its clock, that of `updated_at`.
    server_time: std::sync::Mutex<Option<chrono::DateTime<chrono::Utc>>>,
}

/// The rate-limit budget the Cloud Controller last announced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Budget {
    pub limit: u64,
    pub remaining: u64,
    /// When the window resets, in seconds since the Unix epoch.
    pub reset_epoch: u64,
}

/// How long to wait before the next request so the budget lasts until it resets. Pure.
///
/// Above a reserve of a tenth of the limit (at least one request) there is no wait; below it
/// the remaining requests are spread evenly over the time left, and with none left the wait is
/// until the reset (plus the second the whole-second header may round away).
pub fn pace(budget: &Budget, now_epoch: u64) -> Duration {
    let reserve = (budget.limit / 10).max(1);
    // The header counts whole seconds, so the window may end up to a second after it says.
    let reset = budget.reset_epoch + 1;
    if budget.limit == 0 || budget.remaining > reserve || reset <= now_epoch {
        return Duration::ZERO;
    }
    let left = Duration::from_secs(reset - now_epoch);
    left / u32::try_from(budget.remaining + 1).unwrap_or(u32::MAX)
}

/// A successful answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: header::HeaderMap,
    pub body: Value,
}

impl CfHttp {
    /// Discovers the UAA from `GET /` (`links.login`, else `links.uaa`) and logs in.
    pub async fn connect(api: &str, login: Login, options: CfOptions) -> Result<CfHttp, CfError> {
        let mut client = CfHttp::unconnected(api, login, options)?;
        let root = client
            .request_url(Method::GET, &format!("{}/", client.api), None, false, &[])
            .await?
            .body;
        let links = &root["links"];
        let login_base = links["login"]["href"]
            .as_str()
            .or_else(|| links["uaa"]["href"].as_str())
            .ok_or_else(|| CfError::Protocol {
                method: "GET".into(),
                path: "/".into(),
                detail: "the root document links no `login` or `uaa`; is this a Cloud Controller?"
                    .into(),
            })?;
        client.token_url = format!("{}/oauth/token", login_base.trim_end_matches('/'));
        client.access_token(false).await?;
        Ok(client)
    }

    /// Discovers the UAA from `GET /v2/info` (`token_endpoint`, else `authorization_endpoint`),
    /// as a v2-only Cloud Controller (HP Stackato) offers no root document, and logs in.
    pub async fn connect_v2(
        api: &str,
        login: Login,
        options: CfOptions,
    ) -> Result<CfHttp, CfError> {
        let mut client = CfHttp::unconnected(api, login, options)?;
        let info = client
            .request_url(
                Method::GET,
                &format!("{}/v2/info", client.api),
                None,
                false,
                &[],
            )
            .await?
            .body;
        let token_base = info["token_endpoint"]
            .as_str()
            .or_else(|| info["authorization_endpoint"].as_str())
            .ok_or_else(|| CfError::Protocol {
                method: "GET".into(),
                path: "/v2/info".into(),
                detail: "the info document names no `token_endpoint` or `authorization_endpoint`"
                    .into(),
            })?;
        client.token_url = format!("{}/oauth/token", token_base.trim_end_matches('/'));
        client.access_token(false).await?;
        Ok(client)
    }

    /// A client that has not discovered its UAA yet (`token_url` empty).
    fn unconnected(api: &str, login: Login, options: CfOptions) -> Result<CfHttp, CfError> {
        let api = api.trim_end_matches('/').to_owned();
        let http = http_client(&options)?;
        if options.skip_ssl_validation {
            tracing::warn!(
                api = %api,
                "TLS certificate validation is off for this foundation (--skip-ssl-validation): \
                 anyone on the network path can read and change what driftless sends, tokens included."
            );
        }
        Ok(CfHttp {
            http,
            api,
            token_url: String::new(),
            login,
            token: tokio::sync::Mutex::new(None),
            in_flight: tokio::sync::Semaphore::new(options.max_in_flight.max(1)),
            options,
            budget: std::sync::Mutex::new(Budget::default()),
            throttled: std::sync::atomic::AtomicU64::new(0),
            server_time: std::sync::Mutex::new(None),
        })
    }

    /// The API's base URL.
    pub fn api(&self) -> &str {
        &self.api
    }

    /// How many answers were 429 Too Many Requests so far.
    pub fn throttled(&self) -> u64 {
        self.throttled.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The rate-limit budget last announced (all zero when the foundation announces none).
    pub fn budget(&self) -> Budget {
        self.budget.lock().map(|b| *b).unwrap_or_default()
    }

    /// The latest `Date` header any Cloud Controller answer carried (`None` before the first,
    /// or when the foundation sends none): the foundation's clock, the one `updated_at` reads.
    pub fn server_time(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.server_time.lock().ok().and_then(|t| *t)
    }

    fn note_server_time(&self, headers: &header::HeaderMap) {
        let date = headers
            .get(header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| chrono::DateTime::parse_from_rfc2822(v).ok())
            .map(|d| d.to_utc());
        if let (Some(date), Ok(mut latest)) = (date, self.server_time.lock())
            && latest.is_none_or(|l| l < date)
        {
            *latest = Some(date);
        }
    }

    fn note_budget(&self, headers: &header::HeaderMap) {
        self.note_server_time(headers);
        let read = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        if let (Some(limit), Some(remaining), Some(reset_epoch)) = (
            read("x-ratelimit-limit"),
            read("x-ratelimit-remaining"),
            read("x-ratelimit-reset"),
        ) && let Ok(mut budget) = self.budget.lock()
        {
            *budget = Budget {
                limit,
                remaining,
                reset_epoch,
            };
        }
    }

    /// `GET path` (relative to the API, with its query).
    pub async fn get(&self, path: &str) -> Result<Value, CfError> {
        self.request(Method::GET, path, None).await.map(|a| a.body)
    }

    /// The absolute URL of a list's first page: `path`, the `query` and the page size.
    fn list_url(
        &self,
        path: &str,
        query: &[(&str, &str)],
        page_size: (&str, &str),
    ) -> Result<String, CfError> {
        let mut url =
            reqwest::Url::parse(&format!("{}{path}", self.api)).map_err(|_| CfError::Protocol {
                method: "GET".into(),
                path: path.into(),
                detail: "not a valid path".into(),
            })?;
        url.query_pairs_mut()
            .extend_pairs(query)
            .append_pair(page_size.0, page_size.1);
        Ok(url.to_string())
    }

    /// Every resource of a list, following `pagination.next` (with `per_page` set), and the
    /// `included` resources of every page merged by kind.
    pub async fn list(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<(Vec<Value>, serde_json::Map<String, Value>), CfError> {
        let per_page = self.options.per_page.to_string();
        let mut next = Some(self.list_url(path, query, ("per_page", &per_page))?);
        let mut resources = Vec::new();
        let mut included = serde_json::Map::new();
        while let Some(page_url) = next.take() {
            let mut page = self
                .request_url(Method::GET, &page_url, None, true, &[])
                .await?
                .body;
            // Moved out of the page, not cloned: a 5000-item page is tens of MB as `Value`s.
            if let Value::Array(items) = page["resources"].take() {
                resources.extend(items);
            }
            if let Value::Object(extra) = page["included"].take() {
                for (kind, items) in extra {
                    let list = included
                        .entry(kind)
                        .or_insert_with(|| Value::Array(Vec::new()));
                    if let (Some(list), Value::Array(items)) = (list.as_array_mut(), items) {
                        list.extend(items);
                    }
                }
            }
            next = page["pagination"]["next"]["href"]
                .as_str()
                .map(str::to_owned);
        }
        Ok((resources, included))
    }

    /// Every resource (`{metadata, entity}`) of a v2 list, following `next_url` with
    /// `results-per-page` at the v2 maximum of 100 (or `per_page`, if smaller).
    pub async fn list_v2(&self, path: &str, query: &[(&str, &str)]) -> Result<Vec<Value>, CfError> {
        let per_page = self.options.per_page.clamp(1, V2_MAX_PER_PAGE).to_string();
        let mut next = Some(self.list_url(path, query, ("results-per-page", &per_page))?);
        let mut resources = Vec::new();
        while let Some(page_url) = next.take() {
            let page = self
                .request_url(Method::GET, &page_url, None, true, &[])
                .await?
                .body;
            if let Some(items) = page["resources"].as_array() {
                resources.extend(items.iter().cloned());
            }
            // v2 links are relative to the API (`/v2/apps?page=2&...`).
            next = page["next_url"].as_str().map(|next| {
                if next.starts_with("http://") || next.starts_with("https://") {
                    next.to_owned()
                } else {
                    format!("{}{next}", self.api)
                }
            });
        }
        Ok(resources)
    }

    /// [`CfHttp::request`] for a request whose body carries `secrets` (a Stackato inline
    /// registry password): every error, and every retry logged on the way, has them replaced
    /// by `***`, whatever the foundation echoed back.
    pub async fn request_redacted(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        secrets: &[&Secret],
    ) -> Result<Answer, CfError> {
        let secrets: Vec<&str> = secrets.iter().map(|s| s.expose()).collect();
        self.request_url(method, &format!("{}{path}", self.api), body, true, &secrets)
            .await
    }

    /// Sends a request (relative path); retries it only when `method` is idempotent.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, CfError> {
        self.request_url(method, &format!("{}{path}", self.api), body, true, &[])
            .await
    }

    async fn request_url(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        authenticated: bool,
        secrets: &[&str],
    ) -> Result<Answer, CfError> {
        let idempotent = matches!(
            method,
            Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
        );
        let mut refreshed = false;
        let mut attempt = 0;
        loop {
            let token = if authenticated {
                Some(self.access_token(false).await?)
            } else {
                None
            };
            if self.options.pace {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                let wait = pace(&self.budget(), now);
                if !wait.is_zero() {
                    tracing::debug!(
                        wait_ms = wait.as_millis() as u64,
                        "Pacing Cloud Controller requests to stay under the rate limit."
                    );
                    tokio::time::sleep(wait).await;
                }
            }
            let result = {
                let _permit = self
                    .in_flight
                    .acquire()
                    .await
                    .map_err(|_| CfError::Transport {
                        method: method.to_string(),
                        path: url.to_owned(),
                        reason: "the client is shutting down".into(),
                    })?;
                send_once(&self.http, method.clone(), url, body, token.as_ref()).await
            };
            let error = match result {
                Ok(answer) => {
                    tracing::debug!(%method, url, status = answer.status, "Cloud Controller request.");
                    self.note_budget(&answer.headers);
                    return Ok(answer);
                }
                Err(error) => {
                    if let Some(headers) = &error.headers {
                        self.note_budget(headers);
                    }
                    if error.status == 429 {
                        self.throttled
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    error
                }
            };
            // An expired or revoked token: refresh once and try again (the request never ran).
            if error.code() == Some(1000) && !refreshed {
                refreshed = true;
                self.access_token(true).await?;
                continue;
            }
            let retry_after = match &error {
                Failure {
                    status: 429,
                    retry_after,
                    ..
                } => Some(retry_after.unwrap_or(Duration::from_secs(1))),
                _ => None,
            };
            let error = error.into_error().redact(secrets);
            // A 429 was refused before it ran, so any method may be sent again.
            let may_retry = attempt < self.options.max_retries
                && (retry_after.is_some() || (idempotent && error.is_retryable()));
            if !may_retry {
                return Err(error);
            }
            let wait = match retry_after {
                Some(wait) if wait > self.options.max_retry_after => return Err(error),
                Some(wait) => wait,
                None => backoff(self.options.backoff, attempt),
            };
            tracing::debug!(%error, attempt, wait_ms = wait.as_millis() as u64, "Retrying a Cloud Controller request.");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// The current access token, refreshed when due (or when `force`).
    async fn access_token(&self, force: bool) -> Result<Secret, CfError> {
        let mut slot = self.token.lock().await;
        if let Some(token) = slot
            .as_ref()
            .filter(|t| !force && Instant::now() < t.refresh_at)
        {
            return Ok(token.access.clone());
        }
        let refresh = slot.as_ref().and_then(|t| t.refresh.clone());
        let token = match refresh {
            Some(refresh) => match self
                .grant(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh.expose()),
                ])
                .await
            {
                Ok(token) => token,
                // A refresh token can expire too: log in again.
                Err(_) => self.log_in().await?,
            },
            None => self.log_in().await?,
        };
        let access = token.access.clone();
        *slot = Some(token);
        Ok(access)
    }

    async fn log_in(&self) -> Result<Token, CfError> {
        match &self.login {
            Login::Password { username, password } => {
                self.grant(&[
                    ("grant_type", "password"),
                    ("username", username),
                    ("password", password.expose()),
                ])
                .await
            }
            Login::Client {
                client_id,
                client_secret,
            } => {
                self.grant(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", client_id),
                    ("client_secret", client_secret.expose()),
                ])
                .await
            }
        }
    }

    async fn grant(&self, form: &[(&str, &str)]) -> Result<Token, CfError> {
        let body: String = form::encode(form);
        let mut request = self
            .http
            .post(&self.token_url)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body);
        if matches!(self.login, Login::Password { .. }) {
            // The cf CLI's public client: `cf` with an empty secret (for refreshes too).
            request = request.basic_auth("cf", Some(""));
        }
        let transport = |e: reqwest::Error| CfError::Transport {
            method: "POST".into(),
            path: self.token_url.clone(),
            reason: reason(&e),
        };
        // A token grant changes nothing on the server, so it is retried like a GET.
        let mut attempt = 0;
        let (status, value) = loop {
            let result = match request.try_clone() {
                Some(request) => request.send().await.map_err(transport),
                None => {
                    return Err(CfError::Protocol {
                        method: "POST".into(),
                        path: self.token_url.clone(),
                        detail: "request not clonable".into(),
                    });
                }
            };
            let retry = match &result {
                Ok(response) => response.status().is_server_error(),
                Err(_) => true,
            };
            if retry && attempt < self.options.max_retries {
                tokio::time::sleep(backoff(self.options.backoff, attempt)).await;
                attempt += 1;
                continue;
            }
            let response = result?;
            let status = response.status();
            break (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            );
        };
        if !status.is_success() {
            return Err(CfError::Login {
                uaa: self.token_url.clone(),
                error: value["error"].as_str().unwrap_or("error").to_owned(),
                description: value["error_description"]
                    .as_str()
                    .unwrap_or(status.as_str())
                    .to_owned(),
            });
        }
        let access = value["access_token"]
            .as_str()
            .ok_or_else(|| CfError::Protocol {
                method: "POST".into(),
                path: self.token_url.clone(),
                detail: "the token answer has no access_token".into(),
            })?;
        let lifetime = Duration::from_secs(value["expires_in"].as_u64().unwrap_or(600));
        // Refresh at 90% of the lifetime (and at least 1 s before the end), so a token never
        // expires in flight.
        let margin = (lifetime / 10).max(Duration::from_secs(1)).min(lifetime);
        Ok(Token {
            access: Secret::new(access),
            refresh: value["refresh_token"].as_str().map(Secret::new),
            refresh_at: Instant::now() + (lifetime - margin),
        })
    }
}

/// The v2 maximum of `results-per-page`.
pub const V2_MAX_PER_PAGE: u32 = 100;

fn http_client(options: &CfOptions) -> Result<reqwest::Client, CfError> {
    reqwest::Client::builder()
        .timeout(options.timeout)
        .connect_timeout(options.timeout.min(Duration::from_secs(10)))
        .user_agent(options.user_agent.clone())
        .tls_danger_accept_invalid_certs(options.skip_ssl_validation)
        .build()
        .map_err(|e| CfError::Protocol {
            method: "GET".into(),
            path: "/".into(),
            detail: format!("http client: {e}"),
        })
}

/// `GET api + path` without a token (discovery documents), with the usual retries.
pub async fn get_anonymous(api: &str, path: &str, options: &CfOptions) -> Result<Value, CfError> {
    let client = CfHttp::unconnected(
        api,
        Login::Client {
            client_id: String::new(),
            client_secret: Secret::new(""),
        },
        options.clone(),
    )?;
    let url = format!("{}{path}", client.api);
    Ok(client
        .request_url(Method::GET, &url, None, false, &[])
        .await?
        .body)
}

/// A failed attempt, before deciding on a retry.
#[derive(Debug)]
struct Failure {
    status: u16,
    retry_after: Option<Duration>,
    headers: Option<header::HeaderMap>,
    error: CfError,
}

impl Failure {
    fn code(&self) -> Option<i64> {
        self.error.code()
    }
    fn into_error(self) -> CfError {
        self.error
    }
}

async fn send_once(
    http: &reqwest::Client,
    method: Method,
    url: &str,
    body: Option<&Value>,
    token: Option<&Secret>,
) -> Result<Answer, Failure> {
    let path = path_of(url);
    let mut request = http.request(method.clone(), url);
    if let Some(token) = token {
        request = request.bearer_auth(token.expose());
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let transport = |e: reqwest::Error| Failure {
        status: 0,
        retry_after: None,
        headers: None,
        error: CfError::Transport {
            method: method.to_string(),
            path: path.clone(),
            reason: reason(&e),
        },
    };
    let response = request.send().await.map_err(transport)?;
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.map_err(transport)?;
    let value: Value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    };
    if status.is_success() {
        return Ok(Answer {
            status: status.as_u16(),
            headers,
            body: value,
        });
    }
    let retry_after = headers
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    // v3: `{"errors": [{code, title, detail}]}`; v2: `{code, error_code, description}`.
    let first = &value["errors"][0];
    let (code, title, detail) = match first["code"].as_i64() {
        Some(code) => (Some(code), first["title"].as_str(), &first["detail"]),
        None => (
            value["code"].as_i64(),
            value["error_code"].as_str(),
            &value["description"],
        ),
    };
    let error = match (code, title) {
        (Some(code), Some(title)) => CfError::Api {
            method: method.to_string(),
            path,
            status: status.as_u16(),
            code,
            title: title.to_owned(),
            detail: detail.as_str().unwrap_or_default().to_owned(),
        },
        _ => CfError::Status {
            method: method.to_string(),
            path,
            status: status.as_u16(),
        },
    };
    Err(Failure {
        status: status.as_u16(),
        retry_after: if status == StatusCode::TOO_MANY_REQUESTS {
            retry_after
        } else {
            None
        },
        headers: Some(headers),
        error,
    })
}

/// The path of a URL without its query (queries may be long; errors stay readable).
fn path_of(url: &str) -> String {
    reqwest::Url::parse(url)
        .map(|u| u.path().to_owned())
        .unwrap_or_else(|_| url.to_owned())
}

fn reason(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        "connection failed".to_owned()
    } else {
        "the connection broke off".to_owned()
    }
}

/// `base * 2^attempt`, plus up to half of that again as jitter, capped at 30 s.
fn backoff(base: Duration, attempt: u32) -> Duration {
    let exp = base.saturating_mul(1 << attempt.min(10));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let jitter = exp.mul_f64(f64::from(nanos % 1000) / 2000.0);
    (exp + jitter).min(Duration::from_secs(30))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacing_spreads_the_last_tenth_of_the_budget_until_the_reset() {
        let budget = |remaining| Budget {
            limit: 100,
            remaining,
            reset_epoch: 1_000,
        };
        assert_eq!(pace(&budget(50), 990), Duration::ZERO, "plenty left");
        assert_eq!(
            pace(&budget(11), 990),
            Duration::ZERO,
            "still above the reserve of 10"
        );
        assert_eq!(
            pace(&budget(10), 990),
            Duration::from_secs(1),
            "11 s left over 11 slots"
        );
        assert_eq!(
            pace(&budget(0), 990),
            Duration::from_secs(11),
            "none left: wait for the reset"
        );
        assert_eq!(
            pace(&budget(0), 1_000),
            Duration::from_secs(1),
            "the second the header rounds away"
        );
        assert_eq!(
            pace(&budget(0), 1_001),
            Duration::ZERO,
            "the window has reset"
        );
        assert_eq!(
            pace(&Budget::default(), 990),
            Duration::ZERO,
            "no limit announced"
        );
        let small = Budget {
            limit: 5,
            remaining: 1,
            reset_epoch: 1_000,
        };
        assert_eq!(
            pace(&small, 998),
            Duration::from_millis(1500),
            "a reserve of at least one"
        );
    }
}

mod form {
    /// `application/x-www-form-urlencoded`.
    pub fn encode(pairs: &[(&str, &str)]) -> String {
        let mut url = reqwest::Url::parse("http://x/").expect("a constant URL parses");
        url.query_pairs_mut().extend_pairs(pairs);
        url.query().unwrap_or_default().to_owned()
    }
}
