//! The command line: every option of every subcommand, with the help texts and examples.
//!
//! Parsing only; the work happens in [`crate::token`], [`crate::decode`], [`crate::verify`] and
//! [`entra_emulator::cli`].

use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand};

const MAIN_EXAMPLES: &str = "\
Examples:
  # a local Entra ID on 127.0.0.1 (prints its URL and the development credentials)
  entra emulator --addr 127.0.0.1:8400

  # a token for an API, from a client secret kept in an environment variable
  export CLIENT_SECRET='...'
  entra token --tenant contoso.onmicrosoft.com --client-id 11111111-2222-3333-4444-555555555555 \\
      --client-secret-env CLIENT_SECRET --scope api://my-api/.default

  # what is in a token, and is it valid for my API?
  entra token ... | entra decode
  entra token ... | entra verify --tenant contoso.onmicrosoft.com --audience api://my-api

Exit status: 0 success; 1 the answer is no (Entra refused the token request, or the token is
invalid); 2 usage, input or network error. Errors are one line on stderr.";

const TOKEN_EXAMPLES: &str = "\
Examples:
  # client secret from an environment variable or a file (never on the command line)
  entra token --tenant $TENANT --client-id $APP --client-secret-env CLIENT_SECRET \\
      --scope api://my-api/.default
  entra token --tenant $TENANT --client-id $APP --client-secret-file /run/secrets/client-secret \\
      --scope https://graph.microsoft.com/.default --json

  # certificate: a .pfx / .p12 file, or a PEM file with the certificate and its key
  PFX_PASSWORD='...' entra token --tenant $TENANT --client-id $APP --certificate app.pfx \\
      --certificate-password-env PFX_PASSWORD --scope api://my-api/.default
  entra token --tenant $TENANT --client-id $APP --certificate app.crt --key app.key --pss \\
      --scope api://my-api/.default

  # against a local emulator (`entra emulator` prints these values)
  export ENTRA_DEV_SECRET='dev-only-secret~emulator~not-for-production'
  entra token --authority http://127.0.0.1:8400 --tenant 7a1e5c3b-0d4f-4e8a-9b2c-6f1d3e5a7c90 \\
      --client-id b5e2c8d4-1f3a-4c7b-9e6d-2a8f0c4b7e13 --client-secret-env ENTRA_DEV_SECRET \\
      --scope api://3c9f1a7e-5b2d-4e6f-8a1c-0d7e9b4f2a61/.default

  # no secret at all: workload identity federation (AKS), or the resource's managed identity
  entra token --tenant $AZURE_TENANT_ID --client-id $AZURE_CLIENT_ID \\
      --federated-token-file $AZURE_FEDERATED_TOKEN_FILE --scope api://my-api/.default
  entra token --managed-identity --scope https://storage.azure.com/.default
  entra token --managed-identity --client-id $USER_ASSIGNED_ID --scope api://my-api/.default

  # on behalf of a user: their token for this API on stdin (or --user-token-file), traded for a
  # token to a downstream API with the API's own secret, certificate or federated token file
  entra token --user ... --json | entra token --on-behalf-of --tenant $TENANT --client-id $API \\
      --client-secret-env API_SECRET --scope https://graph.microsoft.com/User.Read

  # whatever the environment provides, as DefaultAzureCredential: AZURE_CLIENT_SECRET /
  # AZURE_CLIENT_CERTIFICATE_PATH, then AZURE_FEDERATED_TOKEN_FILE, then managed identity
  entra token --chain --scope api://my-api/.default

