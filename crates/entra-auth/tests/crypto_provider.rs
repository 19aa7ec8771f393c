//! Validation does not depend on jsonwebtoken's process-wide crypto provider. A build in which
//! another crate enables jsonwebtoken's `rust_crypto` feature too, or installs a provider of its
//! own first, used to make every verification panic (the connection dropped, no 401). Here a
//! provider whose verifier panics is installed before anything else runs (its own test binary:
//! the provider is process-wide), and validation answers 200 and 401 as usual.

#[path = "auth/common.rs"]
mod common;

use jsonwebtoken::crypto::{CryptoProvider, aws_lc};

#[tokio::test]
async fn validation_never_uses_jsonwebtokens_global_provider() {
    let aws = &aws_lc::DEFAULT_PROVIDER;
    let provider: &'static CryptoProvider = Box::leak(Box::new(CryptoProvider {
        // The emulator signs test tokens through jsonwebtoken: signing keeps working.
        signer_factory: aws.signer_factory,
        verifier_factory: |_, _| panic!("entra-auth verified through jsonwebtoken's provider"),
        key_utils: aws.key_utils.clone(),
    }));
    provider
        .install_default()
        .expect("the first provider installed in this process");

    let (emu, api) = common::setup().await;
    let r = api.get("/me", Some(&emu.token().sign())).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let other_key = entra_emulator::SigningKey::generate().unwrap();
    let forged = emu
        .token()
        .signed_with(&other_key)
        .kid(emu.active_key().kid())
        .sign();
    common::assert_invalid(&api.get("/me", Some(&forged)).await, "signature is invalid");
}
