//! `POST /api/reset?room=NAME`: the teacher starts a room over, so a demo can run again from
//! nothing. The room gets a new epoch (every client's cursor then gets a `reset: true` gap notice,
//! as after a restart of the server, and continues from the new run's first message), its history
//! is emptied, its ids start from 1 again and its ledger counters go back to zero. Other rooms,
//! the transports' totals and each client's own counters are untouched.
//!
//! Only the teacher may (see [`crate::teacher`]), and only from a page of this server (see
//! [`crate::origin::check_teacher`]); the room must be named, even the lobby, because this cannot
//! be undone.

use actix_web::http::header::CACHE_CONTROL;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use crate::error::AppError;
use crate::origin;
use crate::params::Params;
use crate::state::AppState;

pub async fn reset(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    // First: a page of another site, or someone who is not the teacher, learns nothing else.
    origin::check_teacher(&req, &state.config)?;
    state.teacher.check(&req)?;
    let params = Params::query(req.query_string())?;
    if params.get("room").is_none() {
        return Err(AppError::bad_request(
            "name the room to start over: ?room=NAME (the lobby too: ?room=lobby)",
        ));
    }
    let name = params.room()?;
    let started = state.bus.start_over(name.as_str()).await?.ok_or_else(|| {
        AppError::NotFound(format!(
            "no room {:?}; there is nothing to start over",
            name.as_str()
        ))
    })?;
    state.ledger.clear_room(name.as_str());
    tracing::info!(
        room = name.as_str(),
        previous = %started.previous,
        epoch = %started.epoch,
        dropped = started.dropped,
        "the teacher started a room over"
    );
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(json!({
            "room": name.as_str(),
            "epoch": started.epoch.as_str(),
            "previous_epoch": started.previous.as_str(),
            "last_id": started.last_id,
            "dropped": started.dropped,
        })))
}
