//! `entra login`, `entra logout` and `entra token --user`: a signed-in user's tokens through
//! entra-client's `UserCredential`, kept in its token-cache file (default
//! `$XDG_CACHE_HOME/entra/tokens.json`, created 0600; it holds refresh tokens).

use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use entra_client::{Error, SignInMethod, TokenCacheFile, UserCredential, UserCredentialBuilder};

use crate::cli::{LoginArgs, TokenArgs, UserArgs};
use crate::error::CliError;
use crate::output::emit_line;

/// Runs `entra login`.
pub(crate) async fn login(args: &LoginArgs) -> Result<(), CliError> {
    let user = &args.user;
    let mut builder = builder(
        &user.tenant,
        &user.client_id,
        user.authority.as_deref(),
        user.cache_file.as_deref(),
        user.username.as_deref(),
        user.timeout,
    )?
    .loopback_port(args.loopback_port)
    .sign_in_timeout(Duration::from_secs(args.sign_in_timeout));
    if args.no_browser {
        builder = builder.open_url(|url| {
            let _ = writeln!(
                std::io::stderr(),
                "To sign in, open this URL in a browser on this machine:\n\n  {url}\n"
            );
        });
    }
    let credential = build(builder)?;
    let method = if args.device_code {
        SignInMethod::DeviceCode
    } else {
        SignInMethod::Browser
    };
    let scopes: Vec<&str> = args.scope.iter().map(String::as_str).collect();
    let account = credential
        .sign_in(method, &scopes)
        .await
        .map_err(|e| user_error(&e, &credential))?;
    let file = credential
        .cache_file()
        .map(|f| f.path().display().to_string())
        .unwrap_or_default();
    emit_line(&format!(
        "Signed in as {} ({}); tokens kept in {file}",
        account.username.as_deref().unwrap_or("(no username)"),
        account.home_account_id
    ))
}

/// Runs `entra logout`.
pub(crate) fn logout(args: &UserArgs) -> Result<(), CliError> {
    let credential = build(builder(
        &args.tenant,
        &args.client_id,
        args.authority.as_deref(),
        args.cache_file.as_deref(),
        args.username.as_deref(),
        args.timeout,
    )?)?;
    let account = credential
        .account()
        .map_err(|e| CliError::usage(e.to_string()))?;
    credential
        .sign_out()
        .map_err(|e| CliError::usage(e.to_string()))?;
    match account {
        Some(a) => emit_line(&format!(
            "Signed out {}",
            a.username.as_deref().unwrap_or(&a.home_account_id)
        )),
        None => emit_line("No user of this app was signed in"),
    }
}

/// `entra token --user`: the user's credential, which answers with the cached access token,
/// else one from the refresh token. Never prompts: without a usable refresh token it fails with
/// `Error::InteractionRequired`, which `entra token` explains as "run `entra login`".
pub(crate) fn credential(args: &TokenArgs) -> Result<UserCredential, CliError> {
    let (tenant, client_id) = crate::token::app_ids(args)?;
    build(builder(
        tenant,
        client_id,
        args.authority.as_deref(),
        args.cache_file.as_deref(),
        args.username.as_deref(),
        args.timeout,
    )?)
}

fn builder(
    tenant: &str,
    client_id: &str,
    authority: Option<&str>,
    cache_file: Option<&Path>,
    username: Option<&str>,
    timeout: u64,
) -> Result<UserCredentialBuilder, CliError> {
    let file = match cache_file {
        Some(path) => TokenCacheFile::new(path),
        None => TokenCacheFile::new(TokenCacheFile::default_path().ok_or_else(|| {
            CliError::usage(
                "no place for the token cache: set XDG_CACHE_HOME or HOME, or pass --cache-file",
            )
        })?),
    };
    let mut builder = UserCredential::builder(tenant.trim(), client_id.trim())
        .cache_file(file)
        .timeout(Duration::from_secs(timeout));
    if let Some(authority) = authority {
        builder = builder.authority(authority.trim());
    }
    if let Some(username) = username {
        builder = builder.username(username.trim());
    }
    Ok(builder)
}

fn build(builder: UserCredentialBuilder) -> Result<UserCredential, CliError> {
    builder.build().map_err(|e| CliError::usage(e.to_string()))
}

/// One line for a failed sign-in or token: what to do next when a sign-in is needed.
fn user_error(error: &Error, credential: &UserCredential) -> CliError {
    match error {
        Error::InteractionRequired { .. } => CliError::refused(format!(
            "{error}: run `entra login --tenant {} --client-id {}` (with --authority and \
             --cache-file as here)",
            credential.tenant(),
            credential.client_id()
        )),
        Error::SignIn(_) => CliError::refused(error.to_string()),
        Error::TokenCacheFile(_) => CliError::usage(error.to_string()),
        Error::Entra(entra) => CliError::refused(crate::token::entra_line(entra)),
        _ => crate::token::token_error(error, "", credential.token_endpoint()),
    }
}
