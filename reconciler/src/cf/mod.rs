//! Talking to Cloud Foundry: the HTTP core shared by the v3 and v2 (Stackato) clients.
//!
//! [`http::CfHttp`] discovers the UAA from `GET /` (or `/v2/info` on Stackato), logs in (password grant with client `cf`,
//! or client credentials), refreshes the token before it expires and once on
//! `401 CF-InvalidAuthToken`, follows `pagination.next` for lists, parses CF errors into
//! [`CfError`] with method, path, status, code and title, and retries idempotent requests on
//! 5xx, 429 (sleeping `Retry-After`) and transport errors with jittered exponential backoff.
//! Tokens and passwords are `Secret`s: they never reach logs or errors.
//!
//! [`platform::Platform`] is what the reconciler uses: [`v3::V3`] implements it for Cloud
//! Foundry and [`v2::V2`] for Stackato (see `docs/stackato.md`); [`detect`] tells the two
//! dialects apart.

pub mod http;
pub mod platform;
pub mod poll;
pub mod v2;
pub mod v3;

use crate::model::PlatformKind;

/// Which dialect a foundation speaks: Cloud Foundry (CC v3) answers `GET /` with
/// `links.cloud_controller_v3`; a v2-only one (HP Stackato) has no such link (or no root
/// document at all) but serves `GET /v2/info`. Neither needs a login.
pub async fn detect(api: &str, options: &http::CfOptions) -> Result<PlatformKind, CfError> {
    let root = http::get_anonymous(api, "/", options).await;
    if let Ok(root) = &root
        && root["links"]["cloud_controller_v3"]["href"].is_string()
    {
        return Ok(PlatformKind::Cloudfoundry);
    }
    match http::get_anonymous(api, "/v2/info", options).await {
        Ok(info)
            if info["token_endpoint"].is_string() || info["authorization_endpoint"].is_string() =>
        {
            Ok(PlatformKind::Stackato)
        }
        Ok(_) => Err(CfError::Protocol {
            method: "GET".into(),
            path: "/v2/info".into(),
            detail:
                "neither a CC v3 root document nor a v2 info document; is this a Cloud Controller?"
                    .into(),
        }),
        // A transport failure of the root says more than the 404 of /v2/info would.
        Err(error) => Err(root
            .err()
            .filter(|e| matches!(e, CfError::Transport { .. }))
            .unwrap_or(error)),
    }
}

/// An env var's value as text: Cloud Controllers accept any JSON value, which is rendered.
pub(crate) fn env_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A failed Cloud Foundry (or UAA) request. Carries no secret.
#[derive(Debug, thiserror::Error)]
pub enum CfError {
    /// The Cloud Controller answered with a CF error body.
    #[error("{method} {path}: {status} {title} (code {code}): {detail}")]
    Api {
        method: String,
        path: String,
        status: u16,
        code: i64,
        title: String,
        detail: String,
    },
    /// An answer that is not a CF error body (a proxy's 502 page, say).
    #[error("{method} {path}: HTTP {status}")]
    Status {
        method: String,
        path: String,
        status: u16,
    },
    /// The UAA refused to issue a token.
    #[error("login to {uaa}: {error}: {description}")]
    Login {
        uaa: String,
        error: String,
        description: String,
    },
    /// The connection failed or broke off.
    #[error("{method} {path}: {reason}")]
    Transport {
        method: String,
        path: String,
        reason: String,
    },
    /// A build, deployment, start or job ended in failure.
    #[error("{what} failed: {reason}")]
    Failed { what: String, reason: String },
    /// A wait passed its deadline.
    #[error("{what} did not finish within {after_s} s")]
    Timeout { what: String, after_s: u64 },
    /// An answer we cannot read, or a request we refuse to send.
    #[error("{method} {path}: {detail}")]
    Protocol {
        method: String,
        path: String,
        detail: String,
    },
    /// A rollout (staging, then instances starting) failed or ran out of time; `restored`
    /// says what became of the previous image.
    #[error("app {app}: {step}: {reason}; {restored}")]
    Rollout {
        app: String,
        step: String,
        reason: String,
        restored: String,
    },
}

impl CfError {
    /// Whether the same request may succeed if sent again (for idempotent requests only).
    pub fn is_retryable(&self) -> bool {
        match self {
            CfError::Transport { .. } => true,
            CfError::Api { status, .. } | CfError::Status { status, .. } => {
                *status >= 500 || *status == 429
            }
            CfError::Login { .. }
            | CfError::Protocol { .. }
            | CfError::Failed { .. }
            | CfError::Timeout { .. }
            | CfError::Rollout { .. } => false,
        }
    }

    /// A short label for metrics and reports.
    pub fn metric_label(&self) -> &'static str {
        match self {
            CfError::Api { status, .. } | CfError::Status { status, .. } if *status >= 500 => {
                "api_5xx"
            }
            CfError::Api { .. } | CfError::Status { .. } => "api_4xx",
            CfError::Login { .. } => "login",
            CfError::Transport { .. } => "transport",
            CfError::Protocol { .. } => "protocol",
            CfError::Failed { .. } => "failed",
            CfError::Timeout { .. } => "timeout",
            CfError::Rollout { .. } => "rollout",
        }
    }

    /// The same error with every occurrence of each non-empty `secret` replaced by `***` (for
    /// errors of requests that carried a secret the foundation may echo back).
    pub fn redact(self, secrets: &[&str]) -> CfError {
        if secrets.iter().all(|s| s.is_empty()) {
            return self;
        }
        let scrub = |text: String| {
            secrets
                .iter()
                .filter(|s| !s.is_empty())
                .fold(text, |text, secret| text.replace(secret, "***"))
        };
        match self {
            CfError::Api {
                method,
                path,
                status,
                code,
                title,
                detail,
            } => CfError::Api {
                method,
                path: scrub(path),
                status,
                code,
                title: scrub(title),
                detail: scrub(detail),
            },
            CfError::Status {
                method,
                path,
                status,
            } => CfError::Status {
                method,
                path: scrub(path),
                status,
            },
            CfError::Login {
                uaa,
                error,
                description,
            } => CfError::Login {
                uaa: scrub(uaa),
                error: scrub(error),
                description: scrub(description),
            },
            CfError::Transport {
                method,
                path,
                reason,
            } => CfError::Transport {
                method,
                path: scrub(path),
                reason: scrub(reason),
            },
            CfError::Protocol {
                method,
                path,
                detail,
            } => CfError::Protocol {
                method,
                path: scrub(path),
                detail: scrub(detail),
            },
            CfError::Rollout {
                app,
                step,
                reason,
                restored,
            } => CfError::Rollout {
                app: scrub(app),
                step: scrub(step),
                reason: scrub(reason),
                restored: scrub(restored),
            },
            CfError::Failed { what, reason } => CfError::Failed {
                what: scrub(what),
                reason: scrub(reason),
            },
            timeout @ CfError::Timeout { .. } => timeout,
        }
    }

    /// The CF error code, when the Cloud Controller gave one.
    pub fn code(&self) -> Option<i64> {
        match self {
            CfError::Api { code, .. } => Some(*code),
            _ => None,
        }
    }
}
