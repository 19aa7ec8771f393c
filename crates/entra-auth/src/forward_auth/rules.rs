//! Per-path rules ([`Rules`], [`Rule`]): what a request to a path (and optionally a method)
//! needs, found by the longest matching path prefix.

use std::fmt;

use http::Method;

use super::original::normalize_path;
use crate::authorize::Require;

/// What requests to a path prefix need. See [`Rules`] for matching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    path: String,
    methods: Vec<Method>,
    access: Access,
}

/// What a rule asks of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Access {
    /// A valid token that meets this requirement (an empty one: any valid token).
    Token(Require),
    /// No token needed; a token that is present must still be valid (its identity is passed
    /// on), as with [`EntraAuthLayer::optional`](crate::EntraAuthLayer::optional).
    Anonymous,
}

impl Rule {
    /// A rule for `path` and everything under it that needs a valid token and nothing more
    /// (until [`require`](Self::require) or [`anonymous`](Self::anonymous)). The path must start
    /// with `/`, and have no `.` or `..` segment and no encoded `/`; it is normalized like
    /// request paths (a trailing `/` does not matter).
    pub fn new(path: &str) -> Result<Rule, RulesError> {
        let normalized = normalize_path(path).map_err(|e| RulesError::InvalidPath {
            path: path.to_owned(),
            reason: e.description(),
        })?;
        Ok(Rule {
            path: normalized,
            methods: Vec::new(),
            access: Access::Token(Require::default()),
        })
    }

    /// Applies the rule to these methods only (by default it applies to every method).
    pub fn methods<I: IntoIterator<Item = Method>>(mut self, methods: I) -> Self {
        for method in methods {
            if !self.methods.contains(&method) {
                self.methods.push(method);
            }
        }
        self
    }

    /// What a valid token must also have: scopes, app roles, calling apps
    /// ([`Require::check`], exactly as the layer's `Require` does).
    pub fn require(mut self, requirement: Require) -> Self {
        self.access = Access::Token(requirement);
        self
    }

    /// No token needed. A token that is present must still be valid, and its identity is passed
    /// on; without one, the identity headers are empty.
    pub fn anonymous(mut self) -> Self {
        self.access = Access::Anonymous;
        self
    }

    /// The (normalized) path prefix.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The methods the rule applies to; empty: all.
    pub fn method_list(&self) -> &[Method] {
        &self.methods
    }

    /// Whether requests need no token.
    pub fn is_anonymous(&self) -> bool {
        self.access == Access::Anonymous
    }

    /// What a token must have (`None` for an anonymous rule).
    pub fn requirement(&self) -> Option<&Require> {
        match &self.access {
            Access::Token(require) => Some(require),
            Access::Anonymous => None,
        }
    }

    fn covers(&self, method: &Method, path: &str) -> bool {
        let prefix = self.path.as_str();
        let path_ok = prefix == "/"
            || path == prefix
            || (path.starts_with(prefix) && path.as_bytes().get(prefix.len()) == Some(&b'/'));
        path_ok && (self.methods.is_empty() || self.methods.contains(method))
    }

    fn overlaps(&self, other: &Rule) -> bool {
        self.path == other.path
            && (self.methods.is_empty() && other.methods.is_empty()
                || self.methods.iter().any(|m| other.methods.contains(m)))
    }
}

