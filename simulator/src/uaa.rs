//! A UAA token endpoint: password, client-credentials and refresh-token grants, JWT-shaped
//! tokens that expire, and OAuth2-shaped errors (`{"error","error_description"}`).
//!
//! Tokens are `header.claims.signature` in base64url. The signature is a SHA-256 keyed digest
//! (not a real HMAC or RSA signature: the simulator only needs to tell its own tokens from
//! forged or altered ones). Verification is stateless: the claims carry everything.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::config::{ClientSpec, UserSpec};
use crate::error::ApiError;
use crate::ids::UserGuid;
use crate::model::Actor;

const ADMIN_SCOPES: &[&str] = &[
    "cloud_controller.admin",
    "cloud_controller.read",
    "cloud_controller.write",
    "openid",
    "password.write",
    "scim.read",
    "uaa.user",
];
const USER_SCOPES: &[&str] = &[
    "cloud_controller.read",
    "cloud_controller.write",
    "openid",
    "password.write",
    "uaa.user",
];

/// An OAuth2 error from the token endpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {error}: {description}")]
pub struct OAuthError {
    /// HTTP status (400 or 401).
    pub status: u16,
    /// OAuth2 `error`, e.g. `invalid_scope`.
    pub error: &'static str,
    /// `error_description`.
    pub description: String,
}

impl OAuthError {
    fn bad_credentials() -> Self {
        Self {
            status: 401,
            error: "unauthorized",
            description: "Bad credentials".into(),
        }
    }

    fn invalid_request(what: &str) -> Self {
        Self {
            status: 400,
            error: "invalid_request",
            description: what.into(),
        }
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        json!({"error": self.error, "error_description": self.description})
    }
}

/// Signs and checks tokens; holds the logins.
#[derive(Debug, Clone)]
pub struct Uaa {
    secret: String,
    issuer: String,
    users: Vec<UserSpec>,
    clients: Vec<ClientSpec>,
    access_lifetime: i64,
    refresh_lifetime: i64,
}

