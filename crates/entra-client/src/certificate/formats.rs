//! The key and certificate formats, read by maintained crates: PEM by `pem`, PKCS#8 by `pkcs8`,
//! X.509 by `x509-parser`. This module only adapts their answers: private key bytes into
//! zeroize-on-drop buffers, their errors into this crate's (never quoting the input), and PEM
//! text into what `pem` accepts ([`without_blank_lines`], a copy zeroized on drop).
//!
//! # Copies outside this crate's reach
//!
//! `pem` decodes a block from a copy of its base64 text (whitespace removed) that it drops
//! without zeroizing; when a later block of the same input fails to parse, the blocks it has
//! already decoded are dropped the same way. The decoded bytes it hands back are moved, not
//! copied, into [`Zeroizing`] buffers. `pkcs8` and `x509-parser` borrow their input and copy
//! nothing.

use pkcs8::der::Decode as _;
use pkcs8::{ObjectIdentifier, PrivateKeyInfoRef};
use x509_parser::oid_registry::OID_PKCS1_RSAENCRYPTION;
use zeroize::Zeroizing;

use crate::Error;

/// rsaEncryption, 1.2.840.113549.1.1.1: the algorithm of an RSA key in PKCS#8.
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// A PEM block: its label and its decoded content (DER), which may be a private key.
pub(super) type PemBlock = (String, Zeroizing<Vec<u8>>);

/// The blocks of a PEM file: `(label, DER)`. Text outside blocks is ignored, and so are blank
/// (whitespace-only) lines inside them.
///
/// Refused: input that is not UTF-8, a block without its END line, BEGIN and END labels that
/// differ, content that is not base64, and RFC 1421 headers (`Proc-Type: 4,ENCRYPTED`), which
/// only legacy encrypted keys carry.
pub(super) fn pem_blocks(input: &[u8]) -> Result<Vec<PemBlock>, Error> {
    let text = std::str::from_utf8(input)
        .map_err(|_| Error::Certificate("PEM input is not text".into()))?;
    let text = without_blank_lines(text);
    let parsed = pem::parse_many(text.as_str()).map_err(pem_error)?;
    // `parse_many` stops, without an error, at a BEGIN line that no END line follows.
    if text.matches("-----BEGIN ").count() != parsed.len() {
        return Err(Error::Certificate("PEM block not terminated".into()));
    }
    // Every block's content moves (no copy) into a buffer zeroized on drop before anything is
    // checked, so that no early return leaves a decoded key behind.
    let blocks: Vec<(String, bool, Zeroizing<Vec<u8>>)> = parsed
        .into_iter()
        .map(|block| {
            let label = block.tag().to_owned();
            let has_headers = block.headers().iter().next().is_some();
            (label, has_headers, Zeroizing::new(block.into_contents()))
        })
        .collect();
    if let Some((label, ..)) = blocks.iter().find(|(_, has_headers, _)| *has_headers) {
        return Err(Error::Certificate(format!(
            "PEM block {} is encrypted; decrypt it first or use a PKCS#12 file",
            shown_label(label)
        )));
    }
    Ok(blocks
        .into_iter()
        .map(|(label, _, der)| (label, der))
        .collect())
}

/// The text with its blank (whitespace-only) lines dropped, except the empty line that ends an
/// RFC 1421 header block, and `\n` line ends.
///
/// `pem` reads everything in a block before its first empty line as headers, so a blank line
/// between base64 lines, or just before the END line, would make it refuse the block. A header
/// line is the only one with a `:` (base64 has none), so the blank line after one is kept for
/// `pem` to find the headers and report the key as encrypted.
///
/// The copy holds key material: it is zeroized on drop, and made with room for the whole input
/// up front (it is never longer than the input plus one line end), so that it never reallocates
/// and leaves a stale copy behind.
fn without_blank_lines(text: &str) -> Zeroizing<String> {
    let mut kept = Zeroizing::new(String::with_capacity(text.len() + 1));
    let capacity = kept.capacity();
    let mut after_header = false;
    for line in text.lines() {
        if line.trim().is_empty() {
            if after_header {
                kept.push('\n');
            }
        } else {
            kept.push_str(line);
            kept.push('\n');
        }
        after_header = line.contains(':');
    }
    debug_assert_eq!(kept.capacity(), capacity, "reallocated");
    kept
}

