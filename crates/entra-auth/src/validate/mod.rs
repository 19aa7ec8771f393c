//! The validator: a pure function of (token, key, clock reading, policy) to claims or an error.
//!
//! No HTTP, no axum, no I/O: this is the part to audit. Checks run cheapest first, and a token
//! is read only as far as its answer needs:
//!
//! 1. size limit; exactly three non-empty base64url segments ([`parse_header`]);
//! 2. header: a JSON object; `alg` exactly `RS256`; no `crit`; no `nonce` (a Microsoft Graph
//!    token); a key id from `kid`, or `x5t` when there is no `kid`. `jku`, `x5u`, `jwk` and `x5c`
//!    are ignored and never fetched;
//! 3. (the caller looks the key id up in the keys loaded now: a token naming a key we do not
//!    hold, when the cooldown allows no refresh, is rejected here, its payload never decoded);
//! 4. payload ([`Jws::read_claims`]): a JSON object with well-typed claims; `tid` a canonical
//!    lower-case GUID, present unless the authority is a custom (B2C / External ID) one, and
//!    allowed (before any signature work, and before any refresh an unknown key id may start,
//!    so tokens of unknown tenants cannot make the key cache refresh; a tenant configured by
//!    domain name is checked by [`check_tenant`] as soon as the discovery document has named
//!    its id);
//! 5. RS256 signature, verified with aws-lc-rs on the key parsed when the key set loaded;
//! 6. `exp` and `nbf` required integers, with leeway; `aud` a string among the audiences; `ver`
//!    accepted; `iss` equal to the issuer the discovery document declares for that version, with
//!    `{tenantid}` filled from `tid`; `tid` present and consistent with `iss`; tenant allowed;
//!    the signing key's own `issuer` matching the token's (or its v2 form for a v1 token), as
//!    Microsoft.IdentityModel checks it; then the kind of token:
//! 7. an **ID token** is a token without `scp`, without `azp` and without `appid`: every Entra
//!    access token names its calling app (`azp` in v2, `appid` in v1; delegated ones also carry
//!    `scp`), and no ID token carries any of the three. An ID token is rejected
//!    ([`InvalidToken::IdToken`](crate::InvalidToken::IdToken)) unless the policy's
//!    `id_token_audience` (the opt-in) is set, `ver` is `2.0` and `aud` equals it exactly; an
//!    accepted one has no scopes and no roles in its [`Claims`](crate::Claims) (even if it lists
//!    `roles`) and is [`TokenKind::Id`](crate::TokenKind::Id);
//! 8. an access token must carry `scp` or `roles` (unless opted out).
//!
//! Rooms: `parse` (structure, header, payload: everything before the key), `verify` (the
//! signature and the claim checks), `policy` (what the validator is told: the policy and the
//! issuers), `field` (the typed-field serde machinery that gives each claim a precise error).

mod field;
mod parse;
mod policy;
mod verify;

#[cfg(test)]
mod tests;

pub use parse::{Jws, KeyRef, ParsedToken, check_tenant, parse, parse_header};
pub use policy::{Issuers, ValidationPolicy, is_tenant_id};
pub use verify::verify;
