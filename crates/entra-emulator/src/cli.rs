//! The command line of the `entra-emulator` binary, reusable by other CLIs (`entra emulator`).
//!
//! ```no_run
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), entra_emulator::EmulatorError> {
//! use clap::Parser;
//!
//! #[derive(Parser)]
//! struct Cli {
//!     #[command(flatten)]
//!     emulator: entra_emulator::cli::Args,
//! }
//!
//! entra_emulator::cli::init_tracing();
//! entra_emulator::cli::run(Cli::parse().emulator).await // serves until Ctrl-C
//! # }
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::{
    DEV_API_CLIENT_ID, DEV_CLIENT_ID, DEV_CLIENT_SECRET, DEV_MANAGED_IDENTITY_CLIENT_ID,
    DEV_SECOND_USER_UPN, DEV_SPA_CLIENT_ID, DEV_TENANT_DOMAIN, DEV_TENANT_ID, DEV_USER_PASSWORD,
    DEV_USER_UPN, Emulator, EmulatorConfig, EmulatorError, TlsOptions, TokenVersion,
};

/// Options of `entra-emulator` (and `entra emulator`).
#[derive(Clone, Debug, clap::Args)]
#[non_exhaustive]
pub struct Args {
    /// Address to listen on. Port 0 picks a free port.
    #[arg(long, env = "ENTRA_EMULATOR_ADDR", default_value = "127.0.0.1:0")]
    pub addr: SocketAddr,

    /// Allow listening on a non-loopback address (the emulator issues tokens to anyone who asks).
    #[arg(long)]
    pub allow_non_loopback: bool,

    /// Tenants and apps to register, from a .toml or .json file (see the crate documentation).
    /// Without it, the development tenant and apps are registered.
    #[arg(long, env = "ENTRA_EMULATOR_CONFIG")]
    pub config: Option<PathBuf>,

    /// Serve HTTPS with a certificate for localhost/127.0.0.1 signed by a generated CA.
    #[arg(long)]
    pub tls: bool,

    /// Where to write the generated CA certificate (PEM) with --tls.
    /// Default: entra-emulator-ca.pem in the temporary directory.
    #[arg(long, requires = "tls")]
    pub ca_out: Option<PathBuf>,

    /// Approve every sign-in and device code as this user (a UPN), without the sign-in and
    /// consent pages: for headless tests of a front end.
    #[arg(long, env = "ENTRA_EMULATOR_AUTO_SIGN_IN", value_name = "UPN")]
    pub auto_sign_in: Option<String>,
}

/// Install a `tracing` subscriber writing to stderr, filtered by `RUST_LOG` (default `info`).
/// Does nothing if a global subscriber is already set.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// Start the emulator as configured, print how to use it, and serve until Ctrl-C (or SIGTERM).
pub async fn run(args: Args) -> Result<(), EmulatorError> {
    if !args.addr.ip().is_loopback() && !args.allow_non_loopback {
        return Err(EmulatorError::Address(format!(
            "{} is not a loopback address; pass --allow-non-loopback to listen on it anyway",
            args.addr
        )));
    }
    let mut builder = Emulator::builder().addr(args.addr);
    let config = match &args.config {
        Some(path) => Some(EmulatorConfig::from_file(path)?),
        None => None,
    };
    let dev_tenant = config.as_ref().is_none_or(|c| c.dev_tenant);
    if let Some(c) = config.clone() {
        builder = builder.without_dev_tenant().config(c);
    }
    if args.tls {
        let ca_out = args
            .ca_out
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join("entra-emulator-ca.pem"));
        builder = builder.tls(TlsOptions::new().ca_out(ca_out));
    }
    if let Some(upn) = &args.auto_sign_in {
        builder = builder.auto_sign_in(upn.clone());
    }
    let emu = builder.start().await?;
    {
        // A closed stdout (e.g. `| head -1`) must not stop the emulator.
        use std::io::Write as _;
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{}", banner(&emu, config.as_ref(), dev_tenant));
        let _ = stdout.flush();
    }
    shutdown_signal().await;
    tracing::info!("shutting down");
    emu.shutdown().await;
    Ok(())
}

