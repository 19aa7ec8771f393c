//! `entra decode`: what a token says, without verifying anything.
//!
//! The header and claims are printed as JSON, followed by a summary in Entra's terms (version,
//! tenant, calling app, scopes, roles, times). Nothing here checks a signature: the output says
//! so on its first line, and [`crate::verify`] is the command that validates.

use base64::Engine as _;
use base64::alphabet::URL_SAFE;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde_json::{Map, Value, json};

use crate::cli::DecodeArgs;
use crate::error::{CliError, one_line};
use crate::input;
use crate::output::{emit, emit_line};
use crate::times::{Moment, now_unix, numeric_date, relative, rfc3339};

/// The first line of the human output.
pub(crate) const NOT_VERIFIED: &str = "NOT VERIFIED: decoded only. The signature, issuer, audience and \
lifetime were not checked; use `entra verify` for that.";

/// base64url, with or without `=` padding.
const B64URL: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A decoded (not verified) JWS.
#[derive(Debug, Clone)]
pub(crate) struct Jwt {
    /// The JOSE header.
    pub header: Map<String, Value>,
    /// The claims.
    pub claims: Map<String, Value>,
    /// Whether the signature part is non-empty.
    pub signed: bool,
}

/// Runs `entra decode`.
pub(crate) fn run(args: &DecodeArgs) -> Result<(), CliError> {
    let token = input::read_token(args.token.as_deref())?;
    let jwt = parse(&token)?;
    let now = now_unix();
    if args.json {
        let out = json!({
            "verified": false,
            "header": jwt.header,
            "claims": jwt.claims,
            "summary": Summary::of(&jwt).to_json(now),
        });
        emit_line(&pretty(&out))
    } else {
        emit(&render(&jwt, now))
    }
}

/// Splits and decodes a compact JWS. Errors are one line, for input that is not a JWT.
pub(crate) fn parse(token: &str) -> Result<Jwt, CliError> {
    let parts: Vec<&str> = token.split('.').collect();
    match parts.len() {
        3 => {}
        5 => {
            return Err(CliError::usage(
                "this is an encrypted token (JWE, five parts): only the API it was issued for can read it",
            ));
        }
        1 => {
            return Err(CliError::usage(
                "not a JWT: expected three base64url parts separated by dots, found no dot",
            ));
        }
        n => {
            return Err(CliError::usage(format!(
                "not a JWT: expected three base64url parts separated by dots, found {n} parts"
            )));
        }
    }
    let header = json_part(parts[0], "header")?;
    let claims = json_part(parts[1], "payload")?;
    if B64URL.decode(parts[2]).is_err() {
        return Err(CliError::usage("not a JWT: the signature is not base64url"));
    }
    Ok(Jwt {
        header,
        claims,
        signed: !parts[2].is_empty(),
    })
}

fn json_part(part: &str, name: &str) -> Result<Map<String, Value>, CliError> {
    if part.is_empty() {
        return Err(CliError::usage(format!("not a JWT: the {name} is empty")));
    }
    let bytes = B64URL
        .decode(part)
        .map_err(|_| CliError::usage(format!("not a JWT: the {name} is not base64url")))?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(CliError::usage(format!(
            "not a JWT: the {name} is not a JSON object"
        ))),
    }
}

