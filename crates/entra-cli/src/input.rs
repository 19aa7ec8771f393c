//! Reading what the user gives: tokens (argument or stdin), secrets (environment variables or
//! files, never arguments) and credential files, each with a size limit.
//!
//! Secrets, passwords and credential files are read into buffers that are overwritten with
//! zeros when dropped ([`Zeroizing`]) and handed on as such (`ClientSecret::from`). What is
//! outside this program's reach: the process environment keeps its own copy of a variable for
//! the life of the process, and the kernel's page cache keeps files.

use std::io::{self, IsTerminal, Read};
use std::path::Path;

use entra_client::Zeroizing;

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

/// A token that is a secret (a user's token for on-behalf-of): from `file`, or else from stdin,
/// never from an argument. The same wrappings as [`read_token`] are accepted; the text read and
/// the token are kept in buffers zeroized on drop. `what` names it in messages, which never
/// contain it; `hint` says how to give it when stdin is a terminal.
pub(crate) fn secret_token(
    file: Option<&Path>,
    what: &str,
    hint: &str,
) -> Result<Zeroizing<String>, CliError> {
    let raw = match file {
        Some(path) => secret_from_file(path, what)?,
        None => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                return Err(CliError::usage(format!("no {what} on stdin: {hint}")));
            }
            let bytes = read_zeroizing(&mut stdin.lock(), 0, MAX_TOKEN_INPUT)
                .map_err(|e| CliError::usage(format!("cannot read the {what} from stdin: {e}")))?;
            if bytes.len() as u64 > MAX_TOKEN_INPUT {
                return Err(CliError::usage(format!(
                    "the {what} on stdin is larger than 1 MiB: not a token"
                )));
            }
            zeroizing_text(bytes)
                .ok_or_else(|| CliError::usage(format!("the {what} on stdin is not UTF-8 text")))?
        }
    };
    normalize_token(&raw)
        .map(Zeroizing::new)
        .map_err(|e| CliError::usage(format!("the {what}: {e}")))
}

