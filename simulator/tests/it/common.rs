//! Shared helpers: start a simulator with a manual clock, log in, make requests.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use simulator::{ManualClock, RegistryConfig, SimConfig, SimHandle};

pub struct Sim {
    pub handle: SimHandle,
    pub clock: ManualClock,
    pub http: reqwest::Client,
    pub token: String,
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Resp {
    #[track_caller]
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status, body: {}",
            self.body
        );
        self.body
    }

    /// The first CF error's (code, title).
    pub fn error(&self) -> (u64, String) {
        let e = &self.body["errors"][0];
        (
            e["code"].as_u64().unwrap_or(0),
            e["title"].as_str().unwrap_or("").to_owned(),
        )
    }
}

pub fn config(clock: &ManualClock) -> SimConfig {
    SimConfig {
        clock: Arc::new(clock.clone()),
        ..SimConfig::default()
    }
}

pub async fn start_with(config: SimConfig, clock: ManualClock) -> Sim {
    let handle = simulator::start(config).await.expect("simulator starts");
    let http = reqwest::Client::new();
    let mut sim = Sim {
        handle,
        clock,
        http,
        token: String::new(),
    };
    sim.token = sim.login("admin", "admin").await;
    sim
}

/// A simulator with a manual clock, an embedded registry, admin logged in.
pub async fn start() -> Sim {
    let clock = ManualClock::fixed();
    let cfg = SimConfig {
        registry: Some(RegistryConfig::default()),
        ..config(&clock)
    };
    start_with(cfg, clock).await
}

/// An `application/x-www-form-urlencoded` body.
pub fn form(pairs: &[(&str, &str)]) -> String {
    let mut ser = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        ser.append_pair(k, v);
    }
    ser.finish()
}

impl Sim {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.handle.url())
    }

    pub async fn login(&self, user: &str, password: &str) -> String {
        let resp = self
            .http
            .post(self.url("/uaa/oauth/token"))
            .basic_auth("cf", Some(""))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[
                ("grant_type", "password"),
                ("username", user),
                ("password", password),
            ]))
            .send()
            .await
            .expect("token request");
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().await.expect("token json");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    pub async fn call_as(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Resp {
        let mut req = self.http.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Resp {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.call_as(Some(&self.token), Method::GET, path, None)
            .await
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.call_as(Some(&self.token), Method::POST, path, Some(body))
            .await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        self.call_as(Some(&self.token), Method::PATCH, path, Some(body))
            .await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.call_as(Some(&self.token), Method::DELETE, path, None)
            .await
    }

    pub fn advance(&self, secs: u64) {
        self.clock.advance(Duration::from_secs(secs));
    }

    pub async fn enable_docker(&self) {
        self.patch("/v3/feature_flags/diego_docker", json!({"enabled": true}))
            .await
            .expect(200);
    }

    /// Creates org + space, returns the space guid.
    pub async fn org_space(&self, org: &str, space: &str) -> String {
        let o = self
            .post("/v3/organizations", json!({"name": org}))
            .await
            .expect(201);
        let s = self
            .post("/v3/spaces", json!({"name": space, "relationships": {"organization": {"data": {"guid": o["guid"]}}}}))
            .await
            .expect(201);
        s["guid"].as_str().expect("guid").to_owned()
    }

    pub async fn docker_app(&self, space: &str, name: &str) -> String {
        let a = self
            .post(
                "/v3/apps",
                json!({"name": name, "relationships": {"space": {"data": {"guid": space}}}, "lifecycle": {"type": "docker", "data": {}}}),
            )
            .await
            .expect(201);
        a["guid"].as_str().expect("guid").to_owned()
    }

    pub fn registry_host(&self) -> String {
        self.handle.registry().expect("embedded registry").host()
    }

    /// Pushes `repo:tag` to the embedded registry; returns the image reference.
    pub fn push(&self, repo: &str, tag: &str, payload: &str) -> String {
        self.handle
            .registry()
            .expect("embedded registry")
            .push_image(repo, tag, payload);
        format!("{}/{repo}:{tag}", self.registry_host())
    }

    /// Package + build for `image`, staging time elapsed; returns (build json, droplet guid).
    pub async fn stage(&self, app: &str, image: &str) -> (Value, Option<String>) {
        let pkg = self
            .post("/v3/packages", json!({"type": "docker", "relationships": {"app": {"data": {"guid": app}}}, "data": {"image": image}}))
            .await
            .expect(201);
        let build = self
            .post("/v3/builds", json!({"package": {"guid": pkg["guid"]}}))
            .await
            .expect(201);
        assert_eq!(build["state"], "STAGING");
        self.advance(10);
        let build = self
            .get(&format!(
                "/v3/builds/{}",
                build["guid"].as_str().expect("guid")
            ))
            .await
            .expect(200);
        let droplet = build["droplet"]["guid"].as_str().map(str::to_owned);
        (build, droplet)
    }

    /// A started docker app running `image`; returns (app guid, droplet guid).
    pub async fn running_app(&self, space: &str, name: &str, image: &str) -> (String, String) {
        let app = self.docker_app(space, name).await;
        let (build, droplet) = self.stage(&app, image).await;
        let droplet = droplet.unwrap_or_else(|| panic!("staging failed: {build}"));
        self.patch(
            &format!("/v3/apps/{app}/relationships/current_droplet"),
            json!({"data": {"guid": droplet}}),
        )
        .await
        .expect(200);
        self.post(&format!("/v3/apps/{app}/actions/start"), json!({}))
            .await
            .expect(200);
        (app, droplet)
    }
}

/// Skips a test that needs a tool this machine lacks, saying why. Under CI (`CI` set) the tools
/// are installed by `scripts/test`, so a skip there is a failure, never a silent pass.
pub fn skip(reason: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "under CI nothing may be skipped: {reason}"
    );
    println!("skipped: {reason}");
}
