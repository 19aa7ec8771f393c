//! `entra forward-auth`: serves [`entra_auth::forward_auth::router`] for nginx, Traefik and
//! Envoy. The configuration is the example API's (flags, else the `ENTRA_*` variables); the
//! built-in emulator only with `--emulator`, never by default: a forgotten `ENTRA_TENANT_ID` in
//! a deployment must stop the service, not make it trust a local emulator.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;

use entra_auth::EntraConfig;
use entra_auth::forward_auth::{self, ForwardAuthConfig, RulesFile};
use entra_emulator::Emulator;

use crate::error::CliError;

/// Options of `entra forward-auth`.
#[derive(Debug, clap::Args)]
pub(crate) struct ForwardAuthArgs {
    /// The address to listen on. Let only the proxy reach it.
    #[arg(
        long,
        value_name = "ADDR",
        env = "ENTRA_FORWARD_AUTH_BIND",
        default_value = "127.0.0.1:9090"
    )]
    pub bind: SocketAddr,

    /// Per-path rules and identity header names, a TOML file (see the README). Without it every
    /// path needs a valid token, and nothing more.
    #[arg(long, value_name = "FILE", env = "ENTRA_FORWARD_AUTH_RULES")]
    pub rules: Option<PathBuf>,

    /// The API's tenant: an id or domain, or `common` / `organizations` with --allowed-tenants.
    /// Default: ENTRA_TENANT_ID.
    #[arg(long, value_name = "TENANT", conflicts_with = "emulator")]
    pub tenant: Option<String>,

    /// The API's application (client) id. Default: ENTRA_CLIENT_ID.
    #[arg(long, value_name = "CLIENT_ID", conflicts_with = "emulator")]
    pub client_id: Option<String>,

    /// Accepted audiences, separated by commas, replacing `{client id}` and
    /// `api://{client id}`. Default: ENTRA_AUDIENCE.
    #[arg(long, value_name = "AUDIENCES", conflicts_with = "emulator")]
    pub audience: Option<String>,

    /// The authority host (default https://login.microsoftonline.com), e.g. a sovereign cloud or
    /// a local emulator. Default: ENTRA_AUTHORITY.
    #[arg(long, value_name = "URL", conflicts_with = "emulator")]
    pub authority: Option<String>,

    /// Multi-tenant: tenant ids separated by commas, or `*` for any. Default:
    /// ENTRA_ALLOWED_TENANTS.
    #[arg(long, value_name = "TENANTS", conflicts_with = "emulator")]
    pub allowed_tenants: Option<String>,

    /// Try it locally: start the built-in Entra emulator on 127.0.0.1, accept its development
    /// API's tokens, and print one. Ignores the ENTRA_* variables.
    #[arg(long)]
    pub emulator: bool,
}

/// Runs the service until Ctrl-C or SIGTERM.
pub(crate) async fn run(args: ForwardAuthArgs) -> Result<(), CliError> {
    let file = match &args.rules {
        Some(path) => RulesFile::load(path).map_err(|e| CliError::usage(e.to_string()))?,
        None => RulesFile::default(),
    };
    let (entra, emulator) = if args.emulator {
        let emulator = Emulator::start()
            .await
            .map_err(|e| CliError::usage(format!("cannot start the emulator: {e}")))?;
        let config = EntraConfig::builder()
            .tenant(entra_emulator::DEV_TENANT_ID)
            .client_id(entra_emulator::DEV_API_CLIENT_ID)
            .authority(emulator.base_url())
            .build()
            .map_err(|e| CliError::usage(e.to_string()))?;
        (config, Some(emulator))
    } else {
        (config(&args, |name| std::env::var(name).ok())?, None)
    };
    let rule_count = file.rules.len();
    let config = ForwardAuthConfig::new(entra.clone()).with_file(file);
    if let Err(e) = config.authenticator().prefetch().await {
        // Keep serving: requests get 503 + Retry-After until the keys can be fetched.
        tracing::warn!(error = %e, "could not load Entra signing keys yet");
    }
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .map_err(|e| CliError::usage(format!("cannot listen on {}: {e}", args.bind)))?;
    let base = match listener.local_addr() {
        Ok(addr) => format!("http://{addr}"),
        Err(e) => return Err(CliError::usage(format!("cannot listen: {e}"))),
    };
    let rules = match &args.rules {
        Some(path) => format!("{} ({rule_count} rules)", path.display()),
        None => "none: every path needs a valid token".to_owned(),
    };
    print(&banner(
        &base,
        &entra,
        &rules,
        emulator.as_ref(),
        config.authenticator().is_ready(),
    ));
    axum::serve(listener, forward_auth::router(config))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| CliError::usage(format!("the server failed: {e}")))?;
    if let Some(emulator) = emulator {
        emulator.shutdown().await;
    }
    Ok(())
}

/// The configuration from the flags, each falling back to its `ENTRA_*` variable (`env`), read
/// by `EntraConfig`'s own environment rules.
fn config(
    args: &ForwardAuthArgs,
    env: impl Fn(&str) -> Option<String>,
) -> Result<EntraConfig, CliError> {
    let flag = |name: &str| match name {
        "ENTRA_TENANT_ID" => args.tenant.clone(),
        "ENTRA_CLIENT_ID" => args.client_id.clone(),
        "ENTRA_AUDIENCE" => args.audience.clone(),
        "ENTRA_AUTHORITY" => args.authority.clone(),
        "ENTRA_ALLOWED_TENANTS" => args.allowed_tenants.clone(),
        _ => None,
    };
    let lookup = |name: &str| flag(name).or_else(|| env(name));
    let set = |name: &str| lookup(name).is_some_and(|v| !v.trim().is_empty());
    if !set("ENTRA_TENANT_ID") && !set("ENTRA_CLIENT_ID") {
        return Err(CliError::usage(
            "no tenant configured: pass --tenant and --client-id (or set ENTRA_TENANT_ID and \
             ENTRA_CLIENT_ID), or --emulator to try it with the built-in Entra emulator",
        ));
    }
    EntraConfig::from_lookup(lookup).map_err(|e| {
        CliError::usage(format!(
            "{e} (pass --tenant and --client-id, or set ENTRA_TENANT_ID and ENTRA_CLIENT_ID)"
        ))
    })
}