/// `pem`'s error, without the input it may quote (a header line can be a line of a key).
fn pem_error(error: pem::PemError) -> Error {
    use pem::PemError;
    Error::Certificate(
        match error {
            PemError::MismatchedTags(..) => "a PEM block's BEGIN and END labels differ",
            PemError::InvalidData(_) => "a PEM block is not valid base64",
            PemError::NotUtf8(_) => "PEM input is not text",
            PemError::InvalidHeader(_) => "a PEM block has malformed headers",
            _ => "malformed PEM (BEGIN and END lines)",
        }
        .into(),
    )
}

/// A label for a message: as written when it looks like one (`RSA PRIVATE KEY`), else generic.
fn shown_label(label: &str) -> &str {
    let plain = label.len() <= 40
        && label
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b' ');
    if plain { label } else { "(unnamed)" }
}

/// Why a PKCS#8 key could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pkcs8Error {
    /// Not DER PKCS#8.
    Malformed,
    /// A PKCS#8 key of another algorithm (EC, Ed25519, RSA-PSS-only...).
    NotRsa,
}

/// The PKCS#1 `RSAPrivateKey` inside a PKCS#8 `PrivateKeyInfo` of an `rsaEncryption` key, copied
/// into a buffer zeroized on drop.
pub(super) fn pkcs1_from_pkcs8(pkcs8: &[u8]) -> Result<Zeroizing<Vec<u8>>, Pkcs8Error> {
    let info = PrivateKeyInfoRef::from_der(pkcs8).map_err(|_| Pkcs8Error::Malformed)?;
    if info.algorithm.oid != RSA_ENCRYPTION {
        return Err(Pkcs8Error::NotRsa);
    }
    Ok(Zeroizing::new(info.private_key.as_bytes().to_vec()))
}

/// What a DER X.509 certificate says about its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum CertificateKey {
    /// An RSA key: its PKCS#1 `RSAPublicKey` DER.
    Rsa(Vec<u8>),
    /// A key of another algorithm.
    Other,
}

