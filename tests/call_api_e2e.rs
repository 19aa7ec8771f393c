//! Client to API, end to end over real HTTP on 127.0.0.1: the emulator issues tokens to
//! `entra-client` (client secret; certificate from PEM and from .pfx, assertions signed RS256 and
//! PS256), a protected API (`EntraAuthLayer`, `/admin` behind `Require::any_role`) validates them,
//! and the API sees the right calling app (`azp`) and app roles.

use std::time::Duration;

use axum::routing::get;
use axum::{Json, Router};
use entra_auth::{Claims, EntraAuthLayer, EntraConfig, Require};
use entra_client::{
    AssertionAlgorithm, ClientCertificate, ClientCredentials, ClientSecret, RequestBuilderExt,
};
use entra_emulator::{
    App, DEV_API_CLIENT_ID, DEV_CLIENT_ID, DEV_CLIENT_SECRET, DEV_TENANT_ID, Emulator,
};
use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};
use serde_json::{Value, json};

/// A certificate-authenticated app assigned `Api.Admin` on the dev API.
const ADMIN_APP: &str = "a7d0c3e1-2b4f-4a6c-8e1d-3f5b7c9e0a12";
/// A certificate-authenticated app assigned only `Files.Read.All`.
const READER_APP: &str = "d4e5f6a7-b8c9-4d0e-9f1a-2b3c4d5e6f70";

/// The emulator and the protected API, both on 127.0.0.1 with free ports.
struct Setup {
    emulator: Emulator,
    api: String,
    http: reqwest::Client,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Setup {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn router(auth: EntraAuthLayer) -> Router {
    async fn me(claims: Claims) -> Json<Value> {
        Json(json!({
            "tid": claims.tenant_id(),
            "oid": claims.object_id(),
            "app_id": claims.app_id(),
            "app_auth": claims.app_auth_method(),
            "roles": claims.roles(),
            "app_only": claims.is_app_only(),
        }))
    }
    async fn admin(claims: Claims) -> Json<Value> {
        Json(json!({ "admin": true, "app_id": claims.app_id() }))
    }
    Router::new()
        .route("/me", get(me))
        .route(
            "/admin",
            get(admin).route_layer(Require::any_role(["Api.Admin"])),
        )
        .layer(auth)
}

async fn setup() -> Setup {
    let emulator = Emulator::start().await.expect("emulator");
    let config = EntraConfig::builder()
        .tenant(DEV_TENANT_ID)
        .client_id(DEV_API_CLIENT_ID)
        .authority(emulator.base_url())
        .build()
        .expect("config");
    let auth = EntraAuthLayer::new(config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let api = format!("http://{}", listener.local_addr().expect("addr"));
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router(auth)).await;
    });
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    Setup {
        emulator,
        api,
        http,
        server,
    }
}

fn scope() -> String {
    format!("api://{DEV_API_CLIENT_ID}/.default")
}

impl Setup {
    /// `GET {api}{path}` with a token from `credentials`: status, `WWW-Authenticate`, JSON body.
    async fn get(
        &self,
        path: &str,
        credentials: &ClientCredentials,
    ) -> (u16, Option<String>, Value) {
        let request = self
            .http
            .get(format!("{}{path}", self.api))
            .with_entra_token(credentials, &scope())
            .await
            .expect("a token");
        let response = request.send().await.expect("API answers");
        let status = response.status().as_u16();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        (status, challenge, response.json().await.expect("JSON"))
    }

    fn credentials(&self, client_id: &str) -> entra_client::ClientCredentialsBuilder {
        ClientCredentials::builder(DEV_TENANT_ID, client_id).authority(self.emulator.base_url())
    }
}

/// An RSA key and a self-signed certificate for it, as PEM and PKCS#12.
struct TestCert {
    key: rcgen::KeyPair,
    cert: rcgen::Certificate,
}

impl TestCert {
    fn new(name: &str) -> Self {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("RSA key");
        let cert = rcgen::CertificateParams::new(vec![name.to_owned()])
            .expect("params")
            .self_signed(&key)
            .expect("certificate");
        TestCert { key, cert }
    }

    fn pem_credential(&self) -> ClientCertificate {
        ClientCertificate::from_pem(self.key.serialize_pem(), self.cert.pem()).expect("PEM")
    }

    fn pfx_credential(&self, password: &str) -> ClientCertificate {
        let key = PrivateKey::from_der(self.key.serialized_der()).expect("PKCS#8");
        let cert = Certificate::from_der(self.cert.der()).expect("X.509");
        let chain = PrivateKeyChain::new(b"01".as_slice(), key, [cert]);
        let mut store = KeyStore::new();
        store.add_entry("call-api-e2e", KeyStoreEntry::PrivateKeyChain(chain));
        let pfx = store.writer(password).write().expect("write PKCS#12");
        ClientCertificate::from_pkcs12(&pfx, password).expect("PKCS#12")
    }
}

