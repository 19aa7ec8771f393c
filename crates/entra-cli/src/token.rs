//! `entra token`: an access token with the client-credentials flow, from a client secret or a
//! certificate, through `entra-client`.
//!
//! Secrets and certificate passwords come from environment variables or files only; they and
//! private keys never appear in output or in error messages.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use entra_client::{
    AccessToken, AssertionAlgorithm, ClientCertificate, ClientCredentials, ClientSecret,
    EntraError, Error,
};
use serde_json::json;

use crate::cli::TokenArgs;
use crate::error::{CliError, with_sources};
use crate::input::{self, MAX_CREDENTIAL_FILE};
use crate::output::emit_line;

/// Runs `entra token`.
pub(crate) async fn run(args: &TokenArgs) -> Result<(), CliError> {
    if args.user {
        let token = crate::user::token(args).await?;
        return print_token(&token, args.json);
    }
    let credentials = credentials(args)?;
    let token = credentials
        .token(&args.scope)
        .await
        .map_err(|e| token_error(&e, &args.scope, credentials.token_endpoint()))?;
    print_token(&token, args.json)
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

/// Builds the credentials from the options: exactly one of the secret sources or a certificate
/// (clap enforces that).
pub(crate) fn credentials(args: &TokenArgs) -> Result<ClientCredentials, CliError> {
    let mut builder = ClientCredentials::builder(args.tenant.trim(), args.client_id.trim())
        .timeout(Duration::from_secs(args.timeout));
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