Managed identity uses App Service's endpoint when IDENTITY_ENDPOINT and IDENTITY_HEADER are set,
IMDS (169.254.169.254, or AZURE_POD_IDENTITY_AUTHORITY_HOST, or --imds-endpoint) otherwise.
Exit status: 0 token printed; 1 Entra or the managed identity endpoint refused the request (the
AADSTS error is printed with its trace and correlation ids); 2 usage, credential file or network
error, or no credential of the chain available (each one's reason is printed).";

const LOGIN_EXAMPLES: &str = "\
Examples:
  # sign in in the browser (a loopback redirect on 127.0.0.1), then get tokens without a prompt
  entra login --tenant $TENANT --client-id $PUBLIC_APP --scope api://my-api/Files.Read
  entra token --user --tenant $TENANT --client-id $PUBLIC_APP --scope api://my-api/Files.Read

  # no browser here (SSH, a container): the device code flow, or print the URL only
  entra login --device-code --tenant $TENANT --client-id $PUBLIC_APP --scope User.Read
  entra login --no-browser --tenant $TENANT --client-id $PUBLIC_APP --scope User.Read

  # against a local emulator (its dev SPA is a public client; http://localhost takes any port)
  entra login --authority http://127.0.0.1:8400 --tenant 7a1e5c3b-0d4f-4e8a-9b2c-6f1d3e5a7c90 \\
      --client-id e4a7d1c9-6b3f-4f2e-8d5a-9c1b7e3f5a24 \\
      --scope api://3c9f1a7e-5b2d-4e6f-8a1c-0d7e9b4f2a61/Files.Read

The tokens are kept in $XDG_CACHE_HOME/entra/tokens.json (else ~/.cache/entra/tokens.json),
created 0600: it holds refresh tokens, treat it like a password. `entra logout` forgets them.
Exit status: 0 signed in; 1 the sign-in was declined, expired or refused; 2 usage or network error.";

const DECODE_EXAMPLES: &str = "\
Examples:
  entra decode eyJ0eXAiOiJKV1QiLCJhbGciOi...
  entra token ... | entra decode             # also accepts `Bearer ...` and a JSON token response
  entra decode - < token.txt
  entra decode --json < token.txt | jq .claims.roles

The signature is NOT checked: anyone can write a token that decodes to anything.
Use `entra verify` to validate a token. Exit status: 0 decoded; 2 not a token.";

const VERIFY_EXAMPLES: &str = "\
Examples:
  entra verify --tenant contoso.onmicrosoft.com --audience api://my-api < token.txt
  entra verify $TOKEN --tenant $TENANT --audience $API_CLIENT_ID --audience api://$API_CLIENT_ID
  entra verify $TOKEN --tenant organizations --allowed-tenants $TENANT_A,$TENANT_B \\
      --audience api://my-api
  # against a local emulator
  entra verify $TOKEN --authority http://127.0.0.1:8400 \\
      --tenant 7a1e5c3b-0d4f-4e8a-9b2c-6f1d3e5a7c90 --audience 3c9f1a7e-5b2d-4e6f-8a1c-0d7e9b4f2a61

The checks are those of the entra-auth library: RS256 signature with a key from the tenant's
published key set, exp/nbf (60 s leeway), aud, iss (from the discovery document), tenant,
the signing key's issuer, and scp or roles.
Exit status: 0 valid; 1 invalid (the reason is printed); 2 usage error, or the signing keys could
not be fetched.";

const EMULATOR_EXAMPLES: &str = "\
Examples:
  entra emulator                               # http://127.0.0.1:{free port}
  entra emulator --addr 127.0.0.1:8400
  entra emulator --tls --ca-out ./emulator-ca.pem
  entra emulator --config tenants.toml         # your own tenants, apps, secrets and roles

It registers a development tenant with an API app and a client app with a client secret, and
prints them with a ready-made curl command. Stop it with Ctrl-C.";

const FORWARD_AUTH_EXAMPLES: &str = "\
Examples:
  # try it: the built-in emulator, a printed token and curl commands
  entra forward-auth --emulator

  # your tenant and API (or ENTRA_TENANT_ID, ENTRA_CLIENT_ID, ENTRA_AUDIENCE, ENTRA_AUTHORITY)
  entra forward-auth --tenant $TENANT --client-id $API_CLIENT_ID --rules rules.toml

Endpoints: /auth/nginx (X-Original-Method, X-Original-URI), /auth/traefik (X-Forwarded-*),
/auth/envoy/... (ext_authz path_prefix /auth/envoy), /healthz, /readyz. The README has the nginx,
Traefik and Envoy configuration. A path no rule covers needs a valid token, nothing more.";

/// `entra`: get, decode and verify Microsoft Entra ID access tokens, and run a local Entra.
#[derive(Debug, Parser)]
#[command(name = "entra", version, about, after_help = MAIN_EXAMPLES)]
pub(crate) struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Get an access token: client credentials (secret, certificate or federated token file),
    /// managed identity, on-behalf-of a user, the user signed in with `entra login` (--user), or
    /// the environment's credential chain (--chain).
    #[command(after_help = TOKEN_EXAMPLES)]
    Token(Box<TokenArgs>),
    /// Sign a user in (in the browser, or with a device code) and keep their tokens in the cache
    /// file, for `entra token --user`.
    #[command(after_help = LOGIN_EXAMPLES)]
    Login(LoginArgs),
    /// Forget a signed-in user: remove their tokens from the cache file.
    Logout(UserArgs),
    /// Show what a token contains: header, claims, times, calling app, scopes, roles.
    /// The token is NOT verified.
    #[command(after_help = DECODE_EXAMPLES)]
    Decode(DecodeArgs),
    /// Validate a token as an API protected by entra-auth would.
    #[command(after_help = VERIFY_EXAMPLES)]
    Verify(VerifyArgs),
    /// Run the local Entra ID emulator (the same options as the `entra-emulator` binary).
    #[command(after_help = EMULATOR_EXAMPLES)]
    Emulator(entra_emulator::cli::Args),
    /// Serve the forward-auth endpoint that nginx (auth_request), Traefik (ForwardAuth) and
    /// Envoy (ext_authz) call before forwarding a request: 200 with the caller's identity as
    /// X-Entra-* headers, or 401 / 403 / 503.
    #[command(after_help = FORWARD_AUTH_EXAMPLES)]
    ForwardAuth(crate::forward_auth::ForwardAuthArgs),
}