/// Who asks for a token: the client from Basic auth or the form.
#[derive(Debug, Clone, Default)]
pub struct TokenRequest {
    pub grant_type: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub refresh_token: Option<String>,
    pub scope: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

fn user_guid(name: &str) -> String {
    let d = Sha256::digest(format!("user:{name}").as_bytes());
    let h: String = d.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-4{}-8{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

impl Uaa {
    pub fn new(
        seed: u64,
        issuer: String,
        users: Vec<UserSpec>,
        clients: Vec<ClientSpec>,
        access_lifetime: std::time::Duration,
        refresh_lifetime: std::time::Duration,
    ) -> Self {
        Self {
            secret: format!("driftless-simulator-{seed}"),
            issuer,
            users,
            clients,
            access_lifetime: i64::try_from(access_lifetime.as_secs()).unwrap_or(i64::MAX / 2),
            refresh_lifetime: i64::try_from(refresh_lifetime.as_secs()).unwrap_or(i64::MAX / 2),
        }
    }

    fn sign(&self, signing_input: &str) -> String {
        let mut h = Sha256::new();
        h.update(self.secret.as_bytes());
        h.update(b".");
        h.update(signing_input.as_bytes());
        URL_SAFE_NO_PAD.encode(h.finalize())
    }

    fn encode(&self, claims: &Value) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","kid":"sim-key-1","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string().as_bytes());
        let input = format!("{header}.{payload}");
        let sig = self.sign(&input);
        format!("{input}.{sig}")
    }

    /// Decodes and checks a token's signature and expiry; `None` if forged, malformed or expired.
    pub fn decode(&self, token: &str, now: DateTime<Utc>) -> Option<Value> {
        let mut parts = token.split('.');
        let (h, p, s) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || self.sign(&format!("{h}.{p}")) != s {
            return None;
        }
        let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).ok()?).ok()?;
        let exp = claims.get("exp")?.as_i64()?;
        (exp > now.timestamp()).then_some(claims)
    }

    /// The actor of an access token, or 401 CF-InvalidAuthToken.
    pub fn authenticate(&self, token: &str, now: DateTime<Utc>) -> Result<Actor, ApiError> {
        let claims = self
            .decode(token, now)
            .ok_or_else(ApiError::invalid_auth_token)?;
        let jti = claims
            .get("jti")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if jti.ends_with("-r") {
            return Err(ApiError::invalid_auth_token());
        }
        let s = |k: &str| claims.get(k).and_then(Value::as_str).map(str::to_owned);
        let admin = claims
            .get("scope")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|x| x == "cloud_controller.admin"));
        let guid = s("user_id").or_else(|| s("client_id")).unwrap_or_default();
        let name = s("user_name")
            .or_else(|| s("client_id"))
            .unwrap_or_default();
        Ok(Actor {
            guid: UserGuid::new(guid),
            name,
            email: s("email").unwrap_or_default(),
            admin,
        })
    }

    fn check_client(
        &self,
        req: &TokenRequest,
        allow_cf: bool,
    ) -> Result<(String, bool), OAuthError> {
        let id = req
            .client_id
            .clone()
            .ok_or_else(OAuthError::bad_credentials)?;
        let secret = req.client_secret.clone().unwrap_or_default();
        if allow_cf && id == "cf" && secret.is_empty() {
            return Ok((id, false));
        }
        match self.clients.iter().find(|c| c.client_id == id) {
            Some(c) if c.client_secret == secret => Ok((id, c.admin)),
            _ => Err(OAuthError::bad_credentials()),
        }
    }

    fn scopes(allowed: &[&str], requested: Option<&str>) -> Result<Vec<String>, OAuthError> {
        let requested: Vec<&str> = requested.unwrap_or_default().split_whitespace().collect();
        if requested.is_empty() {
            return Ok(allowed.iter().map(|s| (*s).to_owned()).collect());
        }
        let missing: Vec<&str> = requested
            .iter()
            .copied()
            .filter(|s| !allowed.contains(s))
            .collect();
        if !missing.is_empty() {
            return Err(OAuthError {
                status: 400,
                error: "invalid_scope",
                description: format!("Some requested scopes are missing: {}", missing.join(",")),
            });
        }
        Ok(requested.iter().map(|s| (*s).to_owned()).collect())
    }

    /// POST /oauth/token. `jti` is a fresh GUID from the simulator's generator.
    pub fn token(
        &self,
        req: &TokenRequest,
        now: DateTime<Utc>,
        jti: String,
    ) -> Result<Value, OAuthError> {
        let grant = req
            .grant_type
            .as_deref()
            .ok_or_else(|| OAuthError::invalid_request("Missing grant type"))?;
        let iat = now.timestamp();
        match grant {
            "password" => {
                let (client, _) = self.check_client(req, true)?;
                let username = req
                    .username
                    .as_deref()
                    .ok_or_else(|| OAuthError::invalid_request("Missing username"))?;
                let user = self
                    .users
                    .iter()
                    .find(|u| {
                        u.username == username
                            && Some(u.password.as_str()) == req.password.as_deref()
                    })
                    .ok_or_else(OAuthError::bad_credentials)?;
                let allowed = if user.admin {
                    ADMIN_SCOPES
                } else {
                    USER_SCOPES
                };
                let scopes = Self::scopes(allowed, req.scope.as_deref())?;
                Ok(self.user_tokens(&client, &user.username, scopes, "password", iat, &jti))
            }
            "refresh_token" => {
                let (client, _) = self.check_client(req, true)?;
                let raw = req
                    .refresh_token
                    .as_deref()
                    .ok_or_else(|| OAuthError::invalid_request("Missing refresh token"))?;
                let claims = self.decode(raw, now).filter(|c| {
                    c.get("jti")
                        .and_then(Value::as_str)
                        .is_some_and(|j| j.ends_with("-r"))
                });
                let Some(claims) = claims else {
                    return Err(OAuthError {
                        status: 401,
                        error: "invalid_token",
                        description: "Invalid refresh token (expired or malformed)".into(),
                    });
                };
                let username = claims
                    .get("user_name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                let user = self
                    .users
                    .iter()
                    .find(|u| u.username == username)
                    .ok_or_else(OAuthError::bad_credentials)?;
                let allowed = if user.admin {
                    ADMIN_SCOPES
                } else {
                    USER_SCOPES
                };
                let scopes = Self::scopes(allowed, req.scope.as_deref())?;
                Ok(self.user_tokens(&client, &username, scopes, "refresh_token", iat, &jti))
            }
            "client_credentials" => {
                let (client, admin) = self.check_client(req, false)?;
                let allowed: &[&str] = if admin {
                    &[
                        "cloud_controller.admin",
                        "cloud_controller.read",
                        "cloud_controller.write",
                        "uaa.none",
                    ]
                } else {
                    &["cloud_controller.read", "uaa.none"]
                };
                let scopes = Self::scopes(allowed, req.scope.as_deref())?;
                let claims = json!({
                    "jti": jti,
                    "sub": client,
                    "authorities": scopes,
                    "scope": scopes,
                    "client_id": client,
                    "cid": client,
                    "azp": client,
                    "grant_type": "client_credentials",
                    "rev_sig": "sim",
                    "iat": iat,
                    "exp": iat + self.access_lifetime,
                    "iss": self.issuer,
                    "zid": "uaa",
                    "aud": ["cloud_controller", client],
                });
                Ok(json!({
                    "access_token": self.encode(&claims),
                    "token_type": "bearer",
                    "expires_in": self.access_lifetime,
                    "scope": scopes.join(" "),
                    "jti": jti,
                }))
            }
            other => Err(OAuthError {
                status: 400,
                error: "unsupported_grant_type",
                description: format!("Unsupported grant type: {other}"),
            }),
        }
    }

    fn user_tokens(
        &self,
        client: &str,
        username: &str,
        scopes: Vec<String>,
        grant: &str,
        iat: i64,
        jti: &str,
    ) -> Value {
        let uid = user_guid(username);
        let email = format!("{username}@example.org");
        let access = json!({
            "exp": iat + self.access_lifetime,
            "user_id": uid,
            "sub": uid,
            "cid": client,
            "iss": self.issuer,
            "jti": jti,
            "client_id": client,
            "iat": iat,
            "scope": scopes,
            "grant_type": grant,
            "user_name": username,
            "email": email,
            "origin": "uaa",
            "zid": "uaa",
            "aud": ["cloud_controller", "openid", "password", "uaa"],
        });
        let refresh = json!({
            "jti": format!("{jti}-r"),
            "sub": uid,
            "scope": scopes,
            "iat": iat,
            "exp": iat + self.refresh_lifetime,
            "cid": client,
            "client_id": client,
            "iss": self.issuer,
            "grant_type": grant,
            "user_name": username,
            "user_id": uid,
            "origin": "uaa",
            "zid": "uaa",
            "aud": ["cloud_controller", "openid", "password", "uaa"],
        });
        json!({
            "access_token": self.encode(&access),
            "token_type": "bearer",
            "refresh_token": self.encode(&refresh),
            "expires_in": self.access_lifetime,
            "scope": scopes.join(" "),
            "jti": jti,
        })
    }
}

/// Decodes a token's claims without checking anything (for rate-limit keys only).
pub fn peek_subject(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    claims.get("sub").and_then(Value::as_str).map(str::to_owned)
}
