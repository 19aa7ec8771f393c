//! `entra token`: an access token from any credential of `entra-client`: client credentials
//! (secret or certificate), workload identity federation (a federated token file), managed
//! identity, on-behalf-of a user, the user signed in with `entra login`, or the environment's
//! credential chain.
//!
//! [`credential`] is the one place that turns the options into a credential; everything after
//! it goes through the [`TokenCredential`] trait, so a new credential touches that function only.
//!
//! Secrets, certificate passwords and user tokens come from environment variables, files or
//! stdin only; they and private keys never appear in output or in error messages.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use entra_client::{
    AccessToken, AssertionAlgorithm, ClientCertificate, ClientCredentials, ClientSecret,
    DefaultCredential, EntraError, Error, ManagedIdentityCredential, OnBehalfOf, TokenCredential,
    WorkloadIdentityCredential,
};
use serde_json::json;

use crate::cli::TokenArgs;
use crate::error::{CliError, with_sources};
use crate::input::{self, MAX_CREDENTIAL_FILE};
use crate::output::emit_line;

/// Runs `entra token`.
pub(crate) async fn run(args: &TokenArgs) -> Result<(), CliError> {
    let chosen = credential(args)?;
    let token = chosen
        .credential
        .token(&[args.scope.as_str()])
        .await
        .map_err(|e| chosen.error(&e, args))?;
    print_token(&token, args.json)
}

/// A credential chosen by the options, and what its error messages need to know.
pub(crate) struct Chosen {
    /// The credential, whatever its kind.
    pub(crate) credential: Box<dyn TokenCredential>,
    /// Where its token requests go (named when they cannot be sent).
    endpoint: String,
    /// Whether the scope is an app-only `{resource}/.default` (the client-credentials hint for
    /// AADSTS70011 applies), rather than delegated scopes (a user, on-behalf-of).
    app_only: bool,
}

impl Chosen {
    fn new(credential: impl TokenCredential + 'static, endpoint: &str, app_only: bool) -> Self {
        Chosen {
            credential: Box::new(credential),
            endpoint: endpoint.to_owned(),
            app_only,
        }
    }

    /// One line for a failed token request; see [`credential_error`].
    fn error(&self, error: &Error, args: &TokenArgs) -> CliError {
        credential_error(error, args, &self.endpoint, self.app_only)
    }
}

/// The credential the options name: the one place that maps `entra token`'s options to an
/// `entra-client` credential (clap has checked that exactly one credential is named and that
/// the options fit it).
pub(crate) fn credential(args: &TokenArgs) -> Result<Chosen, CliError> {
    let timeout = Duration::from_secs(args.timeout);
    if args.chain {
        // DefaultCredential::from_env(), with the request time limit of --timeout.
        let chain = DefaultCredential::builder()
            .client_credentials(move |b| b.timeout(timeout))
            .managed_identity(move |b| b.timeout(timeout))
            .build();
        return Ok(Chosen::new(chain, "(the credential chain)", true));
    }
    if args.managed_identity {
        let mut builder = ManagedIdentityCredential::builder().env().timeout(timeout);
        if let Some(url) = &args.imds_endpoint {
            builder = builder.imds_endpoint(url.trim());
        }
        if let Some(id) = &args.client_id {
            builder = builder.client_id(id.trim());
        } else if let Some(id) = &args.object_id {
            builder = builder.object_id(id.trim());
        } else if let Some(id) = &args.resource_id {
            builder = builder.resource_id(id.trim());
        }
        let mi = builder
            .build()
            .map_err(|e| CliError::usage(e.to_string()))?;
        let endpoint = mi.endpoint().to_owned();
        return Ok(Chosen::new(mi, &endpoint, true));
    }
    if args.user {
        let user = crate::user::credential(args)?;
        let endpoint = user.token_endpoint().to_owned();
        return Ok(Chosen::new(user, &endpoint, false));
    }
    // The app's own credential: a secret, a certificate or a federated token file.
    let (app, workload) = if let Some(file) = &args.federated_token_file {
        let (tenant, client_id) = app_ids(args)?;
        let mut builder =
            WorkloadIdentityCredential::builder(tenant, client_id, file.clone()).timeout(timeout);
        if let Some(authority) = &args.authority {
            builder = builder.authority(authority.trim());
        }
        let workload = builder
            .build()
            .map_err(|e| CliError::usage(e.to_string()))?;
        (workload.client_credentials().clone(), Some(workload))
    } else {
        (credentials(args)?, None)
    };
    let endpoint = app.token_endpoint().to_owned();
    if args.on_behalf_of {
        let mut user_token = input::secret_token(
            args.user_token_file.as_deref(),
            "user token",
            "pipe it in, or use --user-token-file",
        )?;
        // Moved, not copied, into the credential (which keeps it zeroized on drop).
        let user = OnBehalfOf::new(app).for_user(std::mem::take(&mut *user_token));
        return Ok(Chosen::new(user, &endpoint, false));
    }
    Ok(match workload {
        Some(workload) => Chosen::new(workload, &endpoint, true),
        None => Chosen::new(app, &endpoint, true),
    })
}

