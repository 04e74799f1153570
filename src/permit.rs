//! May this peer publish now? The one check both ways of sending go through (`POST
//! /api/messages` and a WebSocket text frame): within the address's publish rate, and not once
//! shutdown has begun.

use std::net::IpAddr;

use crate::error::AppError;
use crate::shutdown::PublishPermit;
use crate::state::AppState;

/// Permission to publish for `peer`. The permit is held until the message is in the bus, so
/// shutdown waits for it: a message that was let in is never lost to shutdown.
pub fn publish_permit(state: &AppState, peer: Option<IpAddr>) -> Result<PublishPermit, AppError> {
    state
        .publish_limiter
        .check(peer)
        .map_err(|wait| AppError::TooManyRequests {
            retry_after_s: wait.as_secs_f64().ceil().max(1.0) as u64,
        })?;
    state.shutdown.publish().ok_or_else(|| {
        AppError::Unavailable("the server is shutting down; no new messages are taken".into())
    })
}