#[tokio::test]
async fn client_secret_reaches_me_and_admin() {
    let s = setup().await;
    let creds = s
        .credentials(DEV_CLIENT_ID)
        .client_secret(ClientSecret::new(DEV_CLIENT_SECRET))
        .build()
        .unwrap();

    let (status, _, me) = s.get("/me", &creds).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["app_id"], DEV_CLIENT_ID);
    assert_eq!(me["app_auth"], "1");
    assert_eq!(me["tid"], DEV_TENANT_ID);
    assert_eq!(
        me["oid"],
        s.emulator
            .service_principal_id(DEV_TENANT_ID, DEV_CLIENT_ID)
    );
    assert_eq!(me["roles"], json!(["Api.Admin", "Files.Read.All"]));
    assert_eq!(me["app_only"], true);

    let (status, _, admin) = s.get("/admin", &creds).await;
    assert_eq!(status, 200, "{admin}");
    assert_eq!(admin["app_id"], DEV_CLIENT_ID);

    // Without a token: 401 with a bare challenge.
    let response = s.http.get(format!("{}/me", s.api)).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");

    // The token was requested once and then reused from the cache.
    assert_eq!(s.emulator.request_count(entra_emulator::Endpoint::Token), 1);
}

#[tokio::test]
async fn certificates_pem_and_pfx_rs256_and_ps256() {
    let s = setup().await;
    let cert = TestCert::new("admin-app.call-api.test");
    s.emulator.register_app(
        DEV_TENANT_ID,
        App::new(ADMIN_APP)
            .display_name("call_api e2e admin app")
            .certificate_pem(&cert.cert.pem()),
    );
    s.emulator
        .assign_app_role(DEV_TENANT_ID, ADMIN_APP, DEV_API_CLIENT_ID, "Api.Admin");

    let cases = [
        ("PEM", cert.pem_credential(), AssertionAlgorithm::Rs256),
        ("PEM", cert.pem_credential(), AssertionAlgorithm::Ps256),
        (
            "PFX",
            cert.pfx_credential("Pfx-Pa55!"),
            AssertionAlgorithm::Rs256,
        ),
        (
            "PFX",
            cert.pfx_credential("Pfx-Pa55!"),
            AssertionAlgorithm::Ps256,
        ),
    ];
    for (source, certificate, algorithm) in cases {
        let what = format!("{source} {algorithm:?}");
        let creds = s
            .credentials(ADMIN_APP)
            .certificate(certificate)
            .signing(algorithm)
            .build()
            .unwrap();
        let (status, _, me) = s.get("/me", &creds).await;
        assert_eq!(status, 200, "{what}: {me}");
        assert_eq!(me["app_id"], ADMIN_APP, "{what}");
        assert_eq!(me["app_auth"], "2", "{what}: certificate authentication");
        assert_eq!(me["roles"], json!(["Api.Admin"]), "{what}");
        assert_eq!(
            me["oid"],
            s.emulator.service_principal_id(DEV_TENANT_ID, ADMIN_APP),
            "{what}"
        );
        let (status, _, admin) = s.get("/admin", &creds).await;
        assert_eq!(status, 200, "{what}: {admin}");
        assert_eq!(admin["app_id"], ADMIN_APP, "{what}");
    }
}

#[tokio::test]
async fn an_app_without_the_role_gets_403_on_admin() {
    let s = setup().await;
    let cert = TestCert::new("reader-app.call-api.test");
    s.emulator.register_app(
        DEV_TENANT_ID,
        App::new(READER_APP).certificate_der(cert.cert.der()),
    );
    s.emulator.assign_app_role(
        DEV_TENANT_ID,
        READER_APP,
        DEV_API_CLIENT_ID,
        "Files.Read.All",
    );
    let creds = s
        .credentials(READER_APP)
        .certificate(cert.pem_credential())
        .build()
        .unwrap();

    let (status, _, me) = s.get("/me", &creds).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["app_id"], READER_APP);
    assert_eq!(me["roles"], json!(["Files.Read.All"]));

    let (status, challenge, body) = s.get("/admin", &creds).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "insufficient_scope");
    let challenge = challenge.expect("WWW-Authenticate");
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    assert!(challenge.contains("Api.Admin"), "{challenge}");
}

#[tokio::test]
async fn an_unregistered_certificate_gets_no_token() {
    let s = setup().await;
    let registered = TestCert::new("registered.call-api.test");
    let other = TestCert::new("other.call-api.test");
    s.emulator.register_app(
        DEV_TENANT_ID,
        App::new(ADMIN_APP).certificate_pem(&registered.cert.pem()),
    );
    let creds = s
        .credentials(ADMIN_APP)
        .certificate(other.pem_credential())
        .build()
        .unwrap();
    let e = creds.token(&scope()).await.unwrap_err();
    assert_eq!(e.aadsts_code(), Some(700027), "{e}");
}
