//! The workload identity issuers' documents, tagged
//! [`Endpoint::WorkloadIssuer`](crate::Endpoint::WorkloadIssuer):
//! `/workload/{name}/.well-known/openid-configuration` and `/workload/{name}/openid/v1/jwks`,
//! shaped like a Kubernetes cluster's service account issuer. An unknown name is a 404.

use axum::extract::{Path, State as AxState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};

use super::{Shared, json_response};
use crate::state::read;
use crate::workload::{discovery_document, key_set};

/// The discovery document of an issuer.
pub(crate) fn discovery_route() -> MethodRouter<Shared> {
    get(
        |AxState(state): AxState<Shared>, Path(name): Path<String>| async move {
            if read(&state.workload_issuers).get(&name).is_none() {
                return not_found();
            }
            let issuer = state.urls.workload_issuer(&name);
            json_response(&discovery_document(&issuer), "max-age=3600, public")
        },
    )
}

/// The key set of an issuer.
pub(crate) fn keys_route() -> MethodRouter<Shared> {
    get(
        |AxState(state): AxState<Shared>, Path(name): Path<String>| async move {
            match read(&state.workload_issuers).get(&name) {
                Some(issuer) => json_response(&key_set(issuer), "max-age=3600, public"),
                None => not_found(),
            }
        },
    )
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "Not Found").into_response()
}
