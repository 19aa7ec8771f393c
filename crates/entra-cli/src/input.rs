//! Reading what the user gives: tokens (argument or stdin), secrets (environment variables or
//! files, never arguments) and credential files, each with a size limit.

use std::io::{IsTerminal, Read};
use std::path::Path;

use crate::error::CliError;

/// The largest token input read (a JWT is a few KiB; a JSON token response a little more).
const MAX_TOKEN_INPUT: u64 = 1024 * 1024;
/// The largest secret or password file read.
const MAX_SECRET_FILE: u64 = 64 * 1024;
/// The largest certificate or key file read.
pub(crate) const MAX_CREDENTIAL_FILE: u64 = 1024 * 1024;

/// The token from the argument, or from stdin when the argument is `-` or absent.
///
/// Accepts a bare JWT, `Bearer <jwt>`, `Authorization: Bearer <jwt>`, or a JSON token response
/// with an `access_token` field (what `entra token --json` and token endpoints print).
pub(crate) fn read_token(arg: Option<&str>) -> Result<String, CliError> {
    let raw = match arg {
        Some(text) if text != "-" => text.to_owned(),
        _ => {
            let stdin = std::io::stdin();
            if arg.is_none() && stdin.is_terminal() {
                return Err(CliError::usage(
                    "no token: pass it as an argument, or pipe it in (for example `entra token ... | entra decode`)",
                ));
            }
            let mut bytes = Vec::new();
            stdin
                .lock()
                .take(MAX_TOKEN_INPUT + 1)
                .read_to_end(&mut bytes)
                .map_err(|e| CliError::usage(format!("cannot read the token from stdin: {e}")))?;
            if bytes.len() as u64 > MAX_TOKEN_INPUT {
                return Err(CliError::usage(
                    "the input is larger than 1 MiB: not a token",
                ));
            }
            String::from_utf8(bytes)
                .map_err(|_| CliError::usage("the input is not UTF-8 text: not a token"))?
        }
    };
    normalize_token(&raw)
}

/// Strips what commonly surrounds a token and checks that one token is left.
pub(crate) fn normalize_token(raw: &str) -> Result<String, CliError> {
    let mut text = raw.trim();
    if text.starts_with('{') {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|_| CliError::usage("the input starts with `{` but is not valid JSON"))?;
        return match value.get("access_token").and_then(|v| v.as_str()) {
            Some(token) => normalize_token(token),
            None => Err(CliError::usage(
                "the JSON input has no access_token string (expected a token response)",
            )),
        };
    }
    if let Some(rest) = strip_prefix_ignore_case(text, "authorization:") {
        text = rest.trim_start();
    }
    if let Some(rest) = strip_prefix_ignore_case(text, "bearer")
        && (rest.is_empty() || rest.starts_with(char::is_whitespace))
    {
        text = rest.trim_start();
    }
    if text.is_empty() {
        return Err(CliError::usage("no token: the input is empty"));
    }
    if text.chars().any(char::is_whitespace) {
        return Err(CliError::usage(
            "the input contains spaces or several lines: expected one token",
        ));
    }
    Ok(text.to_owned())
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

/// A secret from an environment variable: it must be set, UTF-8 and not empty. `what` names
/// the secret in messages (which never contain its value).
pub(crate) fn secret_from_env(var: &str, what: &str) -> Result<String, CliError> {
    match std::env::var(var) {
        Ok(value) if value.is_empty() => Err(CliError::usage(format!(
            "the environment variable {var} (the {what}) is empty"
        ))),
        Ok(value) => Ok(value),
        Err(std::env::VarError::NotPresent) => Err(CliError::usage(format!(
            "the environment variable {var} (the {what}) is not set"
        ))),
        Err(std::env::VarError::NotUnicode(_)) => Err(CliError::usage(format!(
            "the environment variable {var} (the {what}) is not valid UTF-8"
        ))),
    }
}

/// A secret from a file: UTF-8, trailing line breaks removed, not empty.
pub(crate) fn secret_from_file(path: &Path, what: &str) -> Result<String, CliError> {
    let bytes = read_file(path, MAX_SECRET_FILE, what)?;
    let text = String::from_utf8(bytes).map_err(|_| {
        CliError::usage(format!(
            "the {what} file {} is not UTF-8 text",
            path.display()
        ))
    })?;
    let value = text.trim_end_matches(['\n', '\r']);
    if value.is_empty() {
        return Err(CliError::usage(format!(
            "the {what} file {} is empty",
            path.display()
        )));
    }
    Ok(value.to_owned())
}

/// Reads a whole file of at most `max` bytes. `what` names it in messages.
pub(crate) fn read_file(path: &Path, max: u64, what: &str) -> Result<Vec<u8>, CliError> {
    let file = std::fs::File::open(path).map_err(|e| {
        CliError::usage(format!(
            "cannot open the {what} file {}: {e}",
            path.display()
        ))
    })?;
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes).map_err(|e| {
        CliError::usage(format!(
            "cannot read the {what} file {}: {e}",
            path.display()
        ))
    })?;
    if bytes.len() as u64 > max {
        return Err(CliError::usage(format!(
            "the {what} file {} is too large (more than {} KiB)",
            path.display(),
            max / 1024
        )));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_common_wrappings() {
        for input in [
            "a.b.c",
            "  a.b.c\n",
            "Bearer a.b.c",
            "bearer   a.b.c",
            "Authorization: Bearer a.b.c\r\n",
            r#"{"token_type":"Bearer","access_token":"a.b.c","expires_in":3599}"#,
        ] {
            assert_eq!(normalize_token(input).unwrap(), "a.b.c", "{input:?}");
        }
    }

    #[test]
    fn rejects_empty_and_several_tokens() {
        for input in [
            "",
            "  \n",
            "Bearer ",
            "a.b.c d.e.f",
            "a.b.c\nd.e.f",
            r#"{"x":1}"#,
            "{oops",
        ] {
            assert!(normalize_token(input).is_err(), "{input:?}");
        }
    }

    #[test]
    fn secret_files_lose_trailing_newlines_only() {
        let dir = std::env::temp_dir().join(format!("entra-cli-input-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("secret");
        std::fs::write(&path, " s3cr3t \r\n").unwrap();
        assert_eq!(
            secret_from_file(&path, "client secret").unwrap(),
            " s3cr3t "
        );
        std::fs::write(&path, "\n").unwrap();
        let e = secret_from_file(&path, "client secret").unwrap_err();
        assert!(e.to_string().contains("is empty"), "{e}");
        let e = secret_from_file(&dir.join("missing"), "client secret").unwrap_err();
        assert!(
            e.to_string().contains("cannot open the client secret file"),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn missing_env_var_is_named_not_shown() {
        let e = secret_from_env("ENTRA_CLI_TEST_SURELY_UNSET_VAR", "client secret").unwrap_err();
        assert_eq!(
            e.to_string(),
            "the environment variable ENTRA_CLI_TEST_SURELY_UNSET_VAR (the client secret) is not set"
        );
    }
}
