//! PKCS#12 (.pfx) loading with files written at test time, AES and legacy encryption.

use crate::common::TestCert;
use entra_client::{ClientCertificate, Error};
use p12_keystore::{EncryptionAlgorithm, MacAlgorithm};

#[test]
fn loads_aes_and_legacy_pfx() {
    let cert = TestCert::new("pfx.test");
    let from_pem = ClientCertificate::from_pem(cert.key_pem(), cert.cert_pem()).unwrap();
    for (algorithm, mac) in [
        (
            EncryptionAlgorithm::PbeWithHmacSha256AndAes256,
            MacAlgorithm::HmacSha256,
        ),
        (
            EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc,
            MacAlgorithm::HmacSha1,
        ),
        (
            EncryptionAlgorithm::PbeWithShaAnd40BitRc4Cbc,
            MacAlgorithm::HmacSha1,
        ),
    ] {
        let pfx = cert.pkcs12("P@ssw0rd!", algorithm, mac);
        let loaded = ClientCertificate::from_pkcs12(&pfx, "P@ssw0rd!")
            .unwrap_or_else(|e| panic!("{algorithm:?}: {e}"));
        assert_eq!(loaded.certificate_der(), cert.cert_der(), "{algorithm:?}");
        assert_eq!(loaded.thumbprint_sha1(), from_pem.thumbprint_sha1());
        assert_eq!(loaded.x5t(), from_pem.x5t());
        assert_eq!(loaded.x5t_s256(), from_pem.x5t_s256());
    }
}

#[test]
fn wrong_password_is_a_clear_error() {
    let cert = TestCert::new("pfx-pw.test");
    for algorithm in [
        EncryptionAlgorithm::PbeWithHmacSha256AndAes256,
        EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc,
    ] {
        let pfx = cert.pkcs12("right", algorithm, MacAlgorithm::HmacSha256);
        let e = ClientCertificate::from_pkcs12(&pfx, "wrong").unwrap_err();
        assert!(matches!(e, Error::Pkcs12(_)), "{e:?}");
        assert!(e.to_string().contains("wrong password"), "{e}");
        assert!(!e.to_string().contains("right"), "{e}");
    }
}

#[test]
fn not_a_pfx() {
    let cert = TestCert::new("pem.test");
    let e = ClientCertificate::from_pkcs12(cert.cert_pem().as_bytes(), "pw").unwrap_err();
    assert!(matches!(e, Error::Pkcs12(_)), "{e:?}");
}
