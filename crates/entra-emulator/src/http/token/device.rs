//! The device code grant (`grant_type=urn:ietf:params:oauth:grant-type:device_code`, RFC 8628):
//! the client polls with its device code until the user has entered the user code on the
//! `/devicelogin` page and signed in. Answers, in order: `expired_token`, `slow_down` (polled
//! within the interval), `authorization_pending`, `authorization_declined`, then tokens once.

use super::TokenRequest;
use crate::http::AadError;
use crate::state::{State, lock};
use crate::store::{Approval, DeviceState};

/// Poll with the request's device code for `client_id`: the approval once the user approved.
pub(super) fn redeem(
    state: &State,
    request: &TokenRequest,
    client_id: &str,
) -> Result<Approval, AadError> {
    let device_code = request
        .form
        .get("device_code")
        .or_else(|| request.form.get("code"))
        .ok_or_else(|| AadError::missing_parameter("device_code"))?;
    let now = state.now();
    let mut devices = lock(&state.store.devices);
    let entry = devices
        .get_mut(device_code, now)
        .filter(|d| d.tid == request.tid && d.client_id.eq_ignore_ascii_case(client_id))
        .ok_or_else(AadError::invalid_grant)?;
    if entry.expires_at <= now {
        return Err(AadError::device_code_expired());
    }
    let too_soon = entry
        .last_poll
        .is_some_and(|last| now - last < entry.interval);
    entry.last_poll = Some(now);
    match &entry.state {
        DeviceState::Pending if too_soon => {
            // RFC 8628 3.5: this and every later poll waits 5 seconds longer.
            entry.interval += 5;
            Err(AadError::slow_down())
        }
        DeviceState::Pending => Err(AadError::authorization_pending()),
        DeviceState::Declined => {
            devices.remove(device_code, now);
            Err(AadError::authorization_declined())
        }
        DeviceState::Approved(approval) => {
            let approval = approval.clone();
            devices.remove(device_code, now);
            Ok(approval)
        }
    }
}
