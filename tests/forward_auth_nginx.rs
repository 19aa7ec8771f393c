//! `entra forward-auth` behind a real nginx, configured with the README's nginx block (read from
//! README.md, its addresses replaced), in front of a plain upstream on 127.0.0.1 that echoes the
//! identity headers it receives. The `entra` binary is the one `cargo build -p entra-cli`
//! builds (`cargo test --workspace` builds it too); the emulator runs in this process.
//!
//! Cases: no token and a bad token (401 with the challenge reaching the client), a good token
//! with the required role (200; the upstream saw X-Entra-Oid etc. and not the client's forged
//! ones), without it (403 with the challenge), an anonymous path, an ambiguous path (400),
//! Entra down (a fresh forward-auth whose discovery and key requests fail: 503 with Retry-After
//! reaching the client), and forward-auth itself unreachable (503).
//!
//! Skipped (with a message) when nginx is missing, unless `CI=true`: then it fails.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use axum::Json;
use axum::http::HeaderMap;
use entra_emulator::{DEV_API_CLIENT_ID, DEV_CLIENT_ID, DEV_TENANT_ID, Emulator, Endpoint, Fault};
use serde_json::{Value, json};

const RULES: &str = r#"
[[rule]]
path = "/admin"
roles = ["Api.Admin"]

[[rule]]
path = "/public"
anonymous = true
"#;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// nginx: `ENTRA_TEST_NGINX`, else `nginx` on the PATH or in /usr/sbin. Missing: skipped, or a
/// failure under CI.
fn nginx() -> Option<PathBuf> {
    let found = match std::env::var_os("ENTRA_TEST_NGINX") {
        Some(path) => Some(PathBuf::from(path)),
        None => std::env::var_os("PATH")
            .into_iter()
            .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
            .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
            .map(|dir| dir.join("nginx"))
            .find(|p| p.is_file()),
    };
    match found {
        Some(path) if path.is_file() => Some(path),
        _ => {
            let what = "no nginx (set ENTRA_TEST_NGINX to use another)";
            let enable = "Install Debian's nginx: `apt-get install -y nginx` (.ci/run does it when it is missing).";
            if in_ci() {
                panic!("{what} (CI=true: the nginx test must run). {enable}");
            }
            let _ = writeln!(std::io::stderr(), "SKIPPED: {what}. {enable}");
            None
        }
    }
}

/// The newest modification time of the files under `dir`.
fn newest(dir: &Path) -> SystemTime {
    let mut latest = SystemTime::UNIX_EPOCH;
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let time = if path.is_dir() {
            newest(&path)
        } else {
            entry.metadata().and_then(|m| m.modified()).unwrap()
        };
        latest = latest.max(time);
    }
    latest
}

/// The built `entra` binary, refused when missing or older than the sources it is built from
/// (it would test old code), with the command that builds it.
fn entra_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let path = dir.join(format!("entra{}", std::env::consts::EXE_SUFFIX));
    let built = std::fs::metadata(&path).and_then(|m| m.modified());
    let sources = ["entra-cli", "entra-auth", "entra-emulator", "entra-core"]
        .map(|c| newest(&root().join("crates").join(c).join("src")))
        .into_iter()
        .max()
        .unwrap();
    assert!(
        built.is_ok_and(|built| built >= sources),
        "{} is not built or older than its sources; run `cargo build -p entra-cli` (or `cargo \
         test --workspace`)",
        path.display()
    );
    path
}

/// A process killed and reaped on drop.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A directory removed at drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "entra-forward-auth-nginx-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A free port on 127.0.0.1 (bound, then released for nginx to take).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// `entra forward-auth` against the emulator; returns the process and the URL it printed.
fn forward_auth(emu: &Emulator, dir: &TempDir, name: &str) -> (Running, String) {
    let rules = dir.0.join("rules.toml");
    std::fs::write(&rules, RULES).unwrap();
    let log = std::fs::File::create(dir.0.join(format!("{name}.log"))).unwrap();
    let mut cmd = Command::new(entra_binary());
    cmd.args(["forward-auth", "--bind", "127.0.0.1:0", "--rules"])
        .arg(&rules)
        .args(["--tenant", DEV_TENANT_ID, "--client-id", DEV_API_CLIENT_ID])
        .args(["--authority", &emu.base_url()])
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("ENTRA_") {
            cmd.env_remove(key);
        }
    }
    let mut child = Running(cmd.spawn().expect("run entra forward-auth"));
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(url) = line.strip_prefix("forward-auth listening on ") {
                let _ = tx.send(url.to_owned());
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| {
            panic!(
                "{name}: entra forward-auth printed no URL; see its log in {}",
                dir.0.display()
            )
        });
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    (child, url)
}