/// The credentials other than a certificate: the certificate options conflict with them.
/// (`requires = "certificate"` would be the natural way to say it, but clap accepts any member of
/// the `credential` group for it: clap-rs/clap#4707.)
const NOT_CERTIFICATE: [&str; 6] = [
    "client_secret_env",
    "client_secret_file",
    "user",
    "federated_token_file",
    "managed_identity",
    "chain",
];

/// The credentials other than --user, and other than --managed-identity: the options of those
/// two conflict with them. (`requires` is not enough: clap takes any member of the `credential`
/// group for it, clap-rs/clap#4707.)
const NOT_USER: [&str; 6] = [
    "client_secret_env",
    "client_secret_file",
    "certificate",
    "federated_token_file",
    "managed_identity",
    "chain",
];
const NOT_MANAGED_IDENTITY: [&str; 6] = [
    "client_secret_env",
    "client_secret_file",
    "certificate",
    "federated_token_file",
    "user",
    "chain",
];

/// The credentials that need no tenant, client id or authority on the command line (a managed
/// identity takes an optional --client-id of its own).
const NO_APP: [&str; 2] = ["managed_identity", "chain"];

/// Options of `entra token`.
#[derive(Debug, Args)]
#[command(group(
    ArgGroup::new("credential")
        .required(true)
        .args([
            "client_secret_env",
            "client_secret_file",
            "certificate",
            "federated_token_file",
            "user",
            "managed_identity",
            "chain",
        ])
))]
pub(crate) struct TokenArgs {
    /// The tenant: its id (a GUID) or a domain such as contoso.onmicrosoft.com. Not with
    /// --managed-identity or --chain.
    #[arg(
        long,
        value_name = "TENANT",
        required_unless_present_any = NO_APP,
        conflicts_with_all = NO_APP
    )]
    pub tenant: Option<String>,

    /// The application (client) id of the app asking for the token; with --managed-identity,
    /// the client id of a user-assigned identity. Not with --chain.
    #[arg(
        long,
        value_name = "CLIENT_ID",
        required_unless_present_any = NO_APP,
        conflicts_with = "chain"
    )]
    pub client_id: Option<String>,

    /// Read the client secret from this environment variable.
    #[arg(long, value_name = "VAR", help_heading = "Credential (exactly one)")]
    pub client_secret_env: Option<String>,

    /// Read the client secret from this file (a trailing newline is ignored).
    #[arg(long, value_name = "FILE", help_heading = "Credential (exactly one)")]
    pub client_secret_file: Option<PathBuf>,

    /// A certificate registered on the app: a PKCS#12 file (.pfx / .p12), or a PEM file with the
    /// certificate and its RSA private key (or the certificate alone, with --key).
    #[arg(long, value_name = "FILE", help_heading = "Credential (exactly one)")]
    pub certificate: Option<PathBuf>,

    /// Workload identity federation: the token in this file (an AKS service-account token, as
    /// in AZURE_FEDERATED_TOKEN_FILE) is the client assertion of the app --client-id, which
    /// trusts its issuer through a federated identity credential. No secret.
    #[arg(long, value_name = "FILE", help_heading = "Credential (exactly one)")]
    pub federated_token_file: Option<PathBuf>,

    /// The user signed in with `entra login` (delegated scopes; refreshed without a prompt).
    #[arg(long, help_heading = "Credential (exactly one)")]
    pub user: bool,

    /// The managed identity of the Azure resource this runs on: App Service's endpoint when
    /// IDENTITY_ENDPOINT and IDENTITY_HEADER are set, IMDS otherwise. System-assigned, or
    /// user-assigned with --client-id, --object-id or --resource-id.
    #[arg(long, help_heading = "Credential (exactly one)")]
    pub managed_identity: bool,

    /// The first credential the environment provides, as azure-identity's
    /// DefaultAzureCredential: AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH (with
    /// AZURE_TENANT_ID and AZURE_CLIENT_ID), then workload identity (AZURE_FEDERATED_TOKEN_FILE),
    /// then managed identity. When none gives a token, each one's reason is printed.
    #[arg(long, help_heading = "Credential (exactly one)")]
    pub chain: bool,

    /// With --user: the token cache file (default $XDG_CACHE_HOME/entra/tokens.json, else
    /// ~/.cache/entra/tokens.json).
    #[arg(
        long,
        value_name = "FILE",
        requires = "user",
        conflicts_with_all = NOT_USER,
        help_heading = "User options"
    )]
    pub cache_file: Option<PathBuf>,

    /// With --user: which signed-in user, when several are (default: the last to sign in).
    #[arg(
        long,
        value_name = "UPN",
        requires = "user",
        conflicts_with_all = NOT_USER,
        help_heading = "User options"
    )]
    pub username: Option<String>,

    /// On-behalf-of: exchange a user's access token for this app (read from stdin, or from
    /// --user-token-file; never an argument) for a token to the downstream --scope, as that
    /// user. The app authenticates with its secret, certificate or federated token file.
    // With the credential group required, conflicting with its other members leaves the app's
    // own credentials.
    #[arg(
        long,
        conflicts_with_all = ["user", "managed_identity", "chain"],
        help_heading = "On-behalf-of options"
    )]
    pub on_behalf_of: bool,

    /// With --on-behalf-of: read the user's token from this file instead of stdin (a bare token,
    /// `Bearer <token>`, or a JSON token response).
    #[arg(
        long,
        value_name = "FILE",
        requires = "on_behalf_of",
        help_heading = "On-behalf-of options"
    )]
    pub user_token_file: Option<PathBuf>,

    /// With --managed-identity: a user-assigned identity by the object (principal) id of its
    /// service principal.
    #[arg(
        long,
        value_name = "ID",
        requires = "managed_identity",
        conflicts_with_all = NOT_MANAGED_IDENTITY,
        conflicts_with_all = ["client_id", "resource_id"],
        help_heading = "Managed identity options"
    )]
    pub object_id: Option<String>,

    /// With --managed-identity: a user-assigned identity by its Azure resource id
    /// (/subscriptions/.../userAssignedIdentities/NAME).
    #[arg(
        long,
        value_name = "ID",
        requires = "managed_identity",
        conflicts_with_all = NOT_MANAGED_IDENTITY,
        conflicts_with = "client_id",
        help_heading = "Managed identity options"
    )]
    pub resource_id: Option<String>,

    /// With --managed-identity: ask IMDS at this token URL instead of
    /// http://169.254.169.254/metadata/identity/oauth2/token (a local emulator's
    /// http://127.0.0.1:8400/metadata/identity/oauth2/token), whatever the environment says.
    #[arg(
        long,
        value_name = "URL",
        requires = "managed_identity",
        conflicts_with_all = NOT_MANAGED_IDENTITY,
        help_heading = "Managed identity options"
    )]
    pub imds_endpoint: Option<String>,

    /// The password of the .pfx / .p12 file, from this environment variable.
    #[arg(
        long,
        value_name = "VAR",
        conflicts_with_all = NOT_CERTIFICATE,
        conflicts_with = "certificate_password_file",
        help_heading = "Certificate options"
    )]
    pub certificate_password_env: Option<String>,

    /// The password of the .pfx / .p12 file, from this file.
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with_all = NOT_CERTIFICATE,
        help_heading = "Certificate options"
    )]
    pub certificate_password_file: Option<PathBuf>,

    /// The private key (PEM, PKCS#8 or PKCS#1, unencrypted) when it is not in the --certificate
    /// file.
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with_all = NOT_CERTIFICATE,
        help_heading = "Certificate options"
    )]
    pub key: Option<PathBuf>,

    /// Sign the client assertion with PS256 and an `x5t#S256` header instead of RS256 and `x5t`.
    #[arg(long, conflicts_with_all = NOT_CERTIFICATE, help_heading = "Certificate options")]
    pub pss: bool,

    /// The scope: `{resource}/.default`, e.g. api://my-api/.default or
    /// https://graph.microsoft.com/.default; with --user or --on-behalf-of, delegated scopes
    /// such as api://my-api/Files.Read (several separated by spaces).
    #[arg(long, value_name = "SCOPE")]
    pub scope: String,

    /// The authority host (default https://login.microsoftonline.com): a sovereign cloud such as
    /// https://login.microsoftonline.us, or a local emulator such as http://127.0.0.1:8400. Not
    /// with --managed-identity or --chain (AZURE_AUTHORITY_HOST).
    #[arg(long, value_name = "URL", conflicts_with_all = NO_APP)]
    pub authority: Option<String>,

    /// Print the whole response as JSON: token_type, expires_in, expires_on (Unix seconds),
    /// access_token.
    #[arg(long)]
    pub json: bool,

    /// Give up on a token request after this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub timeout: u64,
}

