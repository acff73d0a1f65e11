//! A real Docker Registry V2 (the `docker-registry` Debian package) on a free loopback port, with
//! no auth, htpasswd Basic auth, or Bearer tokens from `tokenserver.py`; and pushing small
//! OCI or Docker schema2 images to it over plain HTTP (TEST-INFRA.md §1).

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use sha2::Digest as _;

/// The user and password every auth mode accepts.
pub const USER: &str = "testuser";
pub const PASSWORD: &str = "testpass";

/// How the registry authenticates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMode {
    Anonymous,
    Htpasswd,
    Token,
}

/// A running registry (and token server); both are killed on drop.
#[derive(Debug)]
pub struct Registry {
    /// `127.0.0.1:PORT`.
    pub host: String,
    pub mode: AuthMode,
    /// `http://127.0.0.1:PORT/token` in token mode.
    pub realm: Option<String>,
    children: Vec<Child>,
    dir: PathBuf,
}

impl Drop for Registry {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether the registry binary is here. Without it a test prints why it skipped, except under CI,
/// where `scripts/test` installs it and its absence is a failure.
pub fn available(test: &str) -> bool {
    if Path::new("/usr/bin/docker-registry").exists() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{test}: docker-registry is missing under CI; scripts/test installs it"
    );
    skipped(test);
    false
}

#[allow(clippy::print_stderr)] // reason: a skipped test says why, visibly
fn skipped(test: &str) {
    eprintln!("{test}: skipped: docker-registry is not installed (scripts/test installs it)");
}

fn temp_dir(tag: &str) -> PathBuf {
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("driftless-reg-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Waits for a line containing `marker` on a child's output and returns the text after it.
fn wait_for_line(reader: impl std::io::Read + Send + 'static, marker: &'static str) -> String {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(reader).lines().map_while(Result::ok) {
            if !sent && let Some(at) = line.find(marker) {
                let _ = tx.send(line[at + marker.len()..].to_owned());
                sent = true;
            }
            // Keep draining so the child never blocks on a full pipe.
        }
    });
    rx.recv_timeout(Duration::from_secs(20))
        .unwrap_or_else(|_| panic!("no `{marker}` line from the child within 20 s"))
}

impl Registry {
    pub fn start(mode: AuthMode) -> Registry {
        let dir = temp_dir(&format!("{mode:?}").to_lowercase());
        let mut children = Vec::new();
        let mut auth = String::new();
        let mut realm = None;
        match mode {
            AuthMode::Anonymous => {}
            AuthMode::Htpasswd => {
                let out = Command::new("htpasswd")
                    .args(["-Bbn", USER, PASSWORD])
                    .output()
                    .expect("run htpasswd");
                assert!(out.status.success(), "htpasswd failed");
                std::fs::write(dir.join("htpasswd"), &out.stdout).expect("write htpasswd");
                auth = format!(
                    "auth:\n  htpasswd:\n    realm: test-realm\n    path: {}\n",
                    dir.join("htpasswd").display()
                );
            }
            AuthMode::Token => {
                let status = Command::new("openssl")
                    .args([
                        "req",
                        "-x509",
                        "-newkey",
                        "rsa:2048",
                        "-nodes",
                        "-days",
                        "2",
                        "-subj",
                        "/CN=test-token-issuer",
                    ])
                    .arg("-keyout")
                    .arg(dir.join("token.key"))
                    .arg("-out")
                    .arg(dir.join("token.crt"))
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .expect("run openssl");
                assert!(status.success(), "openssl failed");
                let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("support/tokenserver.py");
                let mut child = Command::new("python3")
                    .arg(script)
                    .arg(&dir)
                    .stdout(Stdio::piped())
                    .stderr(Stdio::inherit())
                    .spawn()
                    .expect("start tokenserver.py");
                let port = wait_for_line(child.stdout.take().expect("stdout"), "listening ");
                children.push(child);
                let url = format!("http://127.0.0.1:{}/token", port.trim());
                auth = format!(
                    "auth:\n  token:\n    realm: {url}\n    service: test-registry\n    issuer: test-issuer\n    rootcertbundle: {}\n",
                    dir.join("token.crt").display()
                );
                realm = Some(url);
            }
        }
        let config = format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:0\n  secret: test-secret\n{auth}",
            dir.join("data").display()
        );
        std::fs::write(dir.join("config.yml"), config).expect("write config");
        let mut child = Command::new("docker-registry")
            .arg("serve")
            .arg(dir.join("config.yml"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start docker-registry");
        let rest = wait_for_line(child.stderr.take().expect("stderr"), "listening on ");
        let host = rest
            .trim_matches(|c: char| c == '"' || c.is_whitespace())
            .split('"')
            .next()
            .unwrap_or_default()
            .to_owned();
        children.push(child);
        Registry {
            host,
            mode,
            realm,
            children,
            dir,
        }
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.host)
    }