/// The bytes as a `String` in the same buffer (no copy), or `None` (and the bytes zeroized) if
/// they are not UTF-8.
fn zeroizing_text(mut bytes: Zeroizing<Vec<u8>>) -> Option<Zeroizing<String>> {
    match String::from_utf8(std::mem::take(&mut *bytes)) {
        Ok(text) => Some(Zeroizing::new(text)),
        Err(e) => {
            drop(Zeroizing::new(e.into_bytes()));
            None
        }
    }
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
pub(crate) fn secret_from_env(var: &str, what: &str) -> Result<Zeroizing<String>, CliError> {
    match std::env::var(var) {
        Ok(value) => {
            let value = Zeroizing::new(value);
            if value.is_empty() {
                return Err(CliError::usage(format!(
                    "the environment variable {var} (the {what}) is empty"
                )));
            }
            Ok(value)
        }
        Err(std::env::VarError::NotPresent) => Err(CliError::usage(format!(
            "the environment variable {var} (the {what}) is not set"
        ))),
        Err(std::env::VarError::NotUnicode(value)) => {
            // Not UTF-8, but still the secret: zeroized on drop like the rest.
            drop(Zeroizing::new(value.into_encoded_bytes()));
            Err(CliError::usage(format!(
                "the environment variable {var} (the {what}) is not valid UTF-8"
            )))
        }
    }
}

/// A secret from a file: UTF-8, trailing line breaks removed, not empty.
pub(crate) fn secret_from_file(path: &Path, what: &str) -> Result<Zeroizing<String>, CliError> {
    let mut bytes = read_file(path, MAX_SECRET_FILE, what)?;
    let not_text = || {
        CliError::usage(format!(
            "the {what} file {} is not UTF-8 text",
            path.display()
        ))
    };
    let len = std::str::from_utf8(&bytes)
        .map_err(|_| not_text())?
        .trim_end_matches(['\n', '\r'])
        .len();
    if len == 0 {
        return Err(CliError::usage(format!(
            "the {what} file {} is empty",
            path.display()
        )));
    }
    // The line breaks cut off stay in the spare capacity, which is zeroized with the rest.
    bytes.truncate(len);
    // Checked above: the buffer becomes the `String` without a copy.
    match String::from_utf8(std::mem::take(&mut *bytes)) {
        Ok(text) => Ok(Zeroizing::new(text)),
        Err(e) => {
            drop(Zeroizing::new(e.into_bytes()));
            Err(not_text())
        }
    }
}

/// Reads a whole file of at most `max` bytes into a buffer zeroized on drop. `what` names it
/// in messages.
pub(crate) fn read_file(path: &Path, max: u64, what: &str) -> Result<Zeroizing<Vec<u8>>, CliError> {
    let mut file = std::fs::File::open(path).map_err(|e| {
        CliError::usage(format!(
            "cannot open the {what} file {}: {e}",
            path.display()
        ))
    })?;
    // The length the file says it has; pipes and special files say 0 and are read all the same.
    let size_hint = file.metadata().map(|m| m.len()).unwrap_or(0);
    let bytes = read_zeroizing(&mut file, size_hint, max).map_err(|e| {
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

/// Reads until the end, or until one byte more than `max` (to tell input that is too large),
/// into a zeroize-on-drop buffer. The buffer starts at `size_hint` + 1 bytes; when it must grow,
/// its content moves into a new, larger zeroizing buffer and the old one is zeroized, so that
/// no reallocation leaves a copy behind (as `Vec`'s own growth would).
fn read_zeroizing(
    reader: &mut impl Read,
    size_hint: u64,
    max: u64,
) -> io::Result<Zeroizing<Vec<u8>>> {
    let limit = usize::try_from(max.saturating_add(1)).unwrap_or(usize::MAX);
    let start = usize::try_from(size_hint.saturating_add(1)).unwrap_or(usize::MAX);
    let mut buffer = Zeroizing::new(vec![0u8; start.clamp(1, limit)]);
    let mut filled = 0;
    loop {
        if filled == buffer.len() {
            if filled >= limit {
                break;
            }
            let mut bigger = Zeroizing::new(vec![0u8; filled.saturating_mul(2).min(limit)]);
            bigger[..filled].copy_from_slice(&buffer[..filled]);
            buffer = bigger;
        }
        match reader.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buffer.truncate(filled);
    Ok(buffer)
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
            secret_from_file(&path, "client secret").unwrap().as_str(),
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

    /// Compiles only if the value's type is zeroized on drop.
    fn zeroized_on_drop<T: zeroize::ZeroizeOnDrop>(_: &T) {}

    #[test]
    fn secrets_and_files_are_read_into_zeroizing_buffers() {
        let dir = std::env::temp_dir().join(format!("entra-cli-zeroize-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("secret");
        std::fs::write(&path, "s3cr3t\n").unwrap();
        // The return types, so that one changed back to a plain `String` or `Vec` fails to
        // compile.
        let secret = secret_from_file(&path, "client secret").unwrap();
        zeroized_on_drop(&secret);
        assert_eq!(secret.as_str(), "s3cr3t");
        let bytes = read_file(&path, MAX_SECRET_FILE, "client secret").unwrap();
        zeroized_on_drop(&bytes);
        assert_eq!(bytes.as_slice(), b"s3cr3t\n");
        if let Ok(from_env) = secret_from_env("PATH", "test value") {
            zeroized_on_drop(&from_env);
        }
        std::fs::write(&path, [0xff, 0xfe, b'\n']).unwrap();
        let e = secret_from_file(&path, "client secret").unwrap_err();
        assert!(e.to_string().contains("is not UTF-8 text"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn reads_past_a_wrong_size_hint_and_stops_after_the_limit() {
        let data: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        for hint in [0, 1, 100, 10_000, 1 << 40] {
            let read = read_zeroizing(&mut data.as_slice(), hint, 20_000).unwrap();
            assert_eq!(read.as_slice(), data.as_slice(), "hint {hint}");
            // One byte more than allowed: enough to say "too large", no more.
            let read = read_zeroizing(&mut data.as_slice(), hint, 999).unwrap();
            assert_eq!(read.len(), 1_000, "hint {hint}");
        }
        assert!(read_zeroizing(&mut io::empty(), 0, 10).unwrap().is_empty());
    }

    #[test]
    fn too_large_files_are_refused() {
        let dir = std::env::temp_dir().join(format!("entra-cli-large-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("big");
        std::fs::write(&path, vec![b'x'; 2048 + 1]).unwrap();
        let e = read_file(&path, 2048, "certificate").unwrap_err();
        assert!(
            e.to_string().contains("is too large (more than 2 KiB)"),
            "{e}"
        );
        assert_eq!(read_file(&path, 4096, "certificate").unwrap().len(), 2049);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