/// The tenant and the client id (clap requires both unless the credential needs neither).
pub(crate) fn app_ids(args: &TokenArgs) -> Result<(&str, &str), CliError> {
    match (&args.tenant, &args.client_id) {
        (Some(tenant), Some(client_id)) => Ok((tenant.trim(), client_id.trim())),
        _ => Err(CliError::usage(
            "this credential needs --tenant and --client-id",
        )),
    }
}

/// The token on stdout: alone, or as JSON with its type and expiry.
fn print_token(token: &AccessToken, json: bool) -> Result<(), CliError> {
    if json {
        let now = SystemTime::now();
        let expires_on = token
            .expires_on()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let out = json!({
            "token_type": token.token_type(),
            "expires_in": token.remaining(now).as_secs(),
            "expires_on": expires_on,
            "access_token": token.secret(),
        });
        emit_line(&crate::decode::pretty(&out))
    } else {
        emit_line(token.secret())
    }
}

/// Builds the client credentials from the options: exactly one of the secret sources or a
/// certificate (clap enforces that).
pub(crate) fn credentials(args: &TokenArgs) -> Result<ClientCredentials, CliError> {
    let (tenant, client_id) = app_ids(args)?;
    let mut builder =
        ClientCredentials::builder(tenant, client_id).timeout(Duration::from_secs(args.timeout));
    if let Some(authority) = &args.authority {
        builder = builder.authority(authority.trim());
    }
    builder = if let Some(var) = &args.client_secret_env {
        builder.client_secret(ClientSecret::from(input::secret_from_env(
            var,
            "client secret",
        )?))
    } else if let Some(path) = &args.client_secret_file {
        builder.client_secret(ClientSecret::from(input::secret_from_file(
            path,
            "client secret",
        )?))
    } else if let Some(path) = &args.certificate {
        let password = match (
            &args.certificate_password_env,
            &args.certificate_password_file,
        ) {
            (Some(var), _) => Some(input::secret_from_env(var, "certificate password")?),
            (None, Some(file)) => Some(input::secret_from_file(file, "certificate password")?),
            (None, None) => None,
        };
        let password = password.as_deref().map(String::as_str);
        let certificate = load_certificate(path, args.key.as_deref(), password)?;
        let algorithm = if args.pss {
            AssertionAlgorithm::Ps256
        } else {
            AssertionAlgorithm::Rs256
        };
        builder.certificate(certificate).signing(algorithm)
    } else {
        return Err(CliError::usage(
            "no credential: use --client-secret-env, --client-secret-file or --certificate",
        ));
    };
    builder.build().map_err(|e| CliError::usage(e.to_string()))
}

/// The kind of a certificate file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CertificateFormat {
    /// PKCS#12 (`.pfx` / `.p12`, binary DER).
    Pkcs12,
    /// PEM text.
    Pem,
}

