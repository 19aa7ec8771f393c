//! entra-client installs jsonwebtoken's crypto provider (aws-lc) before it can sign anything.
//!
//! Without that, a build in which another crate also enables jsonwebtoken's `rust_crypto`
//! feature panics at the first client assertion. The provider is process-wide state, so this
//! file (a test process of its own) holds a single test.

mod common;

use common::TestCert;
use entra_client::{ClientCertificate, ClientCredentials};
use jsonwebtoken::crypto::{CryptoProvider, KeyUtils};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

/// A provider that must never be used. Installing it succeeds only if no provider was
/// installed yet (`install_default` fails once one is, whichever).
static PROBE: CryptoProvider = CryptoProvider {
    signer_factory: |_, _| panic!("probe provider used"),
    verifier_factory: |_, _| panic!("probe provider used"),
    key_utils: KeyUtils::new_unimplemented(),
};

#[test]
fn loading_a_certificate_installs_a_provider_before_any_signature() {
    let cert = TestCert::new("provider.test");
    // Loading the certificate signs nothing, so jsonwebtoken has not chosen a provider by
    // itself yet: only an explicit installation makes the probe's installation fail.
    let certificate = ClientCertificate::from_pem(cert.key_pem(), cert.cert_pem()).unwrap();
    assert!(
        CryptoProvider::install_default(&PROBE).is_err(),
        "entra-client installed a provider when it loaded the certificate"
    );

    // And that provider signs (the probe would panic).
    let creds = ClientCredentials::builder("contoso.onmicrosoft.com", "client")
        .certificate(certificate)
        .build()
        .unwrap();
    let assertion = creds.client_assertion("aud").unwrap();
    let key = DecodingKey::from_rsa_pem(cert.public_key_pem().as_bytes()).unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&["aud"]);
    jsonwebtoken::decode::<serde_json::Value>(assertion.as_str(), &key, &validation)
        .expect("the assertion verifies");
}