/// Which app and which cache file: `entra login` and `entra logout`.
#[derive(Debug, Args)]
pub(crate) struct UserArgs {
    /// The tenant: its id, a domain, or organizations / common.
    #[arg(long, value_name = "TENANT")]
    pub tenant: String,

    /// The application (client) id of a public client app (mobile and desktop platform, or a
    /// http://localhost redirect URI for the browser sign-in).
    #[arg(long, value_name = "CLIENT_ID")]
    pub client_id: String,

    /// The authority host (default https://login.microsoftonline.com), e.g. a local emulator
    /// such as http://127.0.0.1:8400.
    #[arg(long, value_name = "URL")]
    pub authority: Option<String>,

    /// The token cache file (default $XDG_CACHE_HOME/entra/tokens.json, else
    /// ~/.cache/entra/tokens.json). It holds refresh tokens: keep it private.
    #[arg(long, value_name = "FILE")]
    pub cache_file: Option<PathBuf>,

    /// The user: a login hint for the sign-in, and which account `logout` forgets.
    #[arg(long, value_name = "UPN")]
    pub username: Option<String>,

    /// Give up on a request to Entra after this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub timeout: u64,
}

/// Options of `entra login`.
#[derive(Debug, Args)]
pub(crate) struct LoginArgs {
    /// The app, tenant and cache file.
    #[command(flatten)]
    pub user: UserArgs,

