//! [`RulesFile`]: the rules and the identity header names from a small TOML file.

use std::path::Path;

use http::{HeaderName, Method};
use serde::Deserialize;

use super::config::IdentityHeaders;
use super::rules::{Rule, Rules, RulesError};
use crate::authorize::Require;

/// The contents of a rules file: [`Rules`] and [`IdentityHeaders`], from TOML:
///
/// ```toml
/// # Optional: the names of the identity headers (these are the defaults).
/// [headers]
/// oid = "X-Entra-Oid"
/// tid = "X-Entra-Tid"
/// app_id = "X-Entra-App-Id"
/// scopes = "X-Entra-Scopes"
/// roles = "X-Entra-Roles"
///
/// # The longest matching path prefix wins; a path no rule covers needs a valid token only.
/// [[rule]]
/// path = "/admin"
/// roles = ["Api.Admin"]
///
/// [[rule]]
/// path = "/files"
/// methods = ["GET", "HEAD"]          # optional: only these methods
/// scopes = ["Files.Read"]            # any one of the scopes or of the roles
/// roles = ["Files.Read.All"]
///
/// [[rule]]
/// path = "/reports"
/// apps = ["b5e2c8d4-1f3a-4c7b-9e6d-2a8f0c4b7e13"]   # and only these calling apps
///
/// [[rule]]
/// path = "/public"
/// anonymous = true                   # no token needed (a token sent must still be valid)
/// ```
///
/// Unknown keys are errors (a misspelt `role` must not silently mean "any token").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RulesFile {
    /// The rules (none: every path needs a valid token).
    pub rules: Rules,
    /// The identity header names (the defaults unless the file has `[headers]`).
    pub headers: IdentityHeaders,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSchema {
    #[serde(default)]
    headers: HeadersSchema,
    #[serde(default)]
    rule: Vec<RuleSchema>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct HeadersSchema {
    oid: Option<String>,
    tid: Option<String>,
    app_id: Option<String>,
    scopes: Option<String>,
    roles: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSchema {
    path: String,
    #[serde(default)]
    methods: Vec<String>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    apps: Vec<String>,
    #[serde(default)]
    anonymous: bool,
}

impl RulesFile {
    /// Parses a rules file's text.
    pub fn from_toml(text: &str) -> Result<Self, RulesError> {
        let schema: FileSchema =
            toml::from_str(text).map_err(|e| RulesError::Syntax(e.message().to_owned()))?;
        let mut rules = Rules::new();
        for r in schema.rule {
            rules = rules.with(rule(r)?)?;
        }
        let headers = headers(schema.headers)?;
        Ok(Self { rules, headers })
    }

    /// Reads and parses a rules file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, RulesError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| RulesError::Read {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::from_toml(&text)
    }
}

fn rule(r: RuleSchema) -> Result<Rule, RulesError> {
    let mut methods = Vec::with_capacity(r.methods.len());
    for m in &r.methods {
        let upper = m.trim().to_ascii_uppercase();
        let method = Method::from_bytes(upper.as_bytes())
            .ok()
            .filter(|_| !upper.is_empty())
            .ok_or_else(|| RulesError::InvalidMethod {
                path: r.path.clone(),
                method: m.clone(),
            })?;
        methods.push(method);
    }
    let rule = Rule::new(&r.path)?.methods(methods);
    let requires = !(r.scopes.is_empty() && r.roles.is_empty() && r.apps.is_empty());
    if r.anonymous {
        if requires {
            return Err(RulesError::AnonymousWithRequirement(r.path));
        }
        return Ok(rule.anonymous());
    }
    let mut require = Require::default().or_scopes(r.scopes).or_roles(r.roles);
    if !r.apps.is_empty() {
        require = require.and_calling_apps(r.apps);
    }
    Ok(rule.require(require))
}

fn headers(h: HeadersSchema) -> Result<IdentityHeaders, RulesError> {
    let mut out = IdentityHeaders::default();
    for (slot, name) in [
        (&mut out.oid, h.oid),
        (&mut out.tid, h.tid),
        (&mut out.app_id, h.app_id),
        (&mut out.scopes, h.scopes),
        (&mut out.roles, h.roles),
    ] {
        if let Some(name) = name {
            *slot = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| {
                RulesError::InvalidHeader {
                    name: name.clone(),
                    reason: "not a valid header name",
                }
            })?;
        }
    }
    out.check()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_file_parses() {
        let doc = include_str!("file.rs");
        let toml: String = doc
            .lines()
            .skip_while(|l| !l.starts_with("/// ```toml"))
            .skip(1)
            .take_while(|l| !l.starts_with("/// ```"))
            .map(|l| format!("{}\n", l.trim_start_matches("///").trim_start()))
            .collect();
        let file = RulesFile::from_toml(&toml).unwrap();
        assert_eq!(file.headers, IdentityHeaders::default());
        assert_eq!(file.rules.len(), 4);
        let files = file.rules.find(&Method::GET, "/files/a").unwrap();
        assert_eq!(
            files.requirement(),
            Some(&Require::any_scope(["Files.Read"]).or_roles(["Files.Read.All"]))
        );
        assert!(file.rules.find(&Method::DELETE, "/files/a").is_none());
        let reports = file.rules.find(&Method::GET, "/reports").unwrap();
        assert_eq!(
            reports.requirement(),
            Some(&Require::calling_apps([
                "b5e2c8d4-1f3a-4c7b-9e6d-2a8f0c4b7e13"
            ]))
        );
        assert!(
            file.rules
                .find(&Method::GET, "/public")
                .unwrap()
                .is_anonymous()
        );
    }

    #[test]
    fn an_empty_file_is_no_rules() {
        assert_eq!(RulesFile::from_toml("").unwrap(), RulesFile::default());
    }

    #[test]
    fn mistakes_are_errors() {
        let err = |text: &str| RulesFile::from_toml(text).unwrap_err();
        assert!(matches!(
            err("[[rule]]\npath = \"/a\"\nrole = [\"X\"]\n"),
            RulesError::Syntax(m) if m.contains("role")
        ));
        assert!(matches!(
            err("[[rule]]\nroles = [\"X\"]\n"),
            RulesError::Syntax(_)
        ));
        assert!(matches!(
            err("[[rule]]\npath = \"/a\"\nmethods = [\"GE T\"]\n"),
            RulesError::InvalidMethod { .. }
        ));
        assert!(matches!(
            err("[[rule]]\npath = \"a\"\n"),
            RulesError::InvalidPath { .. }
        ));
        assert_eq!(
            err("[[rule]]\npath = \"/a\"\nanonymous = true\nroles = [\"X\"]\n"),
            RulesError::AnonymousWithRequirement("/a".into())
        );
        assert_eq!(
            err("[[rule]]\npath = \"/a\"\n[[rule]]\npath = \"/a/\"\n"),
            RulesError::Duplicate("/a".into())
        );
        assert!(matches!(
            err("[headers]\noid = \"bad name\"\n"),
            RulesError::InvalidHeader { .. }
        ));
        assert!(matches!(
            err("[headers]\noid = \"Authorization\"\n"),
            RulesError::InvalidHeader { .. }
        ));
        assert!(matches!(
            err("[headers]\nname = \"X-Name\"\n"),
            RulesError::Syntax(_)
        ));
    }

    #[test]
    fn methods_and_header_names_are_case_insensitive() {
        let file = RulesFile::from_toml(
            "[headers]\nroles = \"X-App-Roles\"\n[[rule]]\npath = \"/a\"\nmethods = [\"post\"]\n",
        )
        .unwrap();
        assert_eq!(file.headers.roles, "x-app-roles");
        assert_eq!(
            file.rules.iter().next().unwrap().method_list(),
            &[Method::POST]
        );
    }
}
