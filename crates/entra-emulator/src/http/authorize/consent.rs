//! Consent during sign-in: what the signed-in user still has to consent to, the consent page's
//! answer, and recording the consent the user gives.

use super::{AuthorizationRequest, PendingAuthorization, proceed, refuse};
use crate::directory::ConsentRegistration;
use crate::http::form::Form;
use crate::http::token::Scopes;
use crate::http::{AadError, pages};
use crate::state::{State, read, write};
use crate::store::Session;

/// The consent a request needs from the signed-in user.
pub(super) struct ConsentCheck {
    /// Every scope asked (for the consent page).
    pub(super) asked: Vec<String>,
    /// Scopes not consented yet that the user may consent to.
    pub(super) missing: Vec<String>,
    /// Scopes not consented yet that only an administrator may consent to.
    pub(super) admin_only: Vec<String>,
    /// The resource as the request named it.
    pub(super) resource: String,
    pub(super) app_name: String,
    pub(super) resource_name: String,
}

impl ConsentCheck {
    pub(super) fn run(
        state: &State,
        request: &AuthorizationRequest,
        session: &Session,
    ) -> Result<ConsentCheck, AadError> {
        let scopes = Scopes::parse(&request.scope)?;
        let directory = read(&state.directory);
        let tenant = directory
            .tenant(&request.tid)
            .ok_or_else(|| AadError::tenant_not_found(&request.tid))?;
        let client = tenant
            .app(&request.client_id)
            .ok_or_else(|| AadError::application_not_found(&request.client_id, &request.tid))?;
        let resource = tenant
            .resource(&scopes.resource)
            .ok_or_else(|| AadError::resource_not_found(&scopes.resource, &request.tid))?;
        let asked = scopes.grantable(client, resource, &request.scope)?;
        let refs: Vec<&str> = asked.iter().map(String::as_str).collect();
        let unconsented = tenant.missing_consent(
            Some(&session.user_oid),
            &request.client_id,
            resource.client_id(),
            &refs,
        );
        let (admin_only, missing): (Vec<String>, Vec<String>) = unconsented
            .into_iter()
            .partition(|s| resource.find_scope(s).is_some_and(|d| d.admin_consent_only));
        Ok(ConsentCheck {
            asked,
            missing,
            admin_only,
            app_name: super::app_name(Some(client), &request.client_id),
            resource_name: super::app_name(Some(resource), &scopes.resource),
            resource: scopes.resource,
        })
    }

    /// Record the user's consent to the scopes asked.
    pub(super) fn grant(&self, state: &State, request: &AuthorizationRequest, session: &Session) {
        let consent = ConsentRegistration {
            client_id: request.client_id.clone(),
            resource: self.resource.clone(),
            user: Some(session.user_oid.clone()),
            scopes: self.asked.clone(),
        };
        if let Err(e) = write(&state.directory).grant_consent(&request.tid, consent, false) {
            tracing::warn!(error = %e, "recording consent failed");
        }
    }
}

/// `POST /{tenant}/consent`: `flow`, `decision` = `accept` or `cancel`.
pub(super) fn submit(state: &State, tenant: &str, form: &Form) -> axum::response::Response {
    let flow = form.get("flow").unwrap_or_default();
    let pending = super::take_pending(state, tenant, flow);
    let Some(PendingAuthorization {
        request,
        signed_in: Some(session),
    }) = pending
    else {
        return pages::error(&AadError::sign_in_expired());
    };
    if form.get("decision") != Some("accept") {
        return refuse(state, &request, &AadError::consent_declined());
    }
    match ConsentCheck::run(state, &request, &session) {
        Ok(check) => {
            check.grant(state, &request, &session);
            proceed(state, request, session, true)
        }
        Err(e) => refuse(state, &request, &e),
    }
}
