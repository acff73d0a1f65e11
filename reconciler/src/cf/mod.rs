//! Talking to Cloud Foundry: the HTTP core shared by the v3 (and later v2) clients.
//!
//! [`http::CfHttp`] discovers the UAA from `GET /`, logs in (password grant with client `cf`,
//! or client credentials), refreshes the token before it expires and once on
//! `401 CF-InvalidAuthToken`, follows `pagination.next` for lists, parses CF errors into
//! [`CfError`] with method, path, status, code and title, and retries idempotent requests on
//! 5xx, 429 (sleeping `Retry-After`) and transport errors with jittered exponential backoff.
//! Tokens and passwords are `Secret`s: they never reach logs or errors.
//!
//! [`platform::Platform`] is what the reconciler uses: [`v3::V3`] implements it over this core.

pub mod http;
pub mod platform;
pub mod poll;
pub mod v3;

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
    /// An answer we cannot read.
    #[error("{method} {path}: {detail}")]
    Protocol {
        method: String,
        path: String,
        detail: String,
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
            | CfError::Timeout { .. } => false,
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
