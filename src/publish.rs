//! `POST /api/messages?room=NAME&except=CLIENT`: how the HTTP transports send. Reads the body
//! within its limit, parses it as JSON, form or plain text, validates it, and answers 201 with the
//! stored message JSON. `room` (default: the lobby) is where it is said; `except` names the client
//! it is not for: the sender's own, for Socket.IO's "broadcast to everyone but me".

use std::time::Duration;

use actix_web::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::BytesMut;
use futures_util::StreamExt;

use crate::compose::{self, BodyFormat};
use crate::error::AppError;
use crate::params::{Params, quote};
use crate::permit::publish_permit;
use crate::presence::MemberKey;
use crate::state::AppState;
use crate::transports::Transport;
use crate::{ledger, origin};

pub async fn publish(
    req: HttpRequest,
    mut payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    // First: a page of another site learns nothing else about the request.
    origin::check_write(&req, &state.config)?;
    let params = Params::query(req.query_string())?;
    // `client` and `transport` only steer the ledger (which reads them from the wire), but a
    // malformed one is refused rather than silently not counted.
    if let Some(id) = params.get("client") {
        ledger::check_client_id(id)?;
    }
    let except = params
        .get("except")
        .map(|id| {
            ledger::check_client_id(id)
                .map(MemberKey::from)
                .map_err(|_| {
                    AppError::bad_request(format!(
                        "except must be a client id; {}",
                        ledger::InvalidClientId
                    ))
                })
        })
        .transpose()?;
    let room = params.room()?;
    if let Some(name) = params.get("transport") {
        transport(name)?;
    }
    let content_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let format = BodyFormat::from_content_type(content_type)?;
    let body = read_body(
        &req,
        &mut payload,
        state.config.max_body_bytes,
        Duration::from_secs(state.config.request_timeout),
    )
    .await?;
    let message = compose::from_body(
        format,
        &body,
        params.get("user"),
        state.config.max_text_bytes,
    )?;
    let room = state.bus.open(&room, None).await?;
    let _permit = publish_permit(&state, req.peer_addr().map(|a| a.ip()))?;
    let stored = state
        .bus
        .publish(&room, &message.user, &message.text, except)
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((CONTENT_TYPE, "application/json"))
        .body(stored.json()))
}

/// `?transport=` on a post: which transport's ledger the send is counted under.
fn transport(name: &str) -> Result<Transport, AppError> {
    Transport::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = Transport::ALL.iter().map(|t| t.name()).collect();
        AppError::bad_request(format!(
            "transport must be one of {}; got {}",
            names.join(", "),
            quote(name)
        ))
    })
}

/// The body, refused with 413 as soon as it is known to exceed the limit (from `Content-Length`
/// before reading anything, or while reading a chunked body), so a huge upload is never buffered;
/// and with 408 when no byte of it arrives for `patience` (actix's `--request-timeout` covers the
/// head only, so a body promised and never sent would otherwise hold the connection for good).
pub async fn read_body(
    req: &HttpRequest,
    payload: &mut web::Payload,
    max: usize,
    patience: Duration,
) -> Result<BytesMut, AppError> {
    let too_large = || AppError::PayloadTooLarge(format!("body exceeds {max} bytes"));
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max as u64) {
        return Err(too_large());
    }
    let mut body = BytesMut::with_capacity(declared.unwrap_or(1024).min(max as u64) as usize);
    let stalled = || {
        AppError::RequestTimeout(format!(
            "the body stopped arriving: nothing for {} s (see --request-timeout)",
            patience.as_secs()
        ))
    };
    while let Some(chunk) = tokio::time::timeout(patience, payload.next())
        .await
        .map_err(|_| stalled())?
    {
        let chunk =
            chunk.map_err(|e| AppError::bad_request(format!("could not read the body: {e}")))?;
        if body.len() + chunk.len() > max {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
