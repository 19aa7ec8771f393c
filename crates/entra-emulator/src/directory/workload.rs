//! Identities without secrets: managed identities (App Service, Container Apps, Functions, VMs)
//! and federated identity credentials on app registrations (workload identity federation).

use std::fmt;

use super::App;
use super::ids::check_guid;
use crate::EmulatorError;

/// The subscription and resource group of the default resource ids of managed identities.
const DEFAULT_RESOURCE_GROUP: &str =
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/emulator/providers";

/// The audience Entra recommends (and the emulator defaults to) for federated credentials.
pub const AZURE_AD_TOKEN_EXCHANGE: &str = "api://AzureADTokenExchange";

/// A managed identity: a service principal without credentials, whose tokens the emulated
/// Azure host fetches from the managed identity endpoints
/// ([`Emulator::managed_identity_endpoints`](crate::Emulator::managed_identity_endpoints)).
/// Register it with [`Emulator::add_managed_identity`](crate::Emulator::add_managed_identity)
/// (or `managed_identities` in a configuration file); give it app roles on an API with
/// [`Emulator::assign_app_role`](crate::Emulator::assign_app_role) and its client id.
///
/// * client id: required, the identity's application id (`appid`/`azp` of its tokens);
/// * object id (principal id): the `oid` and `sub` of its tokens; a random GUID by default;
/// * resource id: the `xms_mirid` of its tokens, and what `mi_res_id` / `msi_res_id` select;
///   by default `/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/emulator/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}`
///   for a user-assigned identity, and `.../providers/Microsoft.Web/sites/{name}` for the
///   system-assigned identity (Azure's `xms_mirid` of a system-assigned identity is its host
///   resource);
/// * display name (`{name}` above): by default `identity-` and the first 8 characters of the
///   client id;
/// * system-assigned or not: the system-assigned identity (at most one per emulator) is the one
///   a token request without `client_id`, `principal_id`/`object_id` or `mi_res_id`/`msi_res_id`
///   gets.
///
/// ```
/// use entra_emulator::ManagedIdentity;
/// let mi = ManagedIdentity::new("5c1d8a4e-7f3b-4e2a-9c6d-1b8e0f4a7d32").display_name("orders-worker");
/// assert!(mi.azure_resource_id().ends_with("/userAssignedIdentities/orders-worker"));
/// assert!(!mi.is_system_assigned());
/// let host = ManagedIdentity::new("0e4b7c2d-9a1f-4d3e-8b5c-6f2a1d9e7c40").system_assigned();
/// assert!(host.azure_resource_id().contains("/Microsoft.Web/sites/"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManagedIdentity {
    client_id: String,
    object_id: String,
    resource_id: Option<String>,
    display_name: Option<String>,
    system_assigned: bool,
}

impl ManagedIdentity {
    /// A user-assigned identity with this client id, a random object id and the default
    /// resource id.
    pub fn new(client_id: impl Into<String>) -> ManagedIdentity {
        ManagedIdentity {
            client_id: client_id.into(),
            object_id: uuid::Uuid::new_v4().to_string(),
            resource_id: None,
            display_name: None,
            system_assigned: false,
        }
    }

    /// Set the object id (principal id).
    pub fn object_id(mut self, object_id: impl Into<String>) -> ManagedIdentity {
        self.object_id = object_id.into();
        self
    }

    /// Set the Azure resource id.
    pub fn resource_id(mut self, resource_id: impl Into<String>) -> ManagedIdentity {
        self.resource_id = Some(resource_id.into());
        self
    }

    /// Set the display name (also the last segment of the default resource id).
    pub fn display_name(mut self, name: impl Into<String>) -> ManagedIdentity {
        self.display_name = Some(name.into());
        self
    }

    /// Make it the system-assigned identity of the emulated host.
    pub fn system_assigned(mut self) -> ManagedIdentity {
        self.system_assigned = true;
        self
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The object id (principal id): `oid` and `sub` of its tokens.
    pub fn principal_id(&self) -> &str {
        &self.object_id
    }

    /// The display name, or its default.
    pub fn name(&self) -> String {
        self.display_name.clone().unwrap_or_else(|| {
            let short: String = self.client_id.chars().take(8).collect();
            format!("identity-{short}")
        })
    }

    /// The Azure resource id, or its default (see the type's documentation).
    pub fn azure_resource_id(&self) -> String {
        self.resource_id.clone().unwrap_or_else(|| {
            let kind = if self.system_assigned {
                "Microsoft.Web/sites"
            } else {
                "Microsoft.ManagedIdentity/userAssignedIdentities"
            };
            format!("{DEFAULT_RESOURCE_GROUP}/{kind}/{}", self.name())
        })
    }

    /// Is it the system-assigned identity?
    pub fn is_system_assigned(&self) -> bool {
        self.system_assigned
    }

    /// Does a selector of a token request name it: `client_id` and `principal_id` / `object_id`
    /// case-insensitively, the resource id case-insensitively (Azure resource ids are).
    pub(crate) fn selected_by(&self, selector: &IdentitySelector) -> bool {
        match selector {
            IdentitySelector::System => self.system_assigned,
            IdentitySelector::ClientId(id) => self.client_id.eq_ignore_ascii_case(id),
            IdentitySelector::ObjectId(id) => self.object_id.eq_ignore_ascii_case(id),
            IdentitySelector::ResourceId(id) => self
                .azure_resource_id()
                .trim_end_matches('/')
                .eq_ignore_ascii_case(id.trim_end_matches('/')),
        }
    }
}

/// Which identity a managed identity token request asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum IdentitySelector {
    /// None named: the system-assigned identity.
    System,
    ClientId(String),
    ObjectId(String),
    ResourceId(String),
}

