//! Identifiers: GUID checks, domain names, and the stable ids the emulator derives (service
//! principals, pairwise `sub`).

use super::*;

/// `Ok` if `value` is a GUID.
pub(super) fn check_guid(what: &str, value: &str) -> Result<(), EmulatorError> {
    uuid::Uuid::parse_str(value)
        .map(|_| ())
        .map_err(|_| EmulatorError::Config(format!("{what} '{value}' is not a GUID")))
}

/// A tenant domain name, lower-cased, or why it is not one: 1 to 253 characters, at least two
/// dot-separated labels of 1 to 63 ASCII letters, digits and hyphens, no label starting or ending
/// with a hyphen. (The dot keeps domain names apart from tenant ids, `common` and
/// `organizations`.)
pub(crate) fn normalize_domain(domain: &str) -> Result<String, String> {
    let lower = domain.to_ascii_lowercase();
    if lower.is_empty() || lower.len() > 253 {
        return Err("a domain name has 1 to 253 characters".to_owned());
    }
    if !lower.contains('.') {
        return Err(
            "a domain name has at least two labels, e.g. contoso.onmicrosoft.com".to_owned(),
        );
    }
    for label in lower.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !ok {
            return Err("each label has 1 to 63 letters, digits or inner hyphens".to_owned());
        }
    }
    Ok(lower)
}

/// The service principal object id of an app in a tenant: a v4-shaped UUID derived from
/// (tenant, client id), so it is stable across restarts.
pub(crate) fn service_principal_id(tid: &str, client_id: &str) -> String {
    let input = format!(
        "entra-emulator/sp/{}/{}",
        tid.to_ascii_lowercase(),
        client_id.to_ascii_lowercase()
    );
    let d = digest::digest(&digest::SHA256, input.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&d.as_ref()[..16]);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// The pairwise `sub` of a user for a client app (43 characters like Entra's).
pub(crate) fn pairwise_sub(user_oid: &str, client_id: &str) -> String {
    let input = format!("entra-emulator/sub/{user_oid}/{client_id}");
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, input.as_bytes()))
}
