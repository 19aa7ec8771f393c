//! Writing the answer to stdout without panicking when the reader has gone away
//! (`entra decode | head -3`).

use std::io::{ErrorKind, Write};

use crate::error::CliError;

/// Writes `text` to stdout. A closed pipe ends the output quietly; other write errors are
/// reported.
pub(crate) fn emit(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError::usage(format!("cannot write the output: {e}"))),
    }
}

/// Writes `text` and a line break to stdout; see [`emit`].
pub(crate) fn emit_line(text: &str) -> Result<(), CliError> {
    emit(&format!("{text}\n"))
}