    /// A delegated scope to sign in for, e.g. api://my-api/Files.Read or User.Read (repeat, or
    /// separate with spaces). openid, profile and offline_access are always added.
    #[arg(long, value_name = "SCOPE", required = true)]
    pub scope: Vec<String>,

    /// Sign in with a device code: open the URL printed on any device and enter the code.
    #[arg(long, conflicts_with_all = ["browser", "no_browser", "loopback_port"])]
    pub device_code: bool,

    /// Sign in in the browser on this machine (the default): authorization code + PKCE,
    /// redirected to http://localhost:{port}.
    #[arg(long)]
    pub browser: bool,

    /// With the browser sign-in: print the URL only, do not try to open a browser.
    #[arg(long)]
    pub no_browser: bool,

    /// The loopback port of the browser sign-in (default: any free port).
    #[arg(long, value_name = "PORT", default_value_t = 0)]
    pub loopback_port: u16,

    /// Give up waiting for the browser after this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub sign_in_timeout: u64,
}

/// Options of `entra decode`.
#[derive(Debug, Args)]
pub(crate) struct DecodeArgs {
    /// The token; `-` or nothing reads it from standard input (which keeps it out of the shell
    /// history). `Bearer ...` and a JSON token response are accepted too.
    #[arg(value_name = "TOKEN|-")]
    pub token: Option<String>,

