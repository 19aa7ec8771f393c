//! Shared harness: an emulator, a protected API on 127.0.0.1, and an HTTP client.
#![allow(dead_code)]

use std::time::Duration;

use axum::routing::get;
use axum::{Json, Router};
use entra_auth::{Claims, EntraAuthLayer, EntraConfig, EntraConfigBuilder, ManualClock, Require};
use entra_emulator::{DEV_API_CLIENT_ID, DEV_TENANT_ID, Emulator};
use serde_json::{Value, json};

pub(crate) struct Api {
    pub base: String,
    pub layer: EntraAuthLayer,
    pub clock: ManualClock,
    pub http: reqwest::Client,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Api {
    fn drop(&mut self) {
        self.server.abort();
    }
}

pub(crate) struct Reply {
    pub status: u16,
    pub www_authenticate: Option<String>,
    pub retry_after: Option<String>,
    pub body: Value,
}

impl Reply {
    pub(crate) fn error_description(&self) -> &str {
        self.body["error_description"].as_str().unwrap_or("")
    }
}

impl Api {
    pub(crate) async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        self.send(req).await
    }

    pub(crate) async fn send(&self, req: reqwest::RequestBuilder) -> Reply {
        let res = req.send().await.expect("request to the test API");
        let header = |name: &str| {
            res.headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        let www_authenticate = header("www-authenticate");
        let retry_after = header("retry-after");
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply {
            status,
            www_authenticate,
            retry_after,
            body,
        }
    }

    /// Sends `n` requests at once and returns their statuses.
    pub(crate) async fn concurrent_statuses(&self, path: &str, token: &str, n: usize) -> Vec<u16> {
        let tasks: Vec<_> = (0..n)
            .map(|_| {
                let request = self
                    .http
                    .get(format!("{}{path}", self.base))
                    .bearer_auth(token);
                tokio::spawn(async move { request.send().await.unwrap().status().as_u16() })
            })
            .collect();
        let mut statuses = Vec::with_capacity(n);
        for task in tasks {
            statuses.push(task.await.unwrap());
        }
        statuses
    }

    pub(crate) fn key_fetches(&self) -> u64 {
        self.layer.authenticator().stats().key_set_fetches
    }
}

pub(crate) fn dev_config(emu: &Emulator, clock: &ManualClock) -> EntraConfigBuilder {
    EntraConfig::builder()
        .tenant(DEV_TENANT_ID)
        .client_id(DEV_API_CLIENT_ID)
        .authority(emu.base_url())
        .clock(clock.clone())
}

async fn me(claims: Claims) -> Json<Value> {
    Json(json!({
        "kind": claims.token_kind().as_str(),
        "ver": claims.version().map(|v| v.as_str()),
        "tid": claims.tenant_id(),
        "oid": claims.object_id(),
        "app_id": claims.app_id(),
        "scp": claims.scopes(),
        "roles": claims.roles(),
        "name": claims.name(),
    }))
}

async fn maybe(claims: Option<Claims>) -> Json<Value> {
    Json(
        json!({ "anonymous": claims.is_none(), "app_id": claims.as_ref().and_then(|c| c.app_id().map(str::to_owned)) }),
    )
}

async fn raw_token(token: entra_auth::BearerToken) -> Json<Value> {
    Json(json!({ "token": token.as_str(), "debug": format!("{token:?}") }))
}

pub(crate) fn router(layer: EntraAuthLayer) -> Router {
    Router::new()
        .route("/token", get(raw_token))
        .route("/me", get(me))
        .route("/maybe", get(maybe))
        .route(
            "/admin",
            get(me).route_layer(Require::any_role(["Api.Admin"])),
        )
        .route(
            "/files",
            get(me).route_layer(Require::any_scope(["Files.Read"]).or_roles(["Files.Read.All"])),
        )
        .route(
            "/only-dev-client",
            get(me).route_layer(Require::calling_apps([entra_emulator::DEV_CLIENT_ID])),
        )
        .layer(layer)
}

pub(crate) async fn serve(layer: EntraAuthLayer, clock: ManualClock) -> Api {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = router(layer.clone());
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    Api {
        base,
        layer,
        clock,
        http,
        server,
    }
}

/// An emulator and an API configured against it with the default settings.
pub(crate) async fn setup() -> (Emulator, Api) {
    let emu = Emulator::start().await.expect("emulator starts");
    let clock = ManualClock::starting_now();
    let config = dev_config(&emu, &clock).build().unwrap();
    let api = serve(EntraAuthLayer::new(config), clock).await;
    (emu, api)
}

/// A `401 invalid_token` over HTTP answered as `reason` is answered, and `reason` itself from
/// the authenticator (callers see the public description; an unknown key and a tenant that is
/// not allowed look like a bad signature, so the precise reason is checked directly).
pub(crate) async fn assert_rejected_for(api: &Api, token: &str, reason: entra_auth::InvalidToken) {
    let reply = api.get("/me", Some(token)).await;
    assert_invalid(&reply, reason.public_description());
    let direct = api.layer.authenticator().validate(token).await;
    assert_eq!(
        direct.err(),
        Some(entra_auth::AuthError::InvalidToken(reason)),
        "the precise reason"
    );
}

pub(crate) fn assert_invalid(reply: &Reply, contains: &str) {
    assert_eq!(reply.status, 401, "body: {}", reply.body);
    let challenge = reply.www_authenticate.as_deref().unwrap_or("");
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert_eq!(reply.body["error"], "invalid_token");
    assert!(
        reply.error_description().contains(contains),
        "expected `{contains}` in `{}`",
        reply.error_description()
    );
}

/// A stand-in for Entra's metadata endpoints whose documents a test rewrites at will (to change
/// an issuer, point `jwks_uri` elsewhere, or redirect), over http or https on 127.0.0.1.
pub(crate) struct FakeEntra {
    pub base: String,
    pub docs: std::sync::Arc<std::sync::Mutex<FakeDocs>>,
    /// A client that trusts the https server's certificate (a plain client for http).
    pub client: reqwest::Client,
    server: tokio::task::JoinHandle<()>,
}

/// The documents a [`FakeEntra`] serves: the v2 document at every
/// `.../v2.0/.well-known/openid-configuration` path, the v1 one at
/// `/{tenant}/.well-known/openid-configuration`, the key set at `/keys`, and a redirect to
/// `/keys` at `/moved`.
pub(crate) struct FakeDocs {
    pub v2: Value,
    pub v1: Value,
    pub keys: Value,
}

impl Drop for FakeEntra {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeEntra {
    /// Serves over plain http; `docs` gets the base URL (`http://127.0.0.1:port`).
    pub(crate) async fn start(docs: impl FnOnce(&str) -> FakeDocs) -> FakeEntra {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let docs = std::sync::Arc::new(std::sync::Mutex::new(docs(&base)));
        let app = fake_entra_router(docs.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeEntra {
            base,
            docs,
            client: reqwest::Client::new(),
            server,
        }
    }

    /// Serves over https with a certificate for 127.0.0.1 from a CA of its own, which
    /// [`FakeEntra::client`] trusts (and which follows redirects, as reqwest's default does).
    pub(crate) async fn start_tls(docs: impl FnOnce(&str) -> FakeDocs) -> FakeEntra {
        let (ca_pem, server_config) = test_tls();
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let base = format!("https://{}", std_listener.local_addr().unwrap());
        let docs = std::sync::Arc::new(std::sync::Mutex::new(docs(&base)));
        let app = fake_entra_router(docs.clone());
        let tls = axum_server::tls_rustls::RustlsConfig::from_config(server_config);
        let server = tokio::spawn(async move {
            let _ = axum_server::from_tcp_rustls(std_listener, tls)
                .unwrap()
                .serve(app.into_make_service())
                .await;
        });
        let client = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap()])
            .build()
            .unwrap();
        FakeEntra {
            base,
            docs,
            client,
            server,
        }
    }