fn banner(
    base: &str,
    entra: &EntraConfig,
    rules: &str,
    emulator: Option<&Emulator>,
    ready: bool,
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "forward-auth listening on {base}");
    let _ = writeln!(
        out,
        "  nginx    auth_request        {base}/auth/nginx    (with X-Original-Method and X-Original-URI)"
    );
    let _ = writeln!(out, "  Traefik  ForwardAuth         {base}/auth/traefik");
    let _ = writeln!(
        out,
        "  Envoy    ext_authz http_service, path_prefix /auth/envoy on {base}"
    );
    let _ = writeln!(
        out,
        "  {base}/healthz, {base}/readyz ({})",
        if ready {
            "signing keys loaded"
        } else {
            "signing keys NOT loaded yet: 503 until they are"
        }
    );
    let _ = writeln!(
        out,
        "tenant {}, audiences {}, authority {}",
        entra.tenant().segment(),
        entra.audiences().join(", "),
        entra.authority().as_str().trim_end_matches('/')
    );
    let _ = writeln!(out, "rules: {rules}");
    if let Some(emulator) = emulator {
        let token = emulator.token().sign();
        let _ = writeln!(
            out,
            "mode: local Entra emulator at {} (--tenant/--client-id or ENTRA_TENANT_ID/ENTRA_CLIENT_ID for a real tenant)",
            emulator.base_url()
        );
        let _ = writeln!(
            out,
            "a token of the dev client app (roles Api.Admin, Files.Read.All), valid for an hour:"
        );
        let _ = writeln!(out, "TOKEN={token}");
        let _ = writeln!(out, "try:");
        let _ = writeln!(
            out,
            "  curl -i -H 'X-Forwarded-Method: GET' -H 'X-Forwarded-Uri: /admin' {base}/auth/traefik                                  # 401"
        );
        let _ = writeln!(
            out,
            "  curl -i -H 'X-Forwarded-Method: GET' -H 'X-Forwarded-Uri: /admin' -H \"Authorization: Bearer $TOKEN\" {base}/auth/traefik   # 200, X-Entra-* headers"
        );
    }
    out
}

fn print(text: &str) {
    use std::io::Write as _;
    // A closed stdout (e.g. piped into `head`) must not stop the service.
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn args(extra: &[&str]) -> ForwardAuthArgs {
        let all = [&["entra", "forward-auth"][..], extra].concat();
        match Cli::try_parse_from(all).unwrap().command {
            Command::ForwardAuth(args) => args,
            _ => panic!("not forward-auth"),
        }
    }

    const TENANT: &str = "7a1e5c3b-0d4f-4e8a-9b2c-6f1d3e5a7c90";
    const API: &str = "3c9f1a7e-5b2d-4e6f-8a1c-0d7e9b4f2a61";

    #[test]
    fn defaults_and_conflicts() {
        let a = args(&[]);
        assert_eq!(a.bind, "127.0.0.1:9090".parse().unwrap());
        assert!(a.rules.is_none() && !a.emulator);
        for flag in [
            "--tenant",
            "--client-id",
            "--audience",
            "--authority",
            "--allowed-tenants",
        ] {
            let e = Cli::try_parse_from(["entra", "forward-auth", "--emulator", flag, "x"])
                .unwrap_err();
            assert_eq!(e.kind(), clap::error::ErrorKind::ArgumentConflict, "{flag}");
        }
    }

    #[test]
    fn flags_win_over_the_environment_which_fills_the_rest() {
        let env = |name: &str| match name {
            "ENTRA_TENANT_ID" => Some("contoso.onmicrosoft.com".to_owned()),
            "ENTRA_CLIENT_ID" => Some(API.to_owned()),
            "ENTRA_AUDIENCE" => Some("api://orders".to_owned()),
            _ => None,
        };
        let c = config(&args(&["--tenant", TENANT]), env).unwrap();
        assert_eq!(c.tenant().segment(), TENANT);
        assert_eq!(c.client_id(), API);
        assert_eq!(c.audiences(), ["api://orders"]);
        let c = config(
            &args(&["--audience", "a,b", "--authority", "http://127.0.0.1:8400"]),
            env,
        )
        .unwrap();
        assert_eq!(c.audiences(), ["a", "b"]);
        assert_eq!(c.authority().as_str(), "http://127.0.0.1:8400/");
    }

    #[test]
    fn nothing_configured_says_what_to_do() {
        let none = |_: &str| None;
        let e = config(&args(&[]), none).unwrap_err().to_string();
        assert!(
            e.contains("--emulator") && e.contains("ENTRA_TENANT_ID"),
            "{e}"
        );
        let e = config(&args(&["--tenant", TENANT]), none)
            .unwrap_err()
            .to_string();
        assert!(e.contains("ENTRA_CLIENT_ID"), "{e}");
        let e = config(&args(&["--client-id", API, "--tenant", "  "]), none)
            .unwrap_err()
            .to_string();
        assert!(e.contains("ENTRA_TENANT_ID"), "{e}");
    }
}