/// The rules of a forward-auth service: what a request to a path (and optionally a method)
/// needs, found by the longest matching path prefix.
///
/// ```
/// use entra_auth::Require;
/// use entra_auth::forward_auth::{Rule, Rules};
/// use http::Method;
///
/// let rules = Rules::new()
///     .with(Rule::new("/admin")?.require(Require::any_role(["Api.Admin"])))?
///     .with(Rule::new("/admin/reports")?.methods([Method::GET]).require(Require::any_role(["Reports.Read"])))?
///     .with(Rule::new("/public")?.anonymous())?;
/// assert_eq!(rules.find(&Method::GET, "/admin/reports/2024").unwrap().path(), "/admin/reports");
/// assert_eq!(rules.find(&Method::POST, "/admin/reports/2024").unwrap().path(), "/admin");
/// assert!(rules.find(&Method::GET, "/administrator").is_none()); // whole segments only
/// assert!(rules.find(&Method::GET, "/orders").is_none()); // no rule: any valid token
/// # Ok::<(), entra_auth::forward_auth::RulesError>(())
/// ```
///
/// Matching: a rule for `/admin` covers `/admin` and every path under `/admin/`, never
/// `/administrator`; `/` covers everything (a default rule). Among the rules that cover the
/// path and list the method (or list no methods), the longest path wins; for the same path, the
/// rule that lists the method wins over the one that lists none. A path no rule covers needs a
/// valid token and nothing more. Paths are compared case-sensitively, after the normalization of
/// the original path (percent-decoding, `//` and `;params` dropped; see [`forward_auth`](super)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules {
    rules: Vec<Rule>,
}

impl Rules {
    /// No rules: every path needs a valid token, and nothing more.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a rule. Two rules for the same path whose methods overlap (or that both list no
    /// methods) are an error: which one would apply?
    pub fn with(mut self, rule: Rule) -> Result<Self, RulesError> {
        if self.rules.iter().any(|r| r.overlaps(&rule)) {
            return Err(RulesError::Duplicate(rule.path));
        }
        self.rules.push(rule);
        Ok(self)
    }

    /// The rule for a request: the longest path prefix that covers `path` (normalized) among
    /// the rules for `method` or for every method; for the same path, the one that lists the
    /// method. `None`: no rule, any valid token will do.
    pub fn find(&self, method: &Method, path: &str) -> Option<&Rule> {
        self.rules
            .iter()
            .filter(|r| r.covers(method, path))
            .max_by_key(|r| (r.path.len(), !r.methods.is_empty()))
    }

    /// The rules, in the order they were added.
    pub fn iter(&self) -> impl Iterator<Item = &Rule> {
        self.rules.iter()
    }