    pub(crate) fn update(&self, change: impl FnOnce(&mut FakeDocs)) {
        change(&mut self.docs.lock().unwrap());
    }
}

fn fake_entra_router(docs: std::sync::Arc<std::sync::Mutex<FakeDocs>>) -> Router {
    use axum::extract::State;
    type Docs = State<std::sync::Arc<std::sync::Mutex<FakeDocs>>>;
    let v2 = |State(d): Docs| async move { Json(d.lock().unwrap().v2.clone()) };
    let v1 = |State(d): Docs| async move { Json(d.lock().unwrap().v1.clone()) };
    let keys = |State(d): Docs| async move { Json(d.lock().unwrap().keys.clone()) };
    Router::new()
        .route("/{tenant}/v2.0/.well-known/openid-configuration", get(v2))
        .route("/{a}/{b}/v2.0/.well-known/openid-configuration", get(v2))
        .route("/{tenant}/.well-known/openid-configuration", get(v1))
        .route("/keys", get(keys))
        .route(
            "/moved",
            get(|| async { axum::response::Redirect::temporary("/keys") }),
        )
        .with_state(docs)
}

/// A CA and a server certificate for 127.0.0.1 it signed: (CA PEM, server config).
fn test_tls() -> (String, std::sync::Arc<rustls::ServerConfig>) {
    let now = time::OffsetDateTime::now_utc();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::default();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.not_before = now - time::Duration::days(1);
    ca_params.not_after = now + time::Duration::days(1);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let mut leaf_params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    leaf_params.not_before = now - time::Duration::days(1);
    leaf_params.not_after = now + time::Duration::days(1);
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
        )
        .unwrap();
    (ca_cert.pem(), std::sync::Arc::new(config))
}
