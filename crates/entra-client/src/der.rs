//! A minimal DER reader: just enough to take apart PKCS#8 private keys and X.509 certificates.
//!
//! This is not a general ASN.1 parser. It reads definite-length tag-length-value triples and
//! rejects anything it does not understand.

/// ASN.1 tags used here.
pub(crate) const TAG_INTEGER: u8 = 0x02;
pub(crate) const TAG_BIT_STRING: u8 = 0x03;
pub(crate) const TAG_OCTET_STRING: u8 = 0x04;
pub(crate) const TAG_OID: u8 = 0x06;
pub(crate) const TAG_SEQUENCE: u8 = 0x30;
/// `[0]` EXPLICIT, constructed (the X.509 version field).
pub(crate) const TAG_CONTEXT_0: u8 = 0xa0;

/// The DER encoding (content only) of OID 1.2.840.113549.1.1.1 (rsaEncryption).
pub(crate) const OID_RSA_ENCRYPTION: &[u8] =
    &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

/// A malformed or unexpected DER structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DerError;

/// Reads one TLV from the front of `input`: `(tag, content, rest)`.
pub(crate) fn read_tlv(input: &[u8]) -> Result<(u8, &[u8], &[u8]), DerError> {
    let (&tag, rest) = input.split_first().ok_or(DerError)?;
    if tag & 0x1f == 0x1f {
        // High tag numbers are not used by the structures we read.
        return Err(DerError);
    }
    let (&first, mut rest) = rest.split_first().ok_or(DerError)?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return Err(DerError);
        }
        let mut len = 0usize;
        for &b in &rest[..n] {
            len = (len << 8) | usize::from(b);
        }
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return Err(DerError);
    }
    let (content, rest) = rest.split_at(len);
    Ok((tag, content, rest))
}

/// Reads one TLV and checks its tag: `(content, rest)`.
pub(crate) fn expect(input: &[u8], tag: u8) -> Result<(&[u8], &[u8]), DerError> {
    let (t, content, rest) = read_tlv(input)?;
    if t == tag {
        Ok((content, rest))
    } else {
        Err(DerError)
    }
}

/// The PKCS#1 `RSAPrivateKey` inside a PKCS#8 `PrivateKeyInfo` for an `rsaEncryption` key.
pub(crate) fn pkcs8_rsa_to_pkcs1(pkcs8: &[u8]) -> Result<&[u8], Pkcs8Error> {
    let inner = (|| {
        let (info, _) = expect(pkcs8, TAG_SEQUENCE)?;
        let (_version, rest) = expect(info, TAG_INTEGER)?;
        let (alg, rest) = expect(rest, TAG_SEQUENCE)?;
        let (oid, _params) = expect(alg, TAG_OID)?;
        let (key, _attributes) = expect(rest, TAG_OCTET_STRING)?;
        Ok::<_, DerError>((oid, key))
    })();
    match inner {
        Ok((oid, key)) if oid == OID_RSA_ENCRYPTION => Ok(key),
        Ok(_) => Err(Pkcs8Error::NotRsa),
        Err(DerError) => Err(Pkcs8Error::Malformed),
    }
}

/// Why a PKCS#8 key could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pkcs8Error {
    /// Not DER PKCS#8.
    Malformed,
    /// A PKCS#8 key of another algorithm (EC, Ed25519, RSA-PSS-only...).
    NotRsa,
}

/// The `subjectPublicKey` bits of an X.509 certificate's `SubjectPublicKeyInfo`, with the
/// algorithm OID. For RSA the bits are the PKCS#1 `RSAPublicKey` DER.
pub(crate) fn certificate_public_key(cert: &[u8]) -> Result<(&[u8], &[u8]), DerError> {
    let (certificate, _) = expect(cert, TAG_SEQUENCE)?;
    let (tbs, _) = expect(certificate, TAG_SEQUENCE)?;
    let mut rest = tbs;
    // version [0] EXPLICIT (optional)
    if rest.first() == Some(&TAG_CONTEXT_0) {
        rest = read_tlv(rest)?.2;
    }
    // serialNumber, signature, issuer, validity, subject
    let (_, rest) = expect(rest, TAG_INTEGER)?;
    let (_, rest) = expect(rest, TAG_SEQUENCE)?;
    let (_, rest) = expect(rest, TAG_SEQUENCE)?;
    let (_, rest) = expect(rest, TAG_SEQUENCE)?;
    let (_, rest) = expect(rest, TAG_SEQUENCE)?;
    let (spki, _) = expect(rest, TAG_SEQUENCE)?;
    let (alg, rest) = expect(spki, TAG_SEQUENCE)?;
    let (oid, _) = expect(alg, TAG_OID)?;
    let (bits, _) = expect(rest, TAG_BIT_STRING)?;
    // The first content byte of a BIT STRING is the number of unused bits: 0 for keys.
    match bits.split_first() {
        Some((0, key)) => Ok((oid, key)),
        _ => Err(DerError),
    }
}

/// Checks that `input` is exactly one complete DER SEQUENCE (e.g. a certificate).
pub(crate) fn is_single_sequence(input: &[u8]) -> bool {
    matches!(read_tlv(input), Ok((TAG_SEQUENCE, _, rest)) if rest.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_short_and_long_lengths() {
        let short = [0x04, 0x02, 0xaa, 0xbb, 0x01];
        assert_eq!(
            read_tlv(&short).unwrap(),
            (0x04, &[0xaa, 0xbb][..], &[0x01][..])
        );
        let mut long = vec![0x04, 0x81, 0x80];
        long.extend(std::iter::repeat_n(7u8, 0x80));
        let (tag, content, rest) = read_tlv(&long).unwrap();
        assert_eq!((tag, content.len(), rest.len()), (0x04, 0x80, 0));
    }

    #[test]
    fn rejects_truncated_input() {
        assert_eq!(read_tlv(&[]), Err(DerError));
        assert_eq!(read_tlv(&[0x30]), Err(DerError));
        assert_eq!(read_tlv(&[0x30, 0x05, 0x00]), Err(DerError));
        assert_eq!(
            read_tlv(&[0x30, 0x80]),
            Err(DerError),
            "indefinite length is not DER"
        );
        assert_eq!(read_tlv(&[0x30, 0x85, 1, 1, 1, 1, 1]), Err(DerError));
    }

    #[test]
    fn pkcs8_rejects_other_algorithms_and_garbage() {
        // PrivateKeyInfo with the EC public key OID 1.2.840.10045.2.1
        let ec = [
            0x30, 0x13, 0x02, 0x01, 0x00, 0x30, 0x09, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d,
            0x02, 0x01, 0x04, 0x03, 0x01, 0x02, 0x03,
        ];
        assert_eq!(pkcs8_rsa_to_pkcs1(&ec), Err(Pkcs8Error::NotRsa));
        assert_eq!(pkcs8_rsa_to_pkcs1(b"nonsense"), Err(Pkcs8Error::Malformed));
    }
}
