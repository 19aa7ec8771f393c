//! Which tenant a user grant sent to `/common` or `/organizations` is for: the tenant of what
//! it redeems. Entra accepts these at the tenant-independent endpoints (MSAL apps with a
//! `common` authority redeem there); client credentials have no such anchor (AADSTS50059).

use super::GrantType;
use crate::http::form::Form;
use crate::http::{AadError, bearer};
use crate::state::{State, lock, read};

/// The tenant id of the grant's code, refresh token, device code, user or assertion; when the
/// emulator does not know it, the error the grant itself would answer.
pub(super) fn of_user_grant(
    state: &State,
    grant: GrantType,
    form: &Form,
) -> Result<String, AadError> {
    let now = state.now();
    let found = match grant {
        GrantType::ClientCredentials => return Err(AadError::no_tenant_information()),
        GrantType::AuthorizationCode => form.get("code").and_then(|code| {
            let codes = lock(&state.store.codes);
            codes.get(code, now).map(|c| c.approval.tid.clone())
        }),
        GrantType::RefreshToken => form.get("refresh_token").and_then(|token| {
            let tokens = lock(&state.store.refresh);
            tokens.peek(token, now).map(|g| g.approval.tid.clone())
        }),
        GrantType::DeviceCode => form
            .get("device_code")
            .or_else(|| form.get("code"))
            .and_then(|code| {
                let devices = lock(&state.store.devices);
                devices.peek(code, now).map(|d| d.tid.clone())
            }),
        GrantType::Password => {
            let username = form.get("username").unwrap_or_default();
            let directory = read(&state.directory);
            let by_domain = username
                .rsplit_once('@')
                .and_then(|(_, domain)| directory.tenant_of_domain(domain))
                .map(str::to_owned);
            let found = by_domain.or_else(|| {
                directory
                    .tenants()
                    .find(|(_, t)| t.user(username).is_some())
                    .map(|(tid, _)| tid.to_owned())
            });
            return found.ok_or_else(|| AadError::user_not_found("common"));
        }
        GrantType::OnBehalfOf => {
            let assertion = form.get("assertion").unwrap_or_default();
            let claims =
                bearer::verify(state, assertion).map_err(AadError::invalid_obo_assertion)?;
            let tid = claims
                .get("tid")
                .and_then(|t| t.as_str())
                .unwrap_or_default();
            let known = read(&state.directory).tenant(tid).is_some();
            return known.then(|| tid.to_ascii_lowercase()).ok_or_else(|| {
                AadError::invalid_obo_assertion("the assertion's tenant is unknown")
            });
        }
    };
    found.ok_or_else(AadError::invalid_grant)
}
