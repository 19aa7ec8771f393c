//! Test helpers shared by the `client` test binary and `crypto_provider`: certificates made at
//! test time, PKCS#12 files, a scripted fake server. Tests move time with
//! `entra_client::ManualClock`.
#![allow(dead_code)]

pub(crate) mod fake;

use p12_keystore::{
    Certificate, EncryptionAlgorithm, KeyStore, KeyStoreEntry, MacAlgorithm, PrivateKey,
    PrivateKeyChain,
};

/// An RSA key and a self-signed certificate for it.
pub(crate) struct TestCert {
    pub key: rcgen::KeyPair,
    pub cert: rcgen::Certificate,
}

impl TestCert {
    pub(crate) fn new(name: &str) -> Self {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("RSA key");
        let cert = rcgen::CertificateParams::new(vec![name.to_owned()])
            .expect("params")
            .self_signed(&key)
            .expect("certificate");
        TestCert { key, cert }
    }

    pub(crate) fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }

    pub(crate) fn cert_pem(&self) -> String {
        self.cert.pem()
    }

    pub(crate) fn cert_der(&self) -> &[u8] {
        self.cert.der()
    }

    /// The public key as SPKI PEM, for an independent signature check.
    pub(crate) fn public_key_pem(&self) -> String {
        self.key.public_key_pem()
    }

    /// A PKCS#12 file with the key and certificate, encrypted with `algorithm`.
    pub(crate) fn pkcs12(
        &self,
        password: &str,
        algorithm: EncryptionAlgorithm,
        mac: MacAlgorithm,
    ) -> Vec<u8> {
        let key = PrivateKey::from_der(self.key.serialized_der()).expect("PKCS#8");
        let cert = Certificate::from_der(self.cert.der()).expect("X.509");
        let chain = PrivateKeyChain::new(b"01".as_slice(), key, [cert]);
        let mut store = KeyStore::new();
        store.add_entry("entra-client-test", KeyStoreEntry::PrivateKeyChain(chain));
        store
            .writer(password)
            .encryption_algorithm(algorithm)
            .encryption_iterations(2048)
            .mac_algorithm(mac)
            .mac_iterations(2048)
            .write()
            .expect("write PKCS#12")
    }
}