/// The README's nginx block.
fn readme_nginx_block() -> String {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let section = readme
        .split("## Protect any service with nginx, Traefik or Envoy")
        .nth(1)
        .expect("the README's forward-auth section");
    let block = section
        .split("```nginx\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("an nginx block in the README's forward-auth section");
    block.to_owned()
}

/// nginx with the README's block (its addresses replaced), in a directory of its own; returns
/// the process and its URL once it accepts connections.
fn start_nginx(nginx: &Path, dir: &TempDir, auth: &str, upstream: &str) -> (Running, String) {
    let port = free_port();
    let block = readme_nginx_block();
    for placeholder in [
        "listen 127.0.0.1:8000;",
        "http://127.0.0.1:9090",
        "http://127.0.0.1:3000",
    ] {
        assert!(
            block.contains(placeholder),
            "README nginx block: {placeholder}"
        );
    }
    let block = block
        .replace(
            "listen 127.0.0.1:8000;",
            &format!("listen 127.0.0.1:{port};"),
        )
        .replace("http://127.0.0.1:9090", auth)
        .replace("http://127.0.0.1:3000", upstream);
    let d = dir.0.display();
    let conf = format!(
        "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log info;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n  access_log {d}/access.log;\n  client_body_temp_path {d}/body;\n  \
         proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  \
         scgi_temp_path {d}/scgi;\n{block}\n}}\n"
    );
    let conf_path = dir.0.join("nginx.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let child = Command::new(nginx)
        .arg("-p")
        .arg(&dir.0)
        .arg("-e")
        .arg(dir.0.join("error.log"))
        .arg("-c")
        .arg(&conf_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run nginx");
    let mut running = Running(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        if let Ok(Some(status)) = running.0.try_wait() {
            let log = std::fs::read_to_string(dir.0.join("error.log")).unwrap_or_default();
            panic!("nginx exited ({status}):\n{log}");
        }
        assert!(Instant::now() < deadline, "nginx did not listen on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
    (running, format!("http://127.0.0.1:{port}"))
}

/// The upstream: echoes the X-Entra-* headers it received (absent: null) and counts requests.
async fn upstream() -> (String, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    let app = axum::Router::new().fallback(move |headers: HeaderMap| {
        let seen = Arc::clone(&seen);
        async move {
            seen.fetch_add(1, Ordering::SeqCst);
            let get = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_owned());
            Json(json!({
                "oid": get("x-entra-oid"),
                "tid": get("x-entra-tid"),
                "app_id": get("x-entra-app-id"),
                "scopes": get("x-entra-scopes"),
                "roles": get("x-entra-roles"),
            }))
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (base, count)
}

struct Reply {
    status: u16,
    challenges: Vec<String>,
    retry_after: Option<String>,
    body: String,
}

async fn get(http: &reqwest::Client, url: &str, headers: &[(&str, &str)]) -> Reply {
    let mut req = http.get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.expect("request to nginx");
    let challenges = res
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let retry_after = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    Reply {
        status: res.status().as_u16(),
        challenges,
        retry_after,
        body: res.text().await.unwrap(),
    }
}

/// The status nginx answers to `GET {path}` sent byte for byte.
async fn raw_get(base: &str, path: &str, authorization: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {authorization}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer))
        .await
        .expect("nginx answers")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    let status = answer.split(' ').nth(1).unwrap_or_default();
    status
        .parse()
        .unwrap_or_else(|_| panic!("not an HTTP answer: {answer}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_with_forward_auth_protects_a_plain_upstream() {
    let Some(nginx) = nginx() else { return };
    let emu = Emulator::start().await.expect("start the emulator");
    let (upstream, upstream_requests) = upstream().await;
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();

    let fa_dir = TempDir::new("forward-auth");
    let emu_ref = &emu;
    let (fa, fa_url) = tokio::task::block_in_place(|| forward_auth(emu_ref, &fa_dir, "up"));
    let nginx_dir = TempDir::new("nginx");
    let (_nginx, base) =
        tokio::task::block_in_place(|| start_nginx(&nginx, &nginx_dir, &fa_url, &upstream));

    // No token: 401 with the bare challenge, from forward-auth through nginx.
    let reply = get(&http, &format!("{base}/admin"), &[]).await;
    assert_eq!(reply.status, 401, "{}", reply.body);
    assert_eq!(reply.challenges, ["Bearer"]);

    // A bad token: 401 invalid_token.
    let reply = get(
        &http,
        &format!("{base}/admin"),
        &[("authorization", "Bearer not.a.token")],
    )
    .await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.challenges.len(), 1, "{:?}", reply.challenges);
    assert!(
        reply.challenges[0].starts_with("Bearer error=\"invalid_token\", error_description="),
        "{:?}",
        reply.challenges
    );
    let expired = emu.token().roles(["Api.Admin"]).expired().sign();
    let reply = get(
        &http,
        &format!("{base}/admin"),
        &[("authorization", &format!("Bearer {expired}"))],
    )
    .await;
    assert_eq!(reply.status, 401);
    assert!(
        reply.challenges[0].contains("the token is expired"),
        "{:?}",
        reply.challenges
    );
    assert_eq!(
        upstream_requests.load(Ordering::SeqCst),
        0,
        "nothing reached the upstream"
    );

    // The required role: 200, and the upstream saw the caller's identity, not the forged one.
    let admin = emu.token().roles(["Api.Admin"]);
    let oid = admin.claims()["oid"].as_str().unwrap().to_owned();
    let admin = admin.sign();
    let reply = get(
        &http,
        &format!("{base}/admin/users?page=2"),
        &[
            ("authorization", &format!("Bearer {admin}")),
            ("x-entra-oid", "forged"),
            ("x-entra-scopes", "Everything"),
        ],
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let seen: Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(
        seen,
        json!({
            "oid": oid,
            "tid": DEV_TENANT_ID,
            "app_id": DEV_CLIENT_ID,
            "scopes": null,
            "roles": "Api.Admin",
        })
    );
    assert_eq!(upstream_requests.load(Ordering::SeqCst), 1);

    // A user's token with scopes on a path with no rule: any valid token, scopes passed on.
    let user = emu
        .token()
        .delegated(
            "5b0c9a1e-7f3d-4e2a-8c6b-1d9e0f2a3b4c",
            "Ada",
            "ada@example.test",
        )
        .scopes("Files.Read User.Read")
        .sign();
    let reply = get(
        &http,
        &format!("{base}/orders/7"),
        &[("authorization", &format!("Bearer {user}"))],
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let seen: Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(seen["oid"], "5b0c9a1e-7f3d-4e2a-8c6b-1d9e0f2a3b4c");
    assert_eq!(seen["scopes"], "Files.Read User.Read");
    assert_eq!(seen["roles"], Value::Null);

    // A good token without the role: 403 with the insufficient_scope challenge, exactly once.
    let reader = emu.token().roles(["Files.Read.All"]).sign();
    let reply = get(
        &http,
        &format!("{base}/admin"),
        &[("authorization", &format!("Bearer {reader}"))],
    )
    .await;
    assert_eq!(reply.status, 403);
    assert_eq!(
        reply.challenges,
        [
            "Bearer error=\"insufficient_scope\", error_description=\"this resource requires app role Api.Admin\", scope=\"Api.Admin\""
        ]
    );
    assert_eq!(upstream_requests.load(Ordering::SeqCst), 2);

    // An anonymous path: through without a token, and without the client's forged identity.
    let reply = get(
        &http,
        &format!("{base}/public/index.html"),
        &[("x-entra-oid", "forged")],
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let seen: Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(seen["oid"], Value::Null);
    assert_eq!(upstream_requests.load(Ordering::SeqCst), 3);

    // An ambiguous path (nginx passes $request_uri as the client sent it): forward-auth's 400,
    // which auth_request turns into a 500 and the block's @entra_auth_error back into a 400.
    // (Sent as raw bytes: an HTTP client's URL parser would resolve the dots itself.)
    for path in ["/public/%2e%2e/admin", "/public/..%2Fadmin"] {
        let status = raw_get(&base, path, &format!("Bearer {reader}")).await;
        assert_eq!(status, 400, "{path}");
    }
    let log = std::fs::read_to_string(nginx_dir.0.join("error.log")).unwrap();
    assert_eq!(
        log.matches("auth request unexpected status: 400").count(),
        2,
        "forward-auth answered both (not nginx itself):\n{log}"
    );
    assert_eq!(upstream_requests.load(Ordering::SeqCst), 3);

    // Entra down: a fresh forward-auth (nothing cached) whose discovery and key requests fail,
    // behind a second nginx with the same block: 503 with Retry-After reaching the client.
    emu.set_fault(Endpoint::Discovery, Fault::Status(503));
    emu.set_fault(Endpoint::Keys, Fault::Status(503));
    let down_dir = TempDir::new("forward-auth-down");
    let (_fa_down, fa_down_url) =
        tokio::task::block_in_place(|| forward_auth(emu_ref, &down_dir, "down"));
    let nginx_down_dir = TempDir::new("nginx-down");
    let (_nginx_down, down_base) = tokio::task::block_in_place(|| {
        start_nginx(&nginx, &nginx_down_dir, &fa_down_url, &upstream)
    });
    let reply = get(
        &http,
        &format!("{down_base}/admin"),
        &[("authorization", &format!("Bearer {admin}"))],
    )
    .await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    let retry_after: u64 = reply
        .retry_after
        .as_deref()
        .expect("Retry-After reaches the client")
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert!(reply.challenges.is_empty(), "{:?}", reply.challenges);
    // The first forward-auth still has its keys: the outage does not touch it.
    let reply = get(
        &http,
        &format!("{base}/admin"),
        &[("authorization", &format!("Bearer {admin}"))],
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(upstream_requests.load(Ordering::SeqCst), 4);

    // forward-auth itself unreachable: 503 (no Retry-After to pass on), never the upstream.
    drop(fa);
    let reply = get(
        &http,
        &format!("{base}/admin"),
        &[("authorization", &format!("Bearer {admin}"))],
    )
    .await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert_eq!(reply.retry_after, None);
    assert_eq!(upstream_requests.load(Ordering::SeqCst), 4);
}

/// The README's rules file example is a valid rules file that means what the README says.
#[test]
fn the_readmes_rules_file_parses() {
    use axum::http::Method;
    use entra_auth::Require;
    use entra_auth::forward_auth::RulesFile;

    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let section = readme
        .split("## Protect any service with nginx, Traefik or Envoy")
        .nth(1)
        .unwrap();
    let toml = section
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("a toml block in the README's forward-auth section");
    let file = RulesFile::from_toml(toml).unwrap();
    assert_eq!(file.headers.oid, "x-user-id");
    assert_eq!(file.headers.roles, "x-entra-roles");
    let rules = &file.rules;
    assert_eq!(
        rules
            .find(&Method::DELETE, "/admin/users")
            .unwrap()
            .requirement(),
        Some(&Require::any_role(["Api.Admin"]))
    );
    assert_eq!(
        rules
            .find(&Method::HEAD, "/files/a.pdf")
            .unwrap()
            .requirement(),
        Some(&Require::any_scope(["Files.Read"]).or_roles(["Files.Read.All"]))
    );
    assert!(rules.find(&Method::POST, "/files/a.pdf").is_none());
    assert!(
        rules
            .find(&Method::GET, "/public/x")
            .unwrap()
            .is_anonymous()
    );
    assert!(rules.find(&Method::GET, "/orders").is_none());
}