    /// Rotates `USER`'s password (htpasswd mode): the registry reloads its htpasswd file when
    /// it changes, so the old password is refused from the next request on.
    pub fn set_password(&self, password: &str) {
        assert_eq!(
            self.mode,
            AuthMode::Htpasswd,
            "only htpasswd passwords rotate"
        );
        let out = Command::new("htpasswd")
            .args(["-Bbn", USER, password])
            .output()
            .expect("run htpasswd");
        assert!(out.status.success(), "htpasswd failed");
        let tmp = self.dir.join("htpasswd.new");
        std::fs::write(&tmp, &out.stdout).expect("write htpasswd");
        std::fs::rename(tmp, self.dir.join("htpasswd")).expect("replace htpasswd");
    }

    /// Stops the registry (the token server keeps running): the "registry down" case.
    pub fn stop(&mut self) {
        if let Some(child) = self.children.last_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// An image format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Oci,
    DockerV2,
}

impl Format {
    fn manifest_type(self) -> &'static str {
        match self {
            Format::Oci => "application/vnd.oci.image.manifest.v1+json",
            Format::DockerV2 => "application/vnd.docker.distribution.manifest.v2+json",
        }
    }
}

fn sha256(bytes: &[u8]) -> String {
    let hash = sha2::Sha256::digest(bytes);
    format!(
        "sha256:{}",
        hash.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

/// Pushes a one-layer image whose content is `payload` and returns the manifest's digest as the
/// registry reported it (`Docker-Content-Digest`), after checking it is the hash of the bytes sent.
pub async fn push(
    registry: &Registry,
    repo: &str,
    tag: &str,
    format: Format,
    payload: &str,
) -> String {
    let http = reqwest::Client::new();
    let auth = match registry.mode {
        AuthMode::Anonymous => None,
        AuthMode::Htpasswd => Some(format!("Basic {}", basic(USER, PASSWORD))),
        AuthMode::Token => {
            let realm = registry.realm.as_deref().expect("token mode has a realm");
            let url = format!("{realm}?service=test-registry&scope=repository:{repo}:pull,push");
            let body: serde_json::Value = http
                .get(url)
                .header("Authorization", format!("Basic {}", basic(USER, PASSWORD)))
                .send()
                .await
                .expect("token request")
                .json()
                .await
                .expect("token json");
            Some(format!("Bearer {}", body["token"].as_str().expect("token")))
        }
    };
    let with_auth = |req: reqwest::RequestBuilder| match &auth {
        Some(value) => req.header("Authorization", value),
        None => req,
    };
    let (config_type, layer_type) = match format {
        Format::Oci => (
            "application/vnd.oci.image.config.v1+json",
            "application/vnd.oci.image.layer.v1.tar+gzip",
        ),
        Format::DockerV2 => (
            "application/vnd.docker.container.image.v1+json",
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
        ),
    };
    let layer = payload.as_bytes().to_vec();
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [sha256(&layer)]},
    }))
    .expect("config json");
    for blob in [&config, &layer] {
        let started = with_auth(http.post(format!("{}/v2/{repo}/blobs/uploads/", registry.base())))
            .send()
            .await
            .expect("start upload");
        assert_eq!(started.status(), 202, "start upload");
        let location = started.headers()["location"]
            .to_str()
            .expect("location")
            .to_owned();
        let separator = if location.contains('?') { '&' } else { '?' };
        let put = with_auth(http.put(format!("{location}{separator}digest={}", sha256(blob))))
            .header("Content-Type", "application/octet-stream")
            .body(blob.clone())
            .send()
            .await
            .expect("upload blob");
        assert_eq!(put.status(), 201, "upload blob");
    }
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": format.manifest_type(),
        "config": {"mediaType": config_type, "digest": sha256(&config), "size": config.len()},
        "layers": [{"mediaType": layer_type, "digest": sha256(&layer), "size": layer.len()}],
    }))
    .expect("manifest json");
    let put = with_auth(http.put(format!("{}/v2/{repo}/manifests/{tag}", registry.base())))
        .header("Content-Type", format.manifest_type())
        .body(manifest.clone())
        .send()
        .await
        .expect("put manifest");
    assert_eq!(put.status(), 201, "put manifest");
    let digest = put.headers()["docker-content-digest"]
        .to_str()
        .expect("digest")
        .to_owned();
    assert_eq!(
        digest,
        sha256(&manifest),
        "the registry's digest is the hash of the manifest sent"
    );
    digest
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}
