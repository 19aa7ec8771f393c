//! Identities without secrets on the [`Emulator`] handle: managed identities and their
//! endpoints, and the workload identity issuers whose tokens federated credentials accept.

use std::fmt;

use super::*;
use crate::directory::ManagedIdentity;
use crate::workload::{WorkloadClaims, check_name, mint};

/// Where a service finds the emulator's managed identity endpoints, from
/// [`Emulator::managed_identity_endpoints`]. `Debug` never shows the identity header.
///
/// On App Service, Container Apps and Functions a service reads `IDENTITY_ENDPOINT` and
/// `IDENTITY_HEADER` ([`ManagedIdentityEndpoints::env`] gives both); on a VM it calls IMDS.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ManagedIdentityEndpoints {
    /// `{base}/msi/token`: the App Service protocol (api-version `2019-08-01`), the value of
    /// `IDENTITY_ENDPOINT`.
    pub app_service_endpoint: String,
    /// The secret the App Service endpoint expects in `X-IDENTITY-HEADER` (`IDENTITY_HEADER`):
    /// random per emulator.
    pub identity_header: String,
    /// `{base}/metadata/identity/oauth2/token`: the IMDS protocol (api-version `2018-02-01`), in
    /// place of `http://169.254.169.254/metadata/identity/oauth2/token`.
    pub imds_endpoint: String,
}

impl ManagedIdentityEndpoints {
    /// The App Service environment variables: `IDENTITY_ENDPOINT` and `IDENTITY_HEADER`.
    pub fn env(&self) -> [(&'static str, String); 2] {
        [
            ("IDENTITY_ENDPOINT", self.app_service_endpoint.clone()),
            ("IDENTITY_HEADER", self.identity_header.clone()),
        ]
    }
}

impl fmt::Debug for ManagedIdentityEndpoints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManagedIdentityEndpoints")
            .field("app_service_endpoint", &self.app_service_endpoint)
            .field("identity_header", &"<redacted>")
            .field("imds_endpoint", &self.imds_endpoint)
            .finish()
    }
}

impl Emulator {
    /// Register a managed identity in a tenant (created if needed), as a service principal
    /// without credentials: give it app roles with [`Emulator::assign_app_role`] and its
    /// client id, then fetch its tokens from [`Emulator::managed_identity_endpoints`].
    ///
    /// # Errors
    ///
    /// [`EmulatorError::Config`] when its client id or object id is not a GUID, its resource id
    /// does not start with `/`, its client id, object id or resource id is another managed
    /// identity's, an app of the tenant has its client id, or it is system-assigned and the
    /// emulator has a system-assigned identity already.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), entra_emulator::EmulatorError> {
    /// use entra_emulator::{Emulator, ManagedIdentity, DEV_API_CLIENT_ID, DEV_TENANT_ID};
    /// let emu = Emulator::start().await?;
    /// let mi = ManagedIdentity::new("5c1d8a4e-7f3b-4e2a-9c6d-1b8e0f4a7d32").system_assigned();
    /// emu.add_managed_identity(DEV_TENANT_ID, mi.clone())?;
    /// emu.assign_app_role(DEV_TENANT_ID, mi.client_id(), DEV_API_CLIENT_ID, "Files.Read.All");
    /// let endpoints = emu.managed_identity_endpoints();
    /// // IDENTITY_ENDPOINT / IDENTITY_HEADER for the service under test:
    /// let env = endpoints.env();
    /// # let _ = env;
    /// # Ok(()) }
    /// ```
    pub fn add_managed_identity(
        &self,
        tenant_id: &str,
        identity: ManagedIdentity,
    ) -> Result<(), EmulatorError> {
        write(&self.state().directory).add_managed_identity(tenant_id, identity)
    }

    /// The managed identity endpoints and the identity header (see
    /// [`ManagedIdentityEndpoints`]).
    pub fn managed_identity_endpoints(&self) -> ManagedIdentityEndpoints {
        let urls = &self.state().urls;
        ManagedIdentityEndpoints {
            app_service_endpoint: urls.absolute(crate::urls::MSI_TOKEN),
            identity_header: self.state().identity_header.clone(),
            imds_endpoint: urls.absolute(crate::urls::IMDS_TOKEN),
        }
    }

    /// Serve a workload identity issuer, like a Kubernetes cluster's service account issuer,
    /// with a fresh RSA signing key, and return its issuer URL, `{base}/workload/{name}`. It
    /// serves `{issuer}/.well-known/openid-configuration` and its key set at
    /// `{issuer}/openid/v1/jwks`. Mint its tokens with [`Emulator::workload_token`]; apps
    /// accept them as client assertions through a [`FederatedCredential`] with this issuer.
    /// Adding a name that exists returns its URL and changes nothing.
    ///
    /// [`FederatedCredential`]: crate::FederatedCredential
    ///
    /// # Errors
    ///
    /// [`EmulatorError::Config`] when `name` is not 1 to 64 letters, digits, `.`, `_` or `-`;
    /// [`EmulatorError::KeyGeneration`] if RSA key generation fails.
    pub fn add_workload_issuer(&self, name: &str) -> Result<String, EmulatorError> {
        check_name(name)?;
        let url = self.state().urls.workload_issuer(name);
        if read(&self.state().workload_issuers).get(name).is_some() {
            return Ok(url);
        }
        let key = SigningKey::generate()?;
        write(&self.state().workload_issuers).add(name, key);
        Ok(url)
    }