    /// Print JSON: {"verified": false, "header": ..., "claims": ..., "summary": ...}.
    #[arg(long)]
    pub json: bool,
}

/// Options of `entra verify`.
#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The token; `-` or nothing reads it from standard input. `Bearer ...` and a JSON token
    /// response are accepted too.
    #[arg(value_name = "TOKEN|-")]
    pub token: Option<String>,

    /// The API's tenant: an id or domain for a single-tenant API, or `common` / `organizations`
    /// for a multi-tenant one (then with --allowed-tenants or --any-tenant).
    #[arg(long, value_name = "TENANT")]
    pub tenant: String,

    /// An accepted audience (the API's client id, or its App ID URI such as api://my-api).
    /// Repeat it, or separate values with commas, to accept several.
    #[arg(long, value_name = "AUDIENCE", required = true, value_delimiter = ',')]
    pub audience: Vec<String>,

    /// The API's client id. Default: the first --audience without its `api://` prefix; set it when
    /// the App ID URI is not api://{client id}.
    #[arg(long, value_name = "CLIENT_ID")]
    pub client_id: Option<String>,

    /// The authority host (default https://login.microsoftonline.com), e.g. a sovereign cloud or
    /// a local emulator such as http://127.0.0.1:8400.
    #[arg(long, value_name = "URL")]
    pub authority: Option<String>,

    /// Multi-tenant: the tenant ids whose tokens are accepted, separated by commas.
    #[arg(
        long,
        value_name = "TENANTS",
        value_delimiter = ',',
        conflicts_with = "any_tenant"
    )]
    pub allowed_tenants: Option<Vec<String>>,

    /// Multi-tenant: accept tokens from any tenant.
    #[arg(long)]
    pub any_tenant: bool,

    /// Print JSON: {"valid": true, ...} or {"valid": false, "reason": ..., "code": ...}.
    #[arg(long)]
    pub json: bool,

    /// Give up fetching the discovery documents and keys after this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=120))]
    pub timeout: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn one_credential_is_required() {
        let base = [
            "entra",
            "token",
            "--tenant",
            "t",
            "--client-id",
            "c",
            "--scope",
            "s",
        ];
        let e = Cli::try_parse_from(base).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::MissingRequiredArgument);
        let two = [
            &base[..],
            &["--client-secret-env", "A", "--certificate", "x.pfx"],
        ]
        .concat();
        let e = Cli::try_parse_from(two).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::ArgumentConflict);
        let key_without_cert =
            [&base[..], &["--client-secret-env", "A", "--key", "k.pem"]].concat();
        assert!(Cli::try_parse_from(key_without_cert).is_err());
        let pss_with_secret = [&base[..], &["--client-secret-file", "f", "--pss"]].concat();
        assert!(Cli::try_parse_from(pss_with_secret).is_err());
        let ok = [
            &base[..],
            &["--certificate", "c.pem", "--key", "k.pem", "--pss"],
        ]
        .concat();
        assert!(Cli::try_parse_from(ok).is_ok());
    }

    #[test]
    fn credentials_without_an_app_take_no_tenant() {
        let parse = |args: &[&str]| {
            let mut all = vec!["entra", "token", "--scope", "s"];
            all.extend_from_slice(args);
            Cli::try_parse_from(all)
        };
        let token = |args: &[&str]| match parse(args).unwrap().command {
            Command::Token(t) => t,
            _ => panic!("not token"),
        };
        // Managed identity: no tenant, an optional identity, an optional IMDS endpoint.
        let t = token(&["--managed-identity"]);
        assert!(t.managed_identity && t.tenant.is_none() && t.client_id.is_none());
        let t = token(&[
            "--managed-identity",
            "--client-id",
            "c",
            "--imds-endpoint",
            "u",
        ]);
        assert_eq!(t.client_id.as_deref(), Some("c"));
        assert_eq!(t.imds_endpoint.as_deref(), Some("u"));
        assert!(parse(&["--managed-identity", "--resource-id", "/r"]).is_ok());
        assert!(parse(&["--chain"]).is_ok());
        // The app's credentials still need both.
        let e = parse(&["--client-id", "c", "--federated-token-file", "f"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::MissingRequiredArgument);
        assert!(
            parse(&[
                "--tenant",
                "t",
                "--client-id",
                "c",
                "--federated-token-file",
                "f"
            ])
            .is_ok()
        );
        // On-behalf-of: with an app credential only; the user token file only with it.
        let app = ["--tenant", "t", "--client-id", "c"];
        for credential in [
            &["--client-secret-env", "S"][..],
            &["--client-secret-file", "f"],
            &["--certificate", "c.pfx"],
            &["--federated-token-file", "f"],
        ] {
            let args = [&app[..], credential, &["--on-behalf-of"]].concat();
            assert!(parse(&args).is_ok(), "{args:?}");
        }
        for other in [&["--user"][..], &["--managed-identity"], &["--chain"]] {
            let args = [other, &["--on-behalf-of"][..]].concat();
            assert!(parse(&args).is_err(), "{args:?}");
        }
        let e = parse(
            &[
                &app[..],
                &["--client-secret-env", "S", "--user-token-file", "u"],
            ]
            .concat(),
        )
        .unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::MissingRequiredArgument);
        // Conflicts.
        for bad in [
            &["--managed-identity", "--tenant", "t"][..],
            &["--managed-identity", "--authority", "http://127.0.0.1:1"],
            &[
                "--managed-identity",
                "--object-id",
                "o",
                "--resource-id",
                "r",
            ],
            &["--managed-identity", "--pss"],
            &["--chain", "--client-id", "c"],
            &["--chain", "--managed-identity"],
            &["--chain", "--authority", "http://127.0.0.1:1"],
            &[
                "--user",
                "--tenant",
                "t",
                "--client-id",
                "c",
                "--key",
                "k.pem",
            ],
        ] {
            let e = parse(bad).unwrap_err();
            assert_eq!(
                e.kind(),
                clap::error::ErrorKind::ArgumentConflict,
                "{bad:?}"
            );
        }
        // Identity options need --managed-identity, user options --user.
        for lonely in [
            "--object-id",
            "--resource-id",
            "--imds-endpoint",
            "--cache-file",
            "--username",
        ] {
            let args = [&app[..], &["--client-secret-env", "S", lonely, "x"]].concat();
            let e = parse(&args).unwrap_err();
            assert_eq!(
                e.kind(),
                clap::error::ErrorKind::ArgumentConflict,
                "{args:?}"
            );
        }
    }

    #[test]
    fn audiences_split_on_commas_and_repeat() {
        let cli = Cli::try_parse_from([
            "entra",
            "verify",
            "t0k",
            "--tenant",
            "t",
            "--audience",
            "a,b",
            "--audience",
            "c",
        ])
        .unwrap();
        let Command::Verify(v) = cli.command else {
            panic!("not verify")
        };
        assert_eq!(v.audience, ["a", "b", "c"]);
        assert_eq!(v.token.as_deref(), Some("t0k"));
    }

    #[test]
    fn emulator_takes_the_emulator_options() {
        let cli = Cli::try_parse_from(["entra", "emulator", "--addr", "127.0.0.1:8400"]).unwrap();
        let Command::Emulator(args) = cli.command else {
            panic!("not emulator")
        };
        assert_eq!(args.addr.port(), 8400);
    }
}
