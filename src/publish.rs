//! `POST /api/messages`: how the HTTP transports send. Reads the body within its limit, parses it
//! as JSON, form or plain text, validates it, and answers 201 with the stored message JSON.

use actix_web::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::BytesMut;
use futures_util::StreamExt;

use crate::compose::{self, BodyFormat};
use crate::config::MAX_BODY_BYTES;
use crate::error::AppError;
use crate::params::Params;
use crate::state::AppState;

pub async fn publish(
    req: HttpRequest,
    mut payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let params = Params::query(req.query_string())?;
    // `client` and `transport` only steer the ledger (which reads them from the wire), but a
    // malformed one is refused rather than silently not counted.
    params.client()?;
    params.transport()?;
    let content_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let format = BodyFormat::from_content_type(content_type)?;
    let body = read_body(&req, &mut payload).await?;
    let message = compose::from_body(
        format,
        &body,
        params.get("user"),
        state.config.max_text_bytes,
    )?;
    let stored = state.bus.publish(&message.user, &message.text);
    Ok(HttpResponse::Created()
        .insert_header((CONTENT_TYPE, "application/json"))
        .body(stored.json()))
}

/// The body, refused with 413 as soon as it is known to exceed the limit (from `Content-Length`
/// before reading anything, or while reading a chunked body), so a huge upload is never buffered.
async fn read_body(req: &HttpRequest, payload: &mut web::Payload) -> Result<BytesMut, AppError> {
    let too_large = || AppError::PayloadTooLarge(format!("body exceeds {MAX_BODY_BYTES} bytes"));
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }
    let mut body =
        BytesMut::with_capacity(declared.unwrap_or(1024).min(MAX_BODY_BYTES as u64) as usize);
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| AppError::bad_request(format!("could not read the body: {e}")))?;
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