    /// A service-account-like token of a workload issuer of this emulator (by its URL, from
    /// [`Emulator::add_workload_issuer`]), signed with its active key: header `alg` RS256 and
    /// `kid`; claims `iss`, `sub` (e.g. `system:serviceaccount:default:my-app`), `aud` (a list
    /// of one, as Kubernetes writes it; `api://AzureADTokenExchange` for Entra), `iat` = `nbf`
    /// = now by the emulator's clock, `exp` = now + `lifetime`, `jti`, and for a
    /// `system:serviceaccount:{namespace}:{name}` subject the `kubernetes.io` claim.
    ///
    /// # Errors
    ///
    /// [`EmulatorError::Config`] when `issuer` is not a workload issuer of this emulator.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), entra_emulator::EmulatorError> {
    /// use std::time::Duration;
    /// use entra_emulator::{App, Emulator, FederatedCredential, DEV_TENANT_ID};
    /// let emu = Emulator::start().await?;
    /// let issuer = emu.add_workload_issuer("aks")?;
    /// let subject = "system:serviceaccount:default:my-app";
    /// emu.register_app(DEV_TENANT_ID, App::new("5c1d8a4e-7f3b-4e2a-9c6d-1b8e0f4a7d32")
    ///     .federated_credential(FederatedCredential::new(&issuer, subject)));
    /// let token = emu.workload_token(&issuer, subject, "api://AzureADTokenExchange", Duration::from_secs(3600))?;
    /// // POST it as client_assertion (client_assertion_type jwt-bearer) with client_id.
    /// # let _ = token;
    /// # Ok(()) }
    /// ```
    pub fn workload_token(
        &self,
        issuer: &str,
        subject: &str,
        audience: &str,
        lifetime: Duration,
    ) -> Result<String, EmulatorError> {
        let key = self
            .workload_issuer_key(issuer)
            .ok_or_else(|| unknown(issuer))?;
        let now = self.state().now();
        let claims = WorkloadClaims {
            issuer,
            subject,
            audience,
            iat: now,
            exp: now.saturating_add(i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX)),
        };
        Ok(mint(&claims, &key))
    }

    /// The key a workload issuer signs new tokens with (to sign tokens of your own, e.g. with
    /// odd claims), `None` for an issuer URL this emulator does not serve.
    pub fn workload_issuer_key(&self, issuer: &str) -> Option<SigningKey> {
        let name = self.state().urls.workload_issuer_name(issuer)?;
        read(&self.state().workload_issuers)
            .get(name)
            .map(|i| i.active.clone())
    }

    /// Rotate a workload issuer's key: a fresh key is published and signs new tokens; the
    /// previous keys stay published (tokens they signed still verify) until
    /// [`Emulator::retire_workload_issuer_key`]. Returns the new key.
    ///
    /// # Errors
    ///
    /// [`EmulatorError::Config`] for an issuer this emulator does not serve;
    /// [`EmulatorError::KeyGeneration`] if RSA key generation fails.
    pub fn rotate_workload_issuer_key(&self, issuer: &str) -> Result<SigningKey, EmulatorError> {
        let name = self
            .state()
            .urls
            .workload_issuer_name(issuer)
            .ok_or_else(|| unknown(issuer))?;
        let key = SigningKey::generate()?;
        let mut issuers = write(&self.state().workload_issuers);
        let found = issuers.get_mut(name).ok_or_else(|| unknown(issuer))?;
        found.published.push(key.clone());
        found.active = key.clone();
        Ok(key)
    }

    /// Remove a key from a workload issuer's key set: tokens it signed no longer verify
    /// (AADSTS700027 at the token endpoint). Retiring the active key leaves the issuer signing
    /// with it, so rotate first.
    ///
    /// # Errors
    ///
    /// [`EmulatorError::Config`] for an issuer this emulator does not serve.
    pub fn retire_workload_issuer_key(&self, issuer: &str, kid: &str) -> Result<(), EmulatorError> {
        let name = self
            .state()
            .urls
            .workload_issuer_name(issuer)
            .ok_or_else(|| unknown(issuer))?;
        let mut issuers = write(&self.state().workload_issuers);
        let found = issuers.get_mut(name).ok_or_else(|| unknown(issuer))?;
        found.published.retain(|k| k.kid() != kid);
        Ok(())
    }
}

fn unknown(issuer: &str) -> EmulatorError {
    EmulatorError::Config(format!(
        "'{issuer}' is not a workload issuer of this emulator (see Emulator::add_workload_issuer)"
    ))
}
