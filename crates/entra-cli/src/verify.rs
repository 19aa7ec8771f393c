//! `entra verify`: full validation with `entra-auth`, as a protected API would do it.
//!
//! Prints `valid` and who called, or `invalid: <reason>` (exit 1). When the signing keys cannot
//! be fetched the answer is unknown: an error line and exit 2.

use std::process::ExitCode;
use std::time::Duration;

use entra_auth::{
    AuthError, Authenticator, Claims, EntraConfig, InvalidToken, KeyRefreshPolicy, TokenCachePolicy,
};
use serde_json::json;

use crate::cli::VerifyArgs;
use crate::decode::{self, Summary, list, pretty};
use crate::error::{CliError, REFUSED, one_line};
use crate::input;
use crate::output::emit;
use crate::times::{Moment, now_unix, relative, rfc3339};

/// Runs `entra verify`; `Ok` carries the exit status (0 valid, 1 invalid).
pub(crate) async fn run(args: &VerifyArgs) -> Result<ExitCode, CliError> {
    let token = input::read_token(args.token.as_deref())?;
    let config = config(args)?;
    let authority = config.authority().as_str().trim_end_matches('/').to_owned();
    let auth = Authenticator::new(config);
    match auth.validate(&token).await {
        Ok(claims) => {
            emit(&valid_text(&claims, args.json))?;
            Ok(ExitCode::SUCCESS)
        }
        Err(AuthError::InvalidToken(reason)) => {
            let detail = hint(reason, &token, args);
            emit(&invalid_text(
                reason.description(),
                reason.code(),
                detail.as_deref(),
                args.json,
            ))?;
            Ok(ExitCode::from(REFUSED))
        }
        Err(AuthError::KeysUnavailable { reason, .. }) => Err(CliError::usage(format!(
            "the token cannot be checked: the signing keys could not be loaded from {authority}: {reason}"
        ))),
        Err(AuthError::MissingToken) => Err(CliError::usage("no token given")),
        Err(other) => {
            emit(&invalid_text(
                &other.to_string(),
                other.error_code().unwrap_or("invalid"),
                None,
                args.json,
            ))?;
            Ok(ExitCode::from(REFUSED))
        }
    }
}

/// The `entra-auth` configuration for the options. Errors are usage errors.
pub(crate) fn config(args: &VerifyArgs) -> Result<EntraConfig, CliError> {
    let audiences: Vec<String> = args
        .audience
        .iter()
        .map(|a| a.trim().to_owned())
        .filter(|a| !a.is_empty())
        .collect();
    let first = audiences
        .first()
        .ok_or_else(|| CliError::usage("--audience is empty"))?;
    let client_id = match &args.client_id {
        Some(id) => id.trim().to_owned(),
        None => first
            .strip_prefix("api://")
            .unwrap_or(first)
            .trim_end_matches('/')
            .to_owned(),
    };
    let mut refresh = KeyRefreshPolicy::default();
    refresh.fetch_timeout = Duration::from_secs(args.timeout);
    let mut builder = EntraConfig::builder()
        .tenant(args.tenant.trim())
        .client_id(client_id)
        .audiences(audiences)
        .key_refresh(refresh)
        .token_cache(TokenCachePolicy::DISABLED);
    if let Some(authority) = &args.authority {
        builder = builder.authority(authority.trim());
    }
    if args.any_tenant {
        builder = builder.allow_any_tenant();
    } else if let Some(tenants) = &args.allowed_tenants {
        builder = builder.allowed_tenants(tenants.iter().map(|t| t.trim().to_owned()));
    }
    builder.build().map_err(|e| CliError::usage(e.to_string()))
}

fn valid_text(claims: &Claims, json: bool) -> String {
    let now = now_unix();
    if json {
        let out = json!({
            "valid": true,
            "version": claims.version().map(|v| v.as_str()),
            "tenant": claims.tenant_id(),
            "object_id": claims.object_id(),
            "subject": claims.subject(),
            "app_id": claims.app_id(),
            "audience": claims.audience(),
            "issuer": claims.issuer(),
            "scopes": claims.scopes(),
            "roles": claims.roles(),
            "app_only": claims.is_app_only(),
            "expires_at": rfc3339(claims.expires_at()),
            "expires_in": claims.expires_at().saturating_sub(now),
        });
        return format!("{}\n", pretty(&out));
    }
    let opt = |v: Option<&str>| v.map_or_else(|| "-".to_owned(), one_line);
    let mut lines = vec![
        ("tenant", opt(claims.tenant_id())),
        ("object id", opt(claims.object_id())),
        ("calling app", opt(claims.app_id())),
        ("scopes", one_line(&list(claims.scopes()))),
        ("roles", one_line(&list(claims.roles()))),
    ];
    if let Some(user) = claims.preferred_username().or(claims.name()) {
        lines.push(("user", one_line(user)));
    }
    lines.push(("version", opt(claims.version().map(|v| v.as_str()))));
    lines.push(("audience", one_line(claims.audience())));
    let exp = claims.expires_at();
    lines.push((
        "expires",
        format!("{} ({})", rfc3339(exp), relative(Moment::Expires, exp, now)),
    ));
    let mut out = String::from("valid\n");
    for (label, value) in lines {
        out.push_str(&format!("  {label:<12} {value}\n"));
    }
    out
}

fn invalid_text(reason: &str, code: &str, detail: Option<&str>, json: bool) -> String {
    if json {
        let out = json!({ "valid": false, "reason": reason, "code": code, "detail": detail });
        format!("{}\n", pretty(&out))
    } else {
        match detail {
            Some(d) => format!("invalid: {reason} ({})\n", one_line(d)),
            None => format!("invalid: {reason}\n"),
        }
    }
}

/// What the (unverified) token says about the failed check, to make the reason actionable:
/// the expiry time, the token's audience or tenant, ... `None` when there is nothing to add.
fn hint(reason: InvalidToken, token: &str, args: &VerifyArgs) -> Option<String> {
    let jwt = decode::parse(token).ok()?;
    let summary = Summary::of(&jwt);
    let now = now_unix();
    // Unverified text from the token: cut to a sensible length (control characters are removed
    // when printed).
    let claim = |name: &str| {
        jwt.claims.get(name).map(|v| {
            let text = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
            match text.char_indices().nth(200) {
                Some((cut, _)) => format!("{}...", &text[..cut]),
                None => text,
            }
        })
    };
    match reason {
        InvalidToken::Expired => summary
            .expires_at
            .map(|t| format!("{} at {}", relative(Moment::Expires, t, now), rfc3339(t))),
        InvalidToken::NotYetValid => summary.not_before.map(|t| {
            format!(
                "valid from {}, {}",
                rfc3339(t),
                relative(Moment::NotBefore, t, now)
            )
        }),
        InvalidToken::AudienceMismatch => claim("aud").map(|aud| {
            format!(
                "the token is for `{aud}`; accepted: {}",
                args.audience.join(", ")
            )
        }),
        InvalidToken::TenantNotAllowed | InvalidToken::TenantMismatch => {
            claim("tid").map(|tid| format!("the token's tenant is `{tid}`"))
        }
        InvalidToken::IssuerMismatch => {
            claim("iss").map(|iss| format!("the token's issuer is `{iss}`"))
        }
        InvalidToken::UnsupportedAlgorithm => jwt
            .header
            .get("alg")
            .map(|alg| format!("the token's alg is {alg}")),
        InvalidToken::UnknownSigningKey => jwt
            .header
            .get("kid")
            .or_else(|| jwt.header.get("x5t"))
            .map(|kid| format!("key {kid} is not in the tenant's key set")),
        _ => None,
    }
}