/// PKCS#12 by extension (`.pfx`, `.p12`), else by content: PEM is text with `-----BEGIN`,
/// PKCS#12 is a DER `SEQUENCE`.
pub(crate) fn certificate_format(path: &Path, bytes: &[u8]) -> CertificateFormat {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    if matches!(ext.as_deref(), Some("pfx" | "p12")) {
        return CertificateFormat::Pkcs12;
    }
    let is_pem = bytes.windows(10).any(|w| w == b"-----BEGIN");
    if !is_pem && bytes.first() == Some(&0x30) {
        CertificateFormat::Pkcs12
    } else {
        CertificateFormat::Pem
    }
}

/// Loads a certificate credential: a PKCS#12 file (with `password`, empty when none), or PEM
/// with the key in the same file or in `key`. The files are read into buffers zeroized on drop.
pub(crate) fn load_certificate(
    path: &Path,
    key: Option<&Path>,
    password: Option<&str>,
) -> Result<ClientCertificate, CliError> {
    let bytes = input::read_file(path, MAX_CREDENTIAL_FILE, "certificate")?;
    let shown = path.display();
    match certificate_format(path, &bytes) {
        CertificateFormat::Pkcs12 => {
            if key.is_some() {
                return Err(CliError::usage(format!(
                    "{shown} is a PKCS#12 file, which holds its own key: --key applies to PEM certificates only"
                )));
            }
            ClientCertificate::from_pkcs12(&bytes, password.unwrap_or("")).map_err(|e| {
                let hint = if password.is_none() && matches!(e, Error::Pkcs12(_)) {
                    " (no password was given: use --certificate-password-env or --certificate-password-file)"
                } else {
                    ""
                };
                CliError::usage(format!("cannot load {shown}: {e}{hint}"))
            })
        }
        CertificateFormat::Pem => {
            if password.is_some() {
                return Err(CliError::usage(format!(
                    "{shown} is a PEM file: a certificate password applies to .pfx / .p12 files only (encrypted PEM keys are not supported)"
                )));
            }
            let key_file = match key {
                Some(key_path) => Some(input::read_file(
                    key_path,
                    MAX_CREDENTIAL_FILE,
                    "private key",
                )?),
                None => {
                    if !bytes.windows(11).any(|w| w == b"PRIVATE KEY") {
                        return Err(CliError::usage(format!(
                            "{shown} has no private key: pass it with --key FILE, or use a PEM file that holds both, or a .pfx"
                        )));
                    }
                    None
                }
            };
            // Without --key, the key is in the certificate file itself: no copy of it is made.
            let key_bytes: &[u8] = key_file.as_deref().map_or(&bytes[..], Vec::as_slice);
            ClientCertificate::from_pem(key_bytes, &bytes[..])
                .map_err(|e| CliError::usage(format!("cannot load {shown}: {e}")))
        }
    }
}

/// One line for a failed `entra token` request, whatever the credential: the chain's error names
/// every credential and why it gave no token; managed identity endpoints' and on-behalf-of's
/// refusals are refusals (exit 1); a user who must sign in is told how.
fn credential_error(error: &Error, args: &TokenArgs, endpoint: &str, app_only: bool) -> CliError {
    match error {
        Error::Chain(chain) => {
            // Exit 1 when a configured credential was refused, 2 when none was available.
            let refused = chain
                .failure()
                .is_some_and(|e| credential_error(e, args, endpoint, app_only).is_refused());
            let message = chain.to_string();
            if refused {
                CliError::refused(message)
            } else {
                CliError::usage(message)
            }
        }
        Error::CredentialUnavailable { .. } | Error::ClientAssertion(_) => {
            CliError::usage(error.to_string())
        }
        Error::ManagedIdentity { .. } => CliError::refused(format!("{error} (from {endpoint})")),
        Error::ConsentRequired(challenge) | Error::UiRequired(challenge) => {
            let what = if matches!(error, Error::ConsentRequired(_)) {
                "consent required"
            } else {
                "user interaction required"
            };
            CliError::refused(format!(
                "{what} for {}: {}",
                challenge.scope,
                entra_line(&challenge.entra)
            ))
        }
        Error::InteractionRequired { .. } => CliError::refused(format!(
            "{error}: run `entra login --tenant {} --client-id {}` (with --authority and \
             --cache-file as here)",
            args.tenant.as_deref().unwrap_or_default().trim(),
            args.client_id.as_deref().unwrap_or_default().trim()
        )),
        Error::SignIn(_) => CliError::refused(error.to_string()),
        Error::TokenCacheFile(_) => CliError::usage(error.to_string()),
        Error::Entra(entra) if !app_only => CliError::refused(entra_line(entra)),
        _ => token_error(error, &args.scope, endpoint),
    }
}