fn banner(emu: &Emulator, config: Option<&EmulatorConfig>, dev_tenant: bool) -> String {
    let base = emu.base_url();
    let mut out = format!("Entra emulator listening on {base}\n");
    let cacert = match emu.ca_certificate_path() {
        Some(p) => {
            out.push_str(&format!(
                "CA certificate: {}  (curl --cacert, REQUESTS_CA_BUNDLE, SSL_CERT_FILE)\n",
                p.display()
            ));
            format!("--cacert '{}' ", p.display())
        }
        None => String::new(),
    };
    if let Some(c) = config {
        for t in &c.tenants {
            out.push_str(&format!(
                "\nTenant {}\n  authority: {}\n  issuer:    {} (v2), {} (v1)\n",
                t.id,
                emu.authority(&t.id),
                emu.issuer_v2(&t.id),
                emu.issuer_v1(&t.id)
            ));
            let domains = emu.tenant_domains(&t.id);
            if !domains.is_empty() {
                out.push_str(&format!("  domains:   {}\n", domains.join(", ")));
            }
            for a in &t.apps {
                out.push_str(&format!(
                    "  app {}{}\n",
                    a.client_id,
                    a.display_name
                        .as_deref()
                        .map(|n| format!(" ({n})"))
                        .unwrap_or_default()
                ));
            }
        }
    }
    if dev_tenant {
        let token_url = emu.token_endpoint(DEV_TENANT_ID, TokenVersion::V2);
        out.push_str(&format!(
            "\nDevelopment tenant {DEV_TENANT_ID}\n\
             \x20 authority:     {}\n\
             \x20 domain:        {DEV_TENANT_DOMAIN}\n\
             \x20 issuer:        {}\n\
             \x20 API client id: {DEV_API_CLIENT_ID}  (App ID URI api://{DEV_API_CLIENT_ID}, roles Api.Admin, Files.Read.All)\n\
             \x20 client id:     {DEV_CLIENT_ID}\n\
             \x20 client secret: {DEV_CLIENT_SECRET}  (development only)\n\
             \nGet a token:\n\
             \x20 curl -s {cacert}{token_url} \\\n\
             \x20   -d grant_type=client_credentials \\\n\
             \x20   -d client_id={DEV_CLIENT_ID} \\\n\
             \x20   --data-urlencode 'client_secret={DEV_CLIENT_SECRET}' \\\n\
             \x20   --data-urlencode 'scope=api://{DEV_API_CLIENT_ID}/.default'\n",
            emu.authority(DEV_TENANT_ID),
            emu.issuer_v2(DEV_TENANT_ID),
        ));
        out.push_str(&format!(
            "\nUsers (consent is automatic in this tenant: development mode)\n\
             \x20 {DEV_USER_UPN}  password {DEV_USER_PASSWORD}  (development only)\n\
             \x20 {DEV_SECOND_USER_UPN}  (no password: sign in with the button)\n\
             SPA / public client id: {DEV_SPA_CLIENT_ID}\n\
             \x20 redirect URIs: http://localhost:3000/ (spa), http://localhost (public client)\n\
             \nSign in (open in a browser; you land on the redirect URI with a code):\n\
             \x20 {}\n\
             Device code sign-in: {}/devicelogin\n",
            emu.sign_in_url(DEV_TENANT_ID, DEV_SPA_CLIENT_ID, "http://localhost:3000/"),
            emu.base_url(),
        ));
        out.push_str(&format!(
            "\nManaged identity {DEV_MANAGED_IDENTITY_CLIENT_ID}: user-assigned, role Files.Read.All on the API (select it by client id)\n"
        ));
    }
    out.push_str(&managed_identity_env(emu));
    out.push_str("\nPress Ctrl-C to stop.");
    out
}

/// What to export so that a service finds the emulator's managed identity endpoints: the App
/// Service variables, and for IMDS the host azure-identity reads. The identity header is a
/// development secret of this emulator only, like the printed client secret.
fn managed_identity_env(emu: &Emulator) -> String {
    let endpoints = emu.managed_identity_endpoints();
    let mut out = String::from(
        "\nManaged identity endpoints (App Service / Container Apps / Functions protocol):\n",
    );
    for (name, value) in endpoints.env() {
        out.push_str(&format!("  export {name}='{value}'\n"));
    }
    out.push_str(&format!(
        "IMDS protocol: {}\n  export AZURE_POD_IDENTITY_AUTHORITY_HOST='{}'  (azure-identity)\n",
        endpoints.imds_endpoint,
        emu.base_url()
    ));
    out
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    #[tokio::test]
    async fn refuses_non_loopback() {
        let cli = Cli::parse_from(["x", "--addr", "0.0.0.0:0"]);
        let err = run(cli.args).await.unwrap_err();
        assert!(matches!(err, EmulatorError::Address(_)));
    }

    #[tokio::test]
    async fn banner_has_curl_command() {
        let emu = Emulator::start().await.unwrap();
        let b = banner(&emu, None, true);
        assert!(b.contains(&emu.token_endpoint(DEV_TENANT_ID, TokenVersion::V2)));
        assert!(b.contains("grant_type=client_credentials"));
        assert!(b.contains(DEV_TENANT_DOMAIN));
        assert!(b.contains(DEV_USER_UPN) && b.contains(DEV_SECOND_USER_UPN));
        assert!(b.contains(&emu.sign_in_url(
            DEV_TENANT_ID,
            DEV_SPA_CLIENT_ID,
            "http://localhost:3000/"
        )));
        let endpoints = emu.managed_identity_endpoints();
        assert!(b.contains(&format!(
            "export IDENTITY_ENDPOINT='{}'",
            endpoints.app_service_endpoint
        )));
        assert!(b.contains(&format!(
            "export IDENTITY_HEADER='{}'",
            endpoints.identity_header
        )));
        assert!(b.contains(DEV_MANAGED_IDENTITY_CLIENT_ID));
    }
}