/// The subject public key of `der`, which must be exactly one X.509 certificate.
pub(super) fn certificate_key(der: &[u8]) -> Result<CertificateKey, ()> {
    let (rest, certificate) = x509_parser::parse_x509_certificate(der).map_err(|_| ())?;
    if !rest.is_empty() {
        return Err(());
    }
    let spki = certificate.public_key();
    let bits = &spki.subject_public_key;
    Ok(
        if spki.algorithm.algorithm == OID_PKCS1_RSAENCRYPTION && bits.unused_bits == 0 {
            CertificateKey::Rsa(bits.data.to_vec())
        } else {
            CertificateKey::Other
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_parsing() {
        let pem = "junk\n-----BEGIN A-----\nAAEC\nAw==\n-----END A-----\n\
                   -----BEGIN CERTIFICATE-----\r\nBAU=\r\n-----END CERTIFICATE-----\r\n";
        let blocks: Vec<(String, Vec<u8>)> = pem_blocks(pem.as_bytes())
            .unwrap()
            .into_iter()
            .map(|(label, der)| (label, der.to_vec()))
            .collect();
        assert_eq!(
            blocks,
            vec![
                ("A".to_owned(), vec![0, 1, 2, 3]),
                ("CERTIFICATE".to_owned(), vec![4, 5])
            ]
        );
        assert!(pem_blocks(b"-----BEGIN A-----\nAAEC\n").is_err());
        assert!(pem_blocks(b"-----BEGIN A-----\nAAEC\n-----END B-----\n").is_err());
        assert!(pem_blocks(b"-----BEGIN A-----\n!!!\n-----END A-----\n").is_err());
        let encrypted = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\
                         DEK-Info: AES-128-CBC,00\n\nAAEC\n-----END RSA PRIVATE KEY-----\n";
        let e = pem_blocks(encrypted.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("encrypted"), "{e}");
    }

    #[test]
    fn blank_lines_inside_blocks_are_ignored_but_headers_are_not() {
        let decoded = |pem: &str| -> Vec<(String, Vec<u8>)> {
            pem_blocks(pem.as_bytes())
                .unwrap_or_else(|e| panic!("{pem:?}: {e}"))
                .into_iter()
                .map(|(label, der)| (label, der.to_vec()))
                .collect()
        };
        let expected = vec![("A".to_owned(), vec![0, 1, 2, 3])];
        for pem in [
            "-----BEGIN A-----\nAAEC\nAw==\n\n-----END A-----\n",
            "-----BEGIN A-----\nAAEC\n\nAw==\n-----END A-----\n",
            "-----BEGIN A-----\n\nAAEC\n \t \n\n\nAw==\n  \n-----END A-----",
            "-----BEGIN A-----\r\nAAEC\r\n\r\nAw==\r\n\r\n-----END A-----\r\n",
            "\n\n-----BEGIN A-----\nAAEC\r\n\nAw==\n\r\n-----END A-----\n\n",
        ] {
            assert_eq!(decoded(pem), expected, "{pem:?}");
        }

        // RFC 1421 headers are still found (then refused), blank lines or not around them.
        for pem in [
            "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\
             DEK-Info: AES-128-CBC,00\n\nAAEC\n-----END RSA PRIVATE KEY-----\n",
            "-----BEGIN RSA PRIVATE KEY-----\r\nProc-Type: 4,ENCRYPTED\r\n\
             DEK-Info: AES-128-CBC,00\r\n\r\nAAEC\r\n-----END RSA PRIVATE KEY-----\r\n",
            "-----BEGIN RSA PRIVATE KEY-----\n\nProc-Type: 4,ENCRYPTED\n\
             DEK-Info: AES-128-CBC,00\n \n\nAAEC\n\nAw==\n\n-----END RSA PRIVATE KEY-----\n",
        ] {
            let e = pem_blocks(pem.as_bytes()).unwrap_err();
            assert!(e.to_string().contains("encrypted"), "{pem:?}: {e}");
        }
        // Still refused: a header line without the empty line that ends the headers.
        assert!(
            pem_blocks(b"-----BEGIN A-----\nk: v\nAAEC\n-----END A-----\n").is_err(),
            "a header line is not base64"
        );
    }

    #[test]
    fn pem_errors_never_quote_the_input() {
        // A line of a key before a header line: `pem` reads it as a (malformed) header, and
        // its error quotes it.
        let secret_line = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7";
        for input in [
            format!(
                "-----BEGIN PRIVATE KEY-----\n{secret_line}\nk: v\n\nAAEC\n-----END PRIVATE KEY-----\n"
            ),
            format!("-----BEGIN PRIVATE KEY-----\n{secret_line}!\n-----END PRIVATE KEY-----\n"),
            format!("-----BEGIN {secret_line}-----\nAAEC\n-----END PRIVATE KEY-----\n"),
            format!("-----BEGIN {secret_line}-----\nk: v\n\nAAEC\n-----END {secret_line}-----\n"),
        ] {
            let e = pem_blocks(input.as_bytes()).unwrap_err().to_string();
            assert!(!e.contains(secret_line), "{e}");
        }
        assert!(pem_blocks(b"\xff\xfe").is_err());
        assert!(pem_blocks(b"no blocks at all").unwrap().is_empty());
    }

    #[test]
    fn pkcs8_rejects_other_algorithms_and_garbage() {
        // PrivateKeyInfo with the EC public key OID 1.2.840.10045.2.1
        let ec = [
            0x30, 0x13, 0x02, 0x01, 0x00, 0x30, 0x09, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d,
            0x02, 0x01, 0x04, 0x03, 0x01, 0x02, 0x03,
        ];
        assert_eq!(pkcs1_from_pkcs8(&ec), Err(Pkcs8Error::NotRsa));
        assert_eq!(pkcs1_from_pkcs8(b"nonsense"), Err(Pkcs8Error::Malformed));
        assert_eq!(pkcs1_from_pkcs8(&[]), Err(Pkcs8Error::Malformed));
    }

    #[test]
    fn certificate_keys() {
        let rsa = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
        let cert = rcgen::CertificateParams::new(vec!["formats.test".to_owned()])
            .unwrap()
            .self_signed(&rsa)
            .unwrap();
        let public = aws_lc_rs::signature::KeyPair::public_key(
            &aws_lc_rs::signature::RsaKeyPair::from_pkcs8(rsa.serialized_der()).unwrap(),
        )
        .as_ref()
        .to_vec();
        assert_eq!(certificate_key(cert.der()), Ok(CertificateKey::Rsa(public)));

        let ec = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let ec_cert = rcgen::CertificateParams::new(vec!["ec.test".to_owned()])
            .unwrap()
            .self_signed(&ec)
            .unwrap();
        assert_eq!(certificate_key(ec_cert.der()), Ok(CertificateKey::Other));

        let mut trailing = cert.der().to_vec();
        trailing.push(0);
        assert_eq!(certificate_key(&trailing), Err(()));
        assert_eq!(certificate_key(b"\x30\x00"), Err(()));
        assert_eq!(certificate_key(&[]), Err(()));
    }
}
