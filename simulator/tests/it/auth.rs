//! Every auth path: UAA grants, token expiry, forged tokens, roles, OAuth2 error shapes, and
//! the request id on every response.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{self, form};

async fn token_call(
    sim: &common::Sim,
    basic: Option<(&str, &str)>,
    pairs: &[(&str, &str)],
) -> (u16, Value) {
    let mut req = sim
        .http
        .post(sim.url("/uaa/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(pairs));
    if let Some((u, p)) = basic {
        req = req.basic_auth(u, Some(p));
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test]
async fn missing_bad_and_expired_tokens_are_rejected_with_cf_codes() {
    let sim = common::start().await;
    let none = sim.call_as(None, Method::GET, "/v3/apps", None).await;
    assert_eq!(none.status, 401);
    assert_eq!(none.error(), (10002, "CF-NotAuthenticated".into()));

    let garbage = sim
        .call_as(Some("not-a-jwt"), Method::GET, "/v3/apps", None)
        .await;
    assert_eq!(garbage.status, 401);
    assert_eq!(garbage.error(), (1000, "CF-InvalidAuthToken".into()));

    // A token whose claims were altered (admin scope added, say) fails its signature.
    let mut parts: Vec<String> = sim.token.split('.').map(str::to_owned).collect();
    parts[1] = parts[1].chars().rev().collect();
    let forged = parts.join(".");
    let resp = sim
        .call_as(Some(&forged), Method::GET, "/v3/apps", None)
        .await;
    assert_eq!(resp.error(), (1000, "CF-InvalidAuthToken".into()));

    sim.get("/v3/apps").await.expect(200);
    sim.advance(20 * 60 + 1);
    let expired = sim.get("/v3/apps").await;
    assert_eq!(expired.status, 401);
    assert_eq!(expired.error(), (1000, "CF-InvalidAuthToken".into()));
}

#[tokio::test]
async fn password_grant_returns_jwt_shaped_tokens_and_refresh_works() {
    let sim = common::start().await;
    let (status, body) = token_call(
        &sim,
        Some(("cf", "")),
        &[
            ("grant_type", "password"),
            ("username", "admin"),
            ("password", "admin"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 1200);
    let claims = crate::conformance::decode_claims(body["access_token"].as_str().unwrap());
    assert_eq!(claims["user_name"], "admin");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        1200
    );
    assert!(
        claims["scope"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "cloud_controller.admin")
    );

    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    // A refresh token is not an access token.
    let resp = sim
        .call_as(Some(&refresh), Method::GET, "/v3/apps", None)
        .await;
    assert_eq!(resp.error().0, 1000);

    sim.advance(3600);
    let (status, renewed) = token_call(
        &sim,
        Some(("cf", "")),
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    assert_eq!(status, 200, "{renewed}");
    let token = renewed["access_token"].as_str().unwrap();
    sim.call_as(Some(token), Method::GET, "/v3/apps", None)
        .await
        .expect(200);

    let (status, err) = token_call(
        &sim,
        Some(("cf", "")),
        &[("grant_type", "refresh_token"), ("refresh_token", "junk")],
    )
    .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (401, Some("invalid_token"))
    );
}

#[tokio::test]
async fn uaa_errors_have_the_oauth2_shape() {
    let sim = common::start().await;
    let (status, err) = token_call(
        &sim,
        Some(("cf", "")),
        &[
            ("grant_type", "password"),
            ("username", "admin"),
            ("password", "wrong"),
        ],
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(
        err,
        json!({"error": "unauthorized", "error_description": "Bad credentials"})
    );

    let (status, err) = token_call(
        &sim,
        Some(("cf", "")),
        &[
            ("grant_type", "password"),
            ("username", "developer"),
            ("password", "developer"),
            ("scope", "cloud_controller.admin"),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(err["error"], "invalid_scope");

    let (status, err) = token_call(&sim, Some(("cf", "")), &[("grant_type", "implicit")]).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );

    let (status, err) = token_call(
        &sim,
        Some(("driftless", "wrong")),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!((status, err["error"].as_str()), (401, Some("unauthorized")));
}

#[tokio::test]
async fn client_credentials_is_admin_and_developer_is_not() {
    let sim = common::start().await;
    let (status, body) = token_call(
        &sim,
        Some(("driftless", "driftless")),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(status, 200);
    assert!(body.get("refresh_token").is_none());
    let client = body["access_token"].as_str().unwrap().to_owned();
    // Credentials in the form work as well as Basic.
    let (status, _) = token_call(
        &sim,
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "driftless"),
            ("client_secret", "driftless"),
        ],
    )
    .await;
    assert_eq!(status, 200);

    let flag = json!({"enabled": true});
    sim.call_as(
        Some(&client),
        Method::PATCH,
        "/v3/feature_flags/diego_docker",
        Some(flag.clone()),
    )
    .await
    .expect(200);

    let developer = sim.login("developer", "developer").await;
    let resp = sim
        .call_as(
            Some(&developer),
            Method::PATCH,
            "/v3/feature_flags/diego_docker",
            Some(flag),
        )
        .await;
    assert_eq!(resp.status, 403);
    assert_eq!(resp.error(), (10003, "CF-NotAuthorized".into()));
    let org = sim
        .call_as(
            Some(&developer),
            Method::POST,
            "/v3/organizations",
            Some(json!({"name": "mine"})),
        )
        .await;
    assert_eq!(org.error(), (10003, "CF-NotAuthorized".into()));
    // The developer can read and can create apps.
    sim.call_as(
        Some(&developer),
        Method::GET,
        "/v3/feature_flags/diego_docker",
        None,
    )
    .await
    .expect(200);
    let space = sim.org_space("o", "s").await;
    let app = json!({"name": "dev-app", "relationships": {"space": {"data": {"guid": space}}}});
    sim.call_as(Some(&developer), Method::POST, "/v3/apps", Some(app))
        .await
        .expect(201);
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let sim = common::start().await;
    for path in [
        "/",
        "/v3",
        "/v3/info",
        "/v3/apps",
        "/v3/nope",
        "/v3/apps/missing",
    ] {
        let resp = sim.get(path).await;
        let id = resp
            .headers
            .get("x-vcap-request-id")
            .map(|v| v.to_str().unwrap().to_owned());
        assert!(
            id.is_some_and(|id| id.len() >= 36),
            "{path} has no X-VCAP-Request-ID"
        );
    }
    let resp = sim
        .http
        .get(sim.url("/v3"))
        .header("X-VCAP-Request-ID", "client-abc")
        .send()
        .await
        .unwrap();
    let id = resp.headers()["x-vcap-request-id"].to_str().unwrap();
    assert!(id.starts_with("client-abc::"), "{id}");
    let wrong_method = sim
        .call_as(Some(&sim.token), reqwest::Method::PUT, "/v3/apps", None)
        .await;
    assert_eq!(wrong_method.status, 404);
    assert_eq!(wrong_method.error(), (10000, "CF-NotFound".into()));
    assert!(wrong_method.headers.contains_key("x-vcap-request-id"));
    let missing = sim.get("/v3/nope").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.error(), (10000, "CF-NotFound".into()));
}