/// A federated identity credential on an app registration (workload identity federation): a
/// token from `issuer` whose `sub` is `subject` and whose `aud` is one of `audiences` is
/// accepted as the app's `client_assertion`, as Entra accepts a Kubernetes service-account
/// token, a GitHub Actions token or a token of another cloud.
///
/// ```
/// use entra_emulator::{App, FederatedCredential};
/// let app = App::new("5c1d8a4e-7f3b-4e2a-9c6d-1b8e0f4a7d32").federated_credential(FederatedCredential::new(
///     "https://oidc.prod-aks.azure.com/tenant/cluster/",
///     "system:serviceaccount:default:my-app",
/// ));
/// assert_eq!(app.federated_credentials()[0].audiences, ["api://AzureADTokenExchange"]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FederatedCredential {
    /// The credential's name (unique per app in Entra; informative here).
    pub name: String,
    /// The issuer, compared exactly with the token's `iss`.
    pub issuer: String,
    /// The subject, compared exactly with the token's `sub`.
    pub subject: String,
    /// The accepted audiences (Entra allows one); empty means `api://AzureADTokenExchange`.
    pub audiences: Vec<String>,
}

impl Default for FederatedCredential {
    fn default() -> FederatedCredential {
        FederatedCredential {
            name: String::new(),
            issuer: String::new(),
            subject: String::new(),
            audiences: vec![AZURE_AD_TOKEN_EXCHANGE.to_owned()],
        }
    }
}

impl FederatedCredential {
    /// A credential for tokens of `issuer` about `subject`, with the audience
    /// `api://AzureADTokenExchange` and a name derived from the subject.
    pub fn new(issuer: impl Into<String>, subject: impl Into<String>) -> FederatedCredential {
        let subject = subject.into();
        FederatedCredential {
            name: subject.replace([':', '/'], "-"),
            issuer: issuer.into(),
            subject,
            ..FederatedCredential::default()
        }
    }

    /// Set the name.
    pub fn name(mut self, name: impl Into<String>) -> FederatedCredential {
        self.name = name.into();
        self
    }

    /// Accept this audience instead of the ones set so far.
    pub fn audience(mut self, audience: impl Into<String>) -> FederatedCredential {
        self.audiences = vec![audience.into()];
        self
    }

    /// Whether `aud` is one of the accepted audiences (the default one when none is set).
    pub(crate) fn accepts_audience(&self, aud: &str) -> bool {
        if self.audiences.is_empty() {
            return aud == AZURE_AD_TOKEN_EXCHANGE;
        }
        self.audiences.iter().any(|a| a == aud)
    }
}

impl fmt::Display for IdentitySelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdentitySelector::System => f.write_str("the system-assigned identity"),
            IdentitySelector::ClientId(id) => write!(f, "client id {id}"),
            IdentitySelector::ObjectId(id) => write!(f, "object id {id}"),
            IdentitySelector::ResourceId(id) => write!(f, "resource id {id}"),
        }
    }
}

impl super::Directory {
    /// Register a managed identity as a service principal of the tenant; see
    /// [`Emulator::add_managed_identity`](crate::Emulator::add_managed_identity).
    pub(crate) fn add_managed_identity(
        &mut self,
        tid: &str,
        identity: ManagedIdentity,
    ) -> Result<(), EmulatorError> {
        let err = |why: String| EmulatorError::Config(format!("tenant {tid}: {why}"));
        check_guid("managed identity client id", &identity.client_id)?;
        check_guid("managed identity object id", &identity.object_id)?;
        let resource_id = identity.azure_resource_id();
        if !resource_id.starts_with('/') {
            return Err(err(format!(
                "managed identity resource id '{resource_id}' is not an Azure resource id (/subscriptions/...)"
            )));
        }
        for (other_tid, tenant) in &self.tenants {
            for other in tenant.apps().filter_map(|a| a.managed_identity.as_ref()) {
                let clash = if other.system_assigned && identity.system_assigned {
                    Some(
                        "a system-assigned identity is registered already (at most one per emulator)",
                    )
                } else if other.client_id.eq_ignore_ascii_case(&identity.client_id) {
                    Some("its client id is used by another managed identity")
                } else if other.object_id.eq_ignore_ascii_case(&identity.object_id) {
                    Some("its object id is used by another managed identity")
                } else if other.azure_resource_id().eq_ignore_ascii_case(&resource_id) {
                    Some("its resource id is used by another managed identity")
                } else {
                    None
                };
                if let Some(why) = clash {
                    return Err(err(format!(
                        "managed identity {}: {why} ({} in tenant {other_tid})",
                        identity.client_id, other.client_id
                    )));
                }
            }
        }
        if self
            .tenant(tid)
            .is_some_and(|t| t.app(&identity.client_id).is_some())
        {
            return Err(err(format!(
                "managed identity {}: an app with this client id is registered already",
                identity.client_id
            )));
        }
        let mut app = App::new(identity.client_id.clone()).display_name(identity.name());
        app.managed_identity = Some(identity);
        self.register_app(tid, app);
        Ok(())
    }

    /// The managed identity a token request selects, with its tenant id.
    pub(crate) fn managed_identity(
        &self,
        selector: &IdentitySelector,
    ) -> Option<(&str, &ManagedIdentity)> {
        self.tenants.iter().find_map(|(tid, t)| {
            t.apps()
                .filter_map(|a| a.managed_identity.as_ref())
                .find(|mi| mi.selected_by(selector))
                .map(|mi| (tid.as_str(), mi))
        })
    }
}