/// One line for a failed token request. Entra's refusals (exit 1) show the AADSTS code, the
/// first line of the description, the trace id and the correlation id; other failures (exit 2)
/// say what went wrong and where.
pub(crate) fn token_error(error: &Error, scope: &str, endpoint: &str) -> CliError {
    match error {
        Error::Entra(entra) => {
            let mut line = entra_line(entra);
            if entra.aadsts_code() == Some(70011)
                && !scope.trim_end_matches('/').ends_with("/.default")
                && !entra.description.contains(".default")
            {
                line.push_str(
                    "; the client-credentials flow needs a scope of the form {resource}/.default",
                );
            }
            CliError::refused(line)
        }
        Error::UnexpectedStatus { .. } | Error::InvalidResponse(_) => {
            CliError::refused(format!("{error} (from {endpoint})"))
        }
        Error::Timeout(_) => CliError::usage(format!("the token request to {endpoint} timed out")),
        Error::Transport(_) => {
            let detail = std::error::Error::source(error)
                .map(with_sources)
                .unwrap_or_default();
            CliError::usage(format!(
                "cannot reach the token endpoint {endpoint}: {detail}"
            ))
        }
        _ => CliError::usage(error.to_string()),
    }
}

/// `AADSTS7000215: Invalid client secret provided. (invalid_client, HTTP 401, trace id ...,
/// correlation id ...)`.
pub(crate) fn entra_line(e: &EntraError) -> String {
    let first = e.description.lines().next().unwrap_or_default().trim();
    let mut line = String::from("Entra refused the token request: ");
    match e.aadsts_code() {
        Some(code) if !first.starts_with("AADSTS") => {
            line.push_str(&format!("AADSTS{code}: {first}"));
        }
        _ if first.is_empty() => line.push_str(&e.error),
        _ => line.push_str(first),
    }
    line.push_str(&format!(" ({}, HTTP {}", e.error, e.status));
    if let Some(trace) = &e.trace_id {
        line.push_str(&format!(", trace id {trace}"));
    }
    if let Some(correlation) = &e.correlation_id {
        line.push_str(&format!(", correlation id {correlation}"));
    }
    line.push(')');
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn formats_by_extension_then_content() {
        let p = |s: &str| PathBuf::from(s);
        assert_eq!(
            certificate_format(&p("a.PFX"), b"-----BEGIN"),
            CertificateFormat::Pkcs12
        );
        assert_eq!(
            certificate_format(&p("a.p12"), b""),
            CertificateFormat::Pkcs12
        );
        assert_eq!(
            certificate_format(&p("a.bin"), &[0x30, 0x82, 1, 2]),
            CertificateFormat::Pkcs12
        );
        assert_eq!(
            certificate_format(&p("a.crt"), b"-----BEGIN CERTIFICATE-----\n"),
            CertificateFormat::Pem
        );
    }

    #[test]
    fn missing_key_is_explained() {
        let dir = std::env::temp_dir().join(format!("entra-cli-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("cert.pem");
        std::fs::write(
            &path,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let e = load_certificate(&path, None, None).unwrap_err().to_string();
        assert!(e.contains("has no private key: pass it with --key"), "{e}");
        let e = load_certificate(&path, None, Some("pw"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("applies to .pfx / .p12 files only"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