/// What a token says in Entra's terms. Every field is optional: any JWT can be decoded.
#[derive(Debug, Default, Clone)]
pub(crate) struct Summary {
    /// `ver`.
    pub version: Option<String>,
    /// `tid`.
    pub tenant: Option<String>,
    /// `iss`.
    pub issuer: Option<String>,
    /// `aud` (an array is joined with `, `).
    pub audience: Option<String>,
    /// The calling app: `azp` (v2) or `appid` (v1).
    pub app_id: Option<String>,
    /// The claim the calling app came from.
    pub app_id_claim: Option<&'static str>,
    /// `app_displayname` (v1 tokens).
    pub app_name: Option<String>,
    /// How the calling app authenticated, from `azpacr` / `appidacr`.
    pub app_auth: Option<&'static str>,
    /// App-only or delegated.
    pub kind: Option<&'static str>,
    /// `oid`.
    pub object_id: Option<String>,
    /// `sub`.
    pub subject: Option<String>,
    /// The user: `preferred_username`, `upn` or `unique_name`, with `name`.
    pub user: Option<String>,
    /// `scp`, split on spaces.
    pub scopes: Vec<String>,
    /// `roles`.
    pub roles: Vec<String>,
    /// `iat`.
    pub issued_at: Option<i64>,
    /// `nbf`.
    pub not_before: Option<i64>,
    /// `exp`.
    pub expires_at: Option<i64>,
    /// Remarks worth knowing (Graph token, unexpected algorithm, not an Entra token, ...).
    pub notes: Vec<String>,
}

fn text(map: &Map<String, Value>, name: &str) -> Option<String> {
    match map.get(name)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Array(items) => Some(
            items
                .iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        _ => None,
    }
}