    /// How many rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

/// A rules file or rule that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RulesError {
    /// The file cannot be read.
    #[error("cannot read the rules file {path}: {message}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// Not the expected TOML.
    #[error("the rules file is not valid: {0}")]
    Syntax(String),
    /// A rule's path is unusable.
    #[error("rule path `{path}`: {reason}")]
    InvalidPath {
        /// The path as written.
        path: String,
        /// Why.
        reason: &'static str,
    },
    /// A method is not an HTTP method.
    #[error("rule for `{path}`: `{method}` is not an HTTP method")]
    InvalidMethod {
        /// The rule's path.
        path: String,
        /// The method as written.
        method: String,
    },
    /// Two rules for the same path and method.
    #[error("two rules for `{0}` apply to the same method")]
    Duplicate(String),
    /// An anonymous rule that also lists scopes, roles or apps.
    #[error("rule for `{0}`: an anonymous rule cannot also require scopes, roles or apps")]
    AnonymousWithRequirement(String),
    /// An identity header name is unusable.
    #[error("identity header `{name}`: {reason}")]
    InvalidHeader {
        /// The name as written.
        name: String,
        /// Why.
        reason: &'static str,
    },
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path)?;
        if !self.methods.is_empty() {
            let methods: Vec<&str> = self.methods.iter().map(Method::as_str).collect();
            write!(f, " [{}]", methods.join(", "))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Rules {
        Rules::new()
            .with(
                Rule::new("/admin")
                    .unwrap()
                    .require(Require::any_role(["Api.Admin"])),
            )
            .unwrap()
            .with(
                Rule::new("/admin/reports/")
                    .unwrap()
                    .methods([Method::GET, Method::HEAD])
                    .require(Require::any_role(["Reports.Read"])),
            )
            .unwrap()
            .with(
                Rule::new("/admin/reports")
                    .unwrap()
                    .require(Require::any_role(["Reports.Admin"])),
            )
            .unwrap()
            .with(Rule::new("/public").unwrap().anonymous())
            .unwrap()
            .with(
                Rule::new("/public/upload")
                    .unwrap()
                    .methods([Method::POST])
                    .require(Require::any_scope(["Files.Write"])),
            )
            .unwrap()
    }

    fn found(rules: &Rules, method: Method, path: &str) -> Option<String> {
        rules.find(&method, path).map(ToString::to_string)
    }

    #[test]
    fn longest_prefix_of_whole_segments_wins() {
        let r = rules();
        assert_eq!(found(&r, Method::GET, "/admin").as_deref(), Some("/admin"));
        assert_eq!(
            found(&r, Method::GET, "/admin/users").as_deref(),
            Some("/admin")
        );
        assert_eq!(found(&r, Method::GET, "/administrator"), None);
        assert_eq!(found(&r, Method::GET, "/adm"), None);
        assert_eq!(found(&r, Method::GET, "/"), None);
        assert_eq!(found(&r, Method::GET, "/orders/1"), None);
        assert_eq!(
            found(&r, Method::GET, "/admin/reports/2024").as_deref(),
            Some("/admin/reports [GET, HEAD]")
        );
        assert_eq!(
            found(&r, Method::GET, "/admin/reportsx").as_deref(),
            Some("/admin")
        );
        assert!(found(&r, Method::GET, "/public/a/b").is_some_and(|p| p == "/public"));
        assert!(
            r.find(&Method::GET, "/public/upload")
                .unwrap()
                .is_anonymous()
        );
    }

    #[test]
    fn a_rule_for_the_method_beats_one_for_every_method() {
        let r = rules();
        assert_eq!(
            found(&r, Method::HEAD, "/admin/reports").as_deref(),
            Some("/admin/reports [GET, HEAD]")
        );
        assert_eq!(
            found(&r, Method::DELETE, "/admin/reports").as_deref(),
            Some("/admin/reports")
        );
        let upload = r.find(&Method::POST, "/public/upload/x").unwrap();
        assert_eq!(upload.path(), "/public/upload");
        assert!(!upload.is_anonymous());
        assert_eq!(
            upload.requirement(),
            Some(&Require::any_scope(["Files.Write"]))
        );
        // A method the specific rule does not list falls back to the shorter prefix.
        assert!(
            r.find(&Method::PUT, "/public/upload")
                .unwrap()
                .is_anonymous()
        );
    }

    #[test]
    fn a_root_rule_is_the_default() {
        let r = Rules::new()
            .with(
                Rule::new("/")
                    .unwrap()
                    .require(Require::any_role(["Api.User"])),
            )
            .unwrap()
            .with(Rule::new("/health").unwrap().anonymous())
            .unwrap();
        assert_eq!(found(&r, Method::GET, "/anything").as_deref(), Some("/"));
        assert_eq!(found(&r, Method::GET, "/").as_deref(), Some("/"));
        assert_eq!(
            found(&r, Method::GET, "/health").as_deref(),
            Some("/health")
        );
        assert_eq!(found(&r, Method::GET, "/healthz").as_deref(), Some("/"));
    }

    #[test]
    fn overlapping_rules_are_refused() {
        let base = Rules::new().with(Rule::new("/a").unwrap()).unwrap();
        assert_eq!(
            base.clone().with(Rule::new("/a/").unwrap().anonymous()),
            Err(RulesError::Duplicate("/a".into()))
        );
        let get = Rules::new()
            .with(Rule::new("/a").unwrap().methods([Method::GET]))
            .unwrap();
        assert!(
            get.clone()
                .with(Rule::new("/a").unwrap().methods([Method::POST]))
                .is_ok()
        );
        assert!(
            get.clone()
                .with(
                    Rule::new("/a")
                        .unwrap()
                        .methods([Method::POST, Method::GET])
                )
                .is_err()
        );
        assert!(get.with(Rule::new("/a").unwrap()).is_ok());
    }

    #[test]
    fn rule_paths_are_checked_and_normalized() {
        assert_eq!(Rule::new("/a//b/").unwrap().path(), "/a/b");
        assert_eq!(Rule::new("/").unwrap().path(), "/");
        for bad in ["", "a", "/a/../b", "/a%2Fb"] {
            assert!(
                matches!(Rule::new(bad), Err(RulesError::InvalidPath { .. })),
                "{bad}"
            );
        }
    }
}
