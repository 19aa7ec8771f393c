//! The authorization code flow with PKCE (S256) and a loopback redirect to
//! `http://localhost:{port}`, served on 127.0.0.1 and (when available) `[::1]`. `localhost`, not
//! `127.0.0.1`: Entra (and the emulator) match a public client's registered `http://localhost`
//! loopback redirect URI on any port, but a registration as `http://localhost` does not cover
//! `http://127.0.0.1:{port}`.

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::loopback::{Loopback, Redirect};
use super::request::{Answer, UserTokens, parse_user_tokens};
use super::secret::{SecretString, random_url_safe};
use super::{Inner, SignInError, scope_param};
use crate::Error;

impl Inner {
    /// The whole browser flow for `scopes` (already normalized).
    pub(crate) async fn browser_flow(&self, scopes: &[String]) -> Result<UserTokens, Error> {
        let loopback = Loopback::bind(self.loopback_port).await?;
        let redirect_uri = format!("http://localhost:{}", loopback.port());
        let verifier = SecretString::new(random_url_safe(32)?);
        let challenge = URL_SAFE_NO_PAD
            .encode(digest::digest(&digest::SHA256, verifier.expose().as_bytes()).as_ref());
        let state = random_url_safe(16)?;
        let nonce = random_url_safe(16)?;
        let scope = scope_param(scopes);
        let mut params = vec![
            ("client_id", self.client_id.as_str()),
            ("response_type", "code"),
            ("redirect_uri", redirect_uri.as_str()),
            ("response_mode", "query"),
            ("scope", scope.as_str()),
            ("state", state.as_str()),
            ("nonce", nonce.as_str()),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("client_info", "1"),
        ];
        if let Some(hint) = &self.username {
            params.push(("login_hint", hint.as_str()));
        }
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&params)
            .finish();
        let url = format!("{}?{query}", self.authorize_endpoint);
        (self.open_url)(&url);
        let code = match tokio::time::timeout(self.sign_in_timeout, loopback.wait(&state)).await {
            Err(_) => return Err(SignInError::TimedOut.into()),
            Ok(Redirect::Error(e)) => return Err(e.into()),
            Ok(Redirect::Code(code)) => code,
        };
        drop(loopback);
        let sent_at = self.clock.now();
        let answer = self
            .post_form(
                &self.token_endpoint,
                &[
                    ("grant_type", "authorization_code"),
                    ("client_id", &self.client_id),
                    ("code", code.expose()),
                    ("redirect_uri", &redirect_uri),
                    ("code_verifier", verifier.expose()),
                    ("scope", &scope),
                    ("client_info", "1"),
                ],
            )
            .await?;
        let tokens = match answer {
            Answer::Ok(body) => parse_user_tokens(&body, sent_at)?,
            Answer::Err(e) => return Err(e),
        };
        let nonce_ok = tokens
            .id_claims
            .as_ref()
            .is_some_and(|c| c.nonce.as_deref() == Some(nonce.as_str()));
        if !nonce_ok {
            return Err(SignInError::NonceMismatch.into());
        }
        Ok(tokens)
    }
}

/// Opens `url` with the system's opener (`$BROWSER`, `xdg-open`, `open`, `start`), without
/// waiting for it; `false` when none could be started.
pub(crate) fn open_in_system_browser(url: &str) -> bool {
    use std::process::{Command, Stdio};
    let mut candidates: Vec<(String, Vec<String>)> = Vec::new();
    if let Some(browser) = std::env::var_os("BROWSER").filter(|b| !b.is_empty()) {
        candidates.push((browser.to_string_lossy().into_owned(), vec![url.to_owned()]));
    }
    if cfg!(target_os = "macos") {
        candidates.push(("open".into(), vec![url.to_owned()]));
    } else if cfg!(windows) {
        candidates.push((
            "rundll32".into(),
            vec!["url.dll,FileProtocolHandler".into(), url.to_owned()],
        ));
    } else {
        // No display, no browser: a server over SSH prints the URL only.
        let has_display =
            std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some();
        if has_display {
            candidates.push(("xdg-open".into(), vec![url.to_owned()]));
        }
    }
    candidates.into_iter().any(|(program, args)| {
        Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map(|mut child| {
                // Reaped off the caller's thread: openers exit once the browser has the URL.
                std::thread::spawn(move || {
                    let _ = child.wait();
                });
            })
            .is_ok()
    })
}
