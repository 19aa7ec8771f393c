//! How a command fails: a one-line message for stderr and an exit status.

use std::fmt;
use std::process::ExitCode;

/// Exit status when the answer is no: Entra refused the token request, or the token is invalid.
pub(crate) const REFUSED: u8 = 1;
/// Exit status for usage, input and network errors (clap uses it for usage errors too).
pub(crate) const USAGE: u8 = 2;

/// A failed command. The message is printed as `error: <message>` on one line of stderr; it
/// never contains a secret, a private key or a token.
#[derive(Debug)]
pub(crate) struct CliError {
    status: u8,
    message: String,
}

impl CliError {
    /// A usage, input or network error (exit status 2).
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self {
            status: USAGE,
            message: message.into(),
        }
    }

    /// A refusal: Entra said no (exit status 1).
    pub(crate) fn refused(message: impl Into<String>) -> Self {
        Self {
            status: REFUSED,
            message: message.into(),
        }
    }

    /// Whether this is a refusal (exit status 1).
    pub(crate) fn is_refused(&self) -> bool {
        self.status == REFUSED
    }

    /// The exit status.
    pub(crate) fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.status)
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&one_line(&self.message))
    }
}

/// Collapses line breaks and drops other control characters (a token's claims are attacker
/// controlled: no terminal escape sequences), so that a message stays on one line.
pub(crate) fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last_space = false;
    for c in text.chars() {
        if c == '\n' || c == '\r' || c == '\t' {
            if !last_space {
                out.push(' ');
                last_space = true;
            }
        } else if !c.is_control() {
            out.push(c);
            last_space = c == ' ';
        }
    }
    out.trim().to_owned()
}

/// An error and its sources, joined with `: ` (each source once), for errors such as
/// "cannot reach the token endpoint: error sending request: connection refused".
pub(crate) fn with_sources(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !part.is_empty() && !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_strips_breaks_and_escapes() {
        assert_eq!(one_line("a\r\nb\u{1b}[31mc\td "), "a b[31mc d");
        assert_eq!(CliError::usage("x\ny").to_string(), "x y");
    }
}