impl Summary {
    /// The summary of a decoded token.
    pub(crate) fn of(jwt: &Jwt) -> Summary {
        let c = &jwt.claims;
        let (app_id, app_id_claim) = match (text(c, "azp"), text(c, "appid")) {
            (Some(a), _) => (Some(a), Some("azp")),
            (None, Some(a)) => (Some(a), Some("appid")),
            (None, None) => (None, None),
        };
        let app_auth = text(c, "azpacr")
            .or_else(|| text(c, "appidacr"))
            .map(|acr| match acr.as_str() {
                "0" => "public client (no credential)",
                "1" => "client secret",
                "2" => "certificate",
                _ => "unknown method",
            });
        let scopes: Vec<String> = c
            .get("scp")
            .and_then(Value::as_str)
            .map(|s| {
                s.split(' ')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let roles: Vec<String> = match c.get("roles") {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            Some(Value::String(s)) => vec![s.clone()],
            _ => Vec::new(),
        };
        let object_id = text(c, "oid");
        let subject = text(c, "sub");
        let kind = match text(c, "idtyp").as_deref() {
            Some("app") => Some("app-only (client credentials)"),
            Some("user") => Some("delegated (on behalf of a user)"),
            _ if !scopes.is_empty() => Some("delegated (on behalf of a user)"),
            _ if object_id.is_some() && object_id == subject => {
                Some("app-only (client credentials)")
            }
            _ => None,
        };
        let username = text(c, "preferred_username")
            .or_else(|| text(c, "upn"))
            .or_else(|| text(c, "unique_name"));
        let user = match (username, text(c, "name")) {
            (Some(u), Some(n)) => Some(format!("{u} ({n})")),
            (Some(u), None) => Some(u),
            (None, Some(n)) => Some(n),
            (None, None) => None,
        };
        let mut notes = Vec::new();
        let alg = text(&jwt.header, "alg");
        match alg.as_deref() {
            Some("RS256") => {}
            Some("none") | None => notes
                .push("the token is not signed (alg none or missing): never accept it".to_owned()),
            Some(other) => notes.push(format!(
                "alg {other}: Entra signs access tokens with RS256, which entra-auth requires"
            )),
        }
        if !jwt.signed && alg.as_deref() != Some("none") {
            notes.push("the signature part is empty".to_owned());
        }
        if jwt.header.contains_key("nonce") {
            notes.push(
                "a Microsoft Graph token (nonce header): only Graph can verify it; an API must \
                 ask for a token with its own scope"
                    .to_owned(),
            );
        }
        if !c.contains_key("tid") && !c.contains_key("ver") {
            notes.push("no tid or ver claim: this does not look like an Entra access token".into());
        }
        Summary {
            version: text(c, "ver"),
            tenant: text(c, "tid"),
            issuer: text(c, "iss"),
            audience: text(c, "aud"),
            app_id,
            app_id_claim,
            app_name: text(c, "app_displayname"),
            app_auth,
            kind,
            object_id,
            subject,
            user,
            scopes,
            roles,
            issued_at: c.get("iat").and_then(numeric_date),
            not_before: c.get("nbf").and_then(numeric_date),
            expires_at: c.get("exp").and_then(numeric_date),
            notes,
        }
    }

    /// The calling app for humans: `b5e2... (azp, client secret)`.
    pub(crate) fn calling_app(&self) -> Option<String> {
        let id = self.app_id.as_deref()?;
        let mut details: Vec<&str> = Vec::new();
        if let Some(name) = &self.app_name {
            details.push(name);
        }
        if let Some(claim) = self.app_id_claim {
            details.push(claim);
        }
        if let Some(auth) = self.app_auth {
            details.push(auth);
        }
        Some(if details.is_empty() {
            id.to_owned()
        } else {
            format!("{id} ({})", details.join(", "))
        })
    }

    /// The summary as JSON, times as RFC 3339 and `expires_in` in seconds (negative once
    /// expired).
    pub(crate) fn to_json(&self, now: i64) -> Value {
        json!({
            "version": self.version,
            "tenant": self.tenant,
            "issuer": self.issuer,
            "audience": self.audience,
            "app_id": self.app_id,
            "app_name": self.app_name,
            "app_auth": self.app_auth,
            "kind": self.kind,
            "object_id": self.object_id,
            "subject": self.subject,
            "user": self.user,
            "scopes": self.scopes,
            "roles": self.roles,
            "issued_at": self.issued_at.map(rfc3339),
            "not_before": self.not_before.map(rfc3339),
            "expires_at": self.expires_at.map(rfc3339),
            "expired": self.expires_at.map(|exp| exp <= now),
            "expires_in": self.expires_at.map(|exp| exp.saturating_sub(now)),
            "notes": self.notes,
        })
    }

    /// `label  value` lines of the summary (values on one line each, control characters
    /// removed).
    pub(crate) fn lines(&self, now: i64) -> Vec<(&'static str, String)> {
        let mut lines: Vec<(&'static str, String)> = Vec::new();
        let mut add = |label: &'static str, value: Option<String>| {
            if let Some(v) = value {
                lines.push((label, one_line(&v)));
            }
        };
        add("version", self.version.clone());
        add("tenant", self.tenant.clone());
        add("issuer", self.issuer.clone());
        add("audience", self.audience.clone());
        add("calling app", self.calling_app());
        add("kind", self.kind.map(str::to_owned));
        add("user", self.user.clone());
        add("object id", self.object_id.clone());
        add("subject", self.subject.clone());
        add("scopes", Some(list(&self.scopes)));
        add("roles", Some(list(&self.roles)));
        let when = |moment, at: Option<i64>| {
            at.map(|t| format!("{} ({})", rfc3339(t), relative(moment, t, now)))
        };
        add("issued", when(Moment::Issued, self.issued_at));
        add("not before", when(Moment::NotBefore, self.not_before));
        add("expires", when(Moment::Expires, self.expires_at));
        for note in &self.notes {
            add("note", Some(note.clone()));
        }
        lines
    }
}

/// `a, b` or `(none)`.
pub(crate) fn list(items: &[String]) -> String {
    if items.is_empty() {
        "(none)".to_owned()
    } else {
        items.join(", ")
    }
}

/// Pretty JSON (`serde_json` escapes control characters, so this is safe on a terminal).
pub(crate) fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

/// The human output.
pub(crate) fn render(jwt: &Jwt, now: i64) -> String {
    let mut out = String::new();
    out.push_str(NOT_VERIFIED);
    out.push_str("\n\nHeader:\n");
    out.push_str(&pretty(&Value::Object(jwt.header.clone())));
    out.push_str("\n\nClaims:\n");
    out.push_str(&pretty(&Value::Object(jwt.claims.clone())));
    out.push_str("\n\nSummary (NOT VERIFIED):\n");
    for (label, value) in Summary::of(jwt).lines(now) {
        out.push_str(&format!("  {label:<12} {value}\n"));
    }
    out
}

#[cfg(test)]
mod tests;
