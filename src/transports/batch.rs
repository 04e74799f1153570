//! The JSON answer of both polling transports:
//! `{"messages":[...],"last_id":N,"cursor":"k3x9qa-N","gap":false}`.
//!
//! Assembled from the messages' stored JSON bytes rather than re-serialized, so a poll costs a copy,
//! not an encoding, per message. A message the poller sent "to others" is left out; the cursor
//! moves past it all the same, so it never looks like a gap.

use actix_web::HttpResponse;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use bytes::{BufMut, BytesMut};

use crate::presence::MemberKey;
use crate::room::Since;

/// A 200 with the batch. `cursor` is what to send as `since` next time (`last_id` with the
/// epoch of the run it belongs to; `last_id` alone still works, with the weaker restart check of
/// a bare id); `missed` and `reset` appear only when `gap` is true.
pub fn respond(batch: &Since, viewer: Option<&MemberKey>) -> HttpResponse {
    let epoch = &batch.epoch;
    let payload: usize = batch.messages.iter().map(|m| m.json().len() + 1).sum();
    let mut body = BytesMut::with_capacity(payload + 96);
    body.put_slice(b"{\"messages\":[");
    let visible = batch.messages.iter().filter(|m| !m.hidden_from(viewer));
    for (i, message) in visible.enumerate() {
        if i > 0 {
            body.put_u8(b',');
        }
        body.put_slice(&message.json());
    }
    body.put_slice(
        format!(
            "],\"last_id\":{},\"cursor\":\"{epoch}-{}\",\"gap\":{}",
            batch.cursor,
            batch.cursor,
            batch.is_gap()
        )
        .as_bytes(),
    );
    if batch.is_gap() {
        body.put_slice(format!(",\"missed\":{}", batch.missed).as_bytes());
        if batch.reset {
            body.put_slice(b",\"reset\":true");
        }
    }
    body.put_u8(b'}');
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "application/json"))
        .insert_header((CACHE_CONTROL, "no-store"))
        .body(body.freeze())
}
