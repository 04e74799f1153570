//! `GET /api/rooms` and `GET /api/rooms/NAME`: which rooms exist, who is in each (by transport),
//! and what each holds. Reading creates nothing: a room exists once a subscribe or a publish
//! names it.

use actix_web::http::header::CACHE_CONTROL;
use actix_web::{HttpResponse, web};
use protocol::{PerTransport, RoomName};
use serde::Serialize;

use crate::error::AppError;
use crate::room::Room;
use crate::state::AppState;

/// One room, as both endpoints list it.
#[derive(Debug, Serialize)]
pub struct RoomSummary {
    pub room: RoomName,
    /// Distinct members now (see [`crate::presence`]).
    pub members: u64,
    pub by_transport: PerTransport,
    /// The id of its newest message: where a reader without a cursor starts.
    pub newest_id: u64,
    /// Messages its history holds for resume.
    pub retained: usize,
    /// What that history costs in memory, counted against `--max-history-bytes`.
    pub history_bytes: usize,
}

impl RoomSummary {
    fn of(room: &Room) -> Self {
        let count = room.presence().headcount();
        let (retained, history_bytes) = room.retained();
        Self {
            room: room.name().clone(),
            members: count.members,
            by_transport: count.by_transport,
            newest_id: room.newest_id(),
            retained,
            history_bytes,
        }
    }
}

#[derive(Serialize)]
struct Rooms {
    rooms: Vec<RoomSummary>,
    max_rooms: usize,
    history_bytes: HistoryBytes,
    /// How long a poll keeps its client a member.
    presence_window_s: f64,
}

#[derive(Serialize)]
struct HistoryBytes {
    used: usize,
    max: usize,
}

pub async fn list(state: web::Data<AppState>) -> HttpResponse {
    let rooms = state.bus.rooms_by_name();
    let (used, max) = state.bus.history_bytes();
    let body = Rooms {
        rooms: rooms.iter().map(RoomSummary::of).collect(),
        max_rooms: state.bus.settings().max_rooms,
        history_bytes: HistoryBytes { used, max },
        presence_window_s: state.bus.settings().presence_window.as_secs_f64(),
    };
    HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(body)
}

pub async fn one(
    name: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let name = RoomName::parse(&name)?;
    let room = state.bus.find(&name).ok_or_else(|| {
        AppError::NotFound(format!(
            "there is no room {:?}; a room exists once someone subscribes or posts to it",
            name.as_str()
        ))
    })?;
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(RoomSummary::of(&room)))
}
