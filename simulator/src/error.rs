//! Errors: [`ApiError`] is what a Cloud Controller answers (code, title, detail); [`SimError`]
//! is what can go wrong starting or seeding the simulator.

use std::path::PathBuf;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// A Cloud Controller error: rendered as `{"errors":[{"code","title","detail"}]}` on v3 and as
/// `{"code","description","error_code"}` on v2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {title} (code {code}): {detail}")]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// The numeric CF error code, e.g. 10010.
    pub code: u32,
    /// The CF title, e.g. `CF-ResourceNotFound`.
    pub title: &'static str,
    /// The human-readable detail.
    pub detail: String,
}

impl ApiError {
    fn new(status: StatusCode, code: u32, title: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            title,
            detail: detail.into(),
        }
    }

    /// 401 CF-InvalidAuthToken (1000): a token that is malformed, forged or expired.
    pub fn invalid_auth_token() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            1000,
            "CF-InvalidAuthToken",
            "Invalid Auth Token",
        )
    }

    /// 401 CF-NotAuthenticated (10002): no token at all.
    pub fn not_authenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            10002,
            "CF-NotAuthenticated",
            "Authentication error",
        )
    }

    /// 403 CF-NotAuthorized (10003).
    pub fn not_authorized() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            10003,
            "CF-NotAuthorized",
            "You are not authorized to perform the requested action",
        )
    }

    /// 400 CF-MessageParseError (1001): the body is not JSON.
    pub fn message_parse(detail: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            1001,
            "CF-MessageParseError",
            format!("Request invalid due to parse error: {detail}"),
        )
    }

    /// 400 CF-BadQueryParameter (10005).
    pub fn bad_query(detail: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            10005,
            "CF-BadQueryParameter",
            format!("The query parameter is invalid: {detail}"),
        )
    }

    /// 422 CF-UnprocessableEntity (10008).
    pub fn unprocessable(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            10008,
            "CF-UnprocessableEntity",
            detail,
        )
    }

    /// 404 CF-ResourceNotFound (10010), e.g. `App not found`.
    pub fn not_found(kind: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            10010,
            "CF-ResourceNotFound",
            format!("{kind} not found"),
        )
    }

    /// 404 CF-NotFound (10000): no such endpoint.
    pub fn unknown_request() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            10000,
            "CF-NotFound",
            "Unknown request",
        )
    }

    /// 422 CF-UniquenessError (10016).
    pub fn uniqueness(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            10016,
            "CF-UniquenessError",
            detail,
        )
    }

    /// 403 CF-FeatureDisabled (330002): `Feature Disabled: <flag>`.
    pub fn feature_disabled(flag: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            330002,
            "CF-FeatureDisabled",
            format!("Feature Disabled: {flag}"),
        )
    }

    /// 422 CF-StagingInProgress (170017).
    pub fn staging_in_progress() -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            170017,
            "CF-StagingInProgress",
            "Only one build can be STAGING at a time per application.",
        )
    }

    /// 422 while a deployment is in flight: scale (390016), process update (390017) or stop
    /// (390024) of the app's web process.
    pub fn disabled_during_deployment(what: DuringDeployment) -> Self {
        let (code, title, detail) = match what {
            DuringDeployment::Scale => (
                390016,
                "CF-ScaleDisabledDuringDeployment",
                "Cannot scale this process while a deployment is in flight.",
            ),
            DuringDeployment::Update => (
                390017,
                "CF-ProcessUpdateDisabledDuringDeployment",
                "Cannot update this process while a deployment is in flight.",
            ),
            DuringDeployment::Stop => (
                390024,
                "CF-StopDisabledDuringDeployment",
                "Cannot stop the app while it is deploying, please cancel the deployment before stopping the app.",
            ),
        };
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, title, detail)
    }

    /// 429 CF-RateLimitExceeded (10013).
    pub fn rate_limited() -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            10013,
            "CF-RateLimitExceeded",
            "Rate Limit Exceeded",
        )
    }

    /// 503 CF-ServiceUnavailable (10015), used by fault injection.
    pub fn service_unavailable(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            10015,
            "CF-ServiceUnavailable",
            detail,
        )
    }

    /// 500 CF-ServerError (10001): a bug in the simulator, never expected.
    pub fn server_error() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            10001,
            "CF-ServerError",
            "Server error",
        )
    }

    /// 400 CF-AppNotFound (100004), the v2 not-found.
    pub fn v2_app_not_found(guid: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            100004,
            "CF-AppNotFound",
            format!("The app could not be found: {guid}"),
        )
    }

    /// 400 CF-AppNameTaken (100002), the v2 uniqueness error.
    pub fn v2_app_name_taken(name: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            100002,
            "CF-AppNameTaken",
            format!("The app name is taken: {name}"),
        )
    }

    /// 400 CF-AppInvalid (100001), the v2 validation error.
    pub fn v2_app_invalid(detail: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            100001,
            "CF-AppInvalid",
            format!("The app is invalid: {detail}"),
        )
    }

    /// The v3 JSON body.
    pub fn v3_body(&self) -> serde_json::Value {
        json!({"errors": [{"detail": self.detail, "title": self.title, "code": self.code}]})
    }

    /// The v2 JSON body.
    pub fn v2_body(&self) -> serde_json::Value {
        json!({"description": self.detail, "error_code": self.title, "code": self.code})
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.v3_body())).into_response()
    }
}

/// What CC refuses while a deployment is in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DuringDeployment {
    /// Scaling the web process.
    Scale,
    /// Updating the web process.
    Update,
    /// Stopping (or restarting) the app.
    Stop,
}

/// A v2-dialect error response.
#[derive(Debug)]
pub struct V2Error(pub ApiError);

impl From<ApiError> for V2Error {
    fn from(e: ApiError) -> Self {
        Self(e)
    }
}

impl IntoResponse for V2Error {
    fn into_response(self) -> Response {
        (self.0.status, axum::Json(self.0.v2_body())).into_response()
    }
}

/// Starting, seeding or driving the simulator failed.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The listener could not bind.
    #[error("bind {addr}")]
    Bind {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A local socket operation failed.
    #[error("listener")]
    Listener(#[source] std::io::Error),
    /// The port file could not be written.
    #[error("write port file {path}")]
    PortFile {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The seed file could not be read.
    #[error("read seed file {path}")]
    SeedRead {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The seed file is not valid YAML/JSON of the documented shape.
    #[error("parse seed file {path}")]
    SeedParse {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_yaml::Error,
    },
    /// The seed refers to something that does not exist or violates a CF rule.
    #[error("seed: {what}")]
    SeedInvalid {
        /// What is wrong.
        what: String,
        /// The CF error the seed step produced.
        #[source]
        source: ApiError,
    },
    /// The TLS certificate or key could not be loaded.
    #[error("tls: {what}")]
    Tls {
        /// Which file or step.
        what: String,
    },
    /// A driving operation (a `SimHandle` mutation) was refused.
    #[error("{operation}")]
    Operation {
        /// The operation, e.g. `scale demo/dev/web`.
        operation: String,
        /// The CF error.
        #[source]
        source: ApiError,
    },
}
