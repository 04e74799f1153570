//! `/api/lab?client=ID`: the fault lab's control. `GET` shows a client's faults, `POST` (JSON,
//! see [`FaultSettings`]) replaces them, `DELETE` clears them.
//!
//! Faults belong to a client id, so one student's faults never hurt the class: they apply only to
//! connections whose requests carry that `?client=` (see [`crate::ledger::faults`]). Who may set
//! them: anyone on this machine (loopback), and anyone at all when the server runs with `--lab`.
//! A client id is the page's own random name, so on a lab server each student steers their own.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use crate::error::AppError;
use crate::ledger::faults::FaultSettings;
use crate::ledger::{self, Client};
use crate::params::Params;
use crate::state::AppState;

/// A client's faults, as every lab endpoint answers.
#[derive(Serialize)]
struct LabState<'a> {
    client: &'a str,
    faults: FaultSettings,
}

fn answer(client: &Client) -> HttpResponse {
    HttpResponse::Ok().json(LabState {
        client: &client.id,
        faults: client.faults.settings(),
    })
}

/// The client named by `?client=`, registered if new, after the permission check.
fn client(req: &HttpRequest, state: &AppState) -> Result<std::sync::Arc<Client>, AppError> {
    let loopback = req.peer_addr().is_some_and(|a| a.ip().is_loopback());
    if !loopback && !state.config.lab {
        return Err(AppError::Forbidden(
            "the fault lab is controlled from this machine only; start the server with --lab to let \
             every client set its own faults"
                .to_owned(),
        ));
    }
    let params = Params::query(req.query_string())?;
    let id = params.get("client").ok_or_else(|| {
        AppError::bad_request("client is required: the faults are that client's, ?client=ID")
    })?;
    let id = ledger::check_client_id(id)?;
    state.ledger.client_or_register(id).ok_or_else(|| {
        AppError::Unavailable("too many clients are connected to track another".to_owned())
    })
}

pub async fn get(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let client = client(&req, &state)?;
    Ok(answer(&client))
}

pub async fn set(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let client = client(&req, &state)?;
    let settings: FaultSettings = serde_json::from_slice(&body).map_err(|e| {
        AppError::bad_request(format!(
            "faults must be a JSON object like {{\"buffer_kib\":8,\"idle_cut_s\":5}}: {e}"
        ))
    })?;
    settings
        .check()
        .map_err(|e| AppError::bad_request(e.to_string()))?;
    client.faults.set(&settings);
    tracing::info!(client = %client.id, ?settings, "fault lab: faults set");
    Ok(answer(&client))
}

pub async fn clear(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let client = client(&req, &state)?;
    client.faults.set(&FaultSettings::default());
    Ok(answer(&client))
}

/// Why a WebSocket handshake of `client` is refused, if it is: `--refuse-websocket`, or the
/// lab's refused-upgrade fault.
pub fn refuses_websocket(state: &AppState, client: Option<&str>) -> Option<String> {
    let client = client?;
    if state.config.refuse_websocket.iter().any(|c| c == client) {
        return Some(format!(
            "WebSocket refused for client {client:?} (--refuse-websocket: as a proxy that strips Upgrade would)"
        ));
    }
    state
        .ledger
        .client(client)
        .is_some_and(|c| c.faults.refuses_upgrade())
        .then(|| {
            format!(
                "WebSocket refused for client {client:?} by the fault lab (a proxy that strips Upgrade)"
            )
        })
}
