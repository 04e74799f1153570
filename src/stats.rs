//! The ledger's endpoints: `/api/stats` (JSON), `/api/stats/stream` (the same JSON once a second
//! over SSE, for the pages), `/api/tap` (a client's raw traffic, live) and `/metrics`
//! (Prometheus). None of their own traffic is counted under the five transports.

use std::convert::Infallible;
use std::time::Duration;

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use std::sync::Arc;

use futures_util::{Stream, StreamExt, stream};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;

use crate::error::AppError;
use crate::ledger::wire::PeerGone;
use crate::ledger::{self, Stats, metrics};
use crate::params::Params;
use crate::state::AppState;
use crate::transports::{EVENT_STREAM, streaming_response};

/// How often `/api/stats/stream` sends a snapshot.
pub const STATS_INTERVAL: Duration = Duration::from_secs(1);

fn stats(state: &AppState, client: Option<&str>) -> Result<Stats, AppError> {
    state.ledger.stats(client).ok_or_else(|| {
        AppError::NotFound(format!(
            "no traffic has been seen for client {:?}",
            client.unwrap_or_default()
        ))
    })
}

pub async fn stats_json(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let params = Params::query(req.query_string())?;
    let client = params
        .get("client")
        .map(ledger::check_client_id)
        .transpose()?;
    let stats = match params.get("room") {
        // Server-wide, on a shared bus: what the link to Redis costs too.
        None if client.is_none() && state.bus.backplane().is_some() => {
            let mut json = serde_json::to_value(stats(&state, None)?)
                .map_err(|e| AppError::Internal(e.to_string()))?;
            if let (Some(map), Some(backplane)) = (json.as_object_mut(), state.bus.backplane()) {
                map.insert("backplane".to_owned(), backplane.report());
            }
            return Ok(HttpResponse::Ok()
                .insert_header((CACHE_CONTROL, "no-store"))
                .json(json));
        }
        None => stats(&state, client)?,
        Some(_) if client.is_some() => {
            return Err(AppError::bad_request(
                "ask for one client or one room, not both",
            ));
        }
        Some(_) => {
            let room = params.room()?;
            state.ledger.room_stats(&room).ok_or_else(|| {
                AppError::NotFound(format!("no traffic has been seen in room {room:?}"))
            })?
        }
    };
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(stats))
}

/// SSE of the stats every second. A client id not seen yet is registered, so a page can open
/// its stats stream before its first transport request.
pub async fn stats_stream(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let params = Params::query(req.query_string())?;
    let client = params
        .get("client")
        .map(ledger::check_client_id)
        .transpose()?
        .map(str::to_owned);
    if let Some(id) = &client {
        state.ledger.client_or_register(id);
    }
    let mut tick = tokio::time::interval(STATS_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let body = stream::unfold(
        (state, client, tick),
        |(state, client, mut tick)| async move {
            tokio::select! {
                biased;
                () = state.shutdown.streams().cancelled() => None,
                _ = tick.tick() => {
                    let stats = state.ledger.stats(client.as_deref())?;
                    let json = serde_json::to_string(&stats).ok()?;
                    Some((Ok::<_, Infallible>(Bytes::from(format!("data: {json}\n\n"))), (state, client, tick)))
                }
            }
        },
    );
    Ok(streaming_response(EVENT_STREAM, body))
}

/// SSE of one client's raw traffic: one `event: tap` per record, its lines as `data:` lines.
pub async fn tap(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let params = Params::query(req.query_string())?;
    let id = params
        .get("client")
        .map(ledger::check_client_id)
        .transpose()?
        .ok_or_else(|| AppError::bad_request("the tap needs ?client=ID"))?;
    let client = state.ledger.client_or_register(id).ok_or_else(|| {
        AppError::Unavailable("the client registry is full of connected clients".into())
    })?;
    let records = client.tap.subscribe().ok_or_else(|| {
        AppError::Unavailable(format!(
            "client {id} already has the most watchers a tap allows ({})",
            ledger::tap::MAX_WATCHERS
        ))
    })?;
    let with_stats = match params.get("stats") {
        None | Some("0") => false,
        Some("1") => true,
        Some(other) => {
            return Err(AppError::bad_request(format!(
                "stats must be 1 (the client's counters once a second as `event: stats`) or 0, got {other:?}"
            )));
        }
    };
    let peer_gone = req.conn_data::<PeerGone>().cloned().unwrap_or_default();
    let hello = Bytes::from(format!(
        "retry: 2000\n: tap for client {id}: requests and responses carrying ?client={id} appear below\n\n"
    ));
    let stats = with_stats.then(|| {
        let mut tick = tokio::time::interval(STATS_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        (state.ledger.clone(), tick)
    });
    let body = stream::once(async move { Ok::<_, Infallible>(hello) }).chain(tap_records(
        records,
        Ends {
            shutdown: state.shutdown.streams().clone(),
            peer_gone,
            heartbeat: state.config.heartbeat_interval(),
        },
        client,
        stats,
    ));
    Ok(streaming_response(EVENT_STREAM, body))
}

/// The client's counters as one SSE event, `event: stats`.
fn stats_event(ledger: &ledger::Ledger, client: &str) -> Option<String> {
    let json = serde_json::to_string(&ledger.stats(Some(client))?).ok()?;
    Some(format!("event: stats\ndata: {json}\n\n"))
}

/// What ends a tap, and keeps it honest while idle.
struct Ends {
    shutdown: CancellationToken,
    /// The watcher closed its connection: end at once (a tap writes nothing while its client is
    /// quiet, so a failed write would never come to tell).
    peer_gone: PeerGone,
    /// A comment this often while no record flows, so a watcher that vanished without closing is
    /// found by a failed write.
    heartbeat: Duration,
}

/// The ledger and the clock of a tap that also carries its client's counters (`?stats=1`).
type StatsTick = (ledger::Ledger, tokio::time::Interval);

/// The next tick of a tap's counters; never, for a tap without them.
async fn stats_tick(stats: &mut Option<StatsTick>) {
    match stats {
        Some((_, tick)) => {
            tick.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// Tap records as SSE events until shutdown or the watcher leaves, and with `stats` the client's
/// counters once a second: one stream where a page would otherwise hold two of the browser's six
/// connections. Holds the client so it is not evicted while watched.
fn tap_records(
    records: broadcast::Receiver<Arc<str>>,
    ends: Ends,
    client: Arc<ledger::Client>,
    stats: Option<StatsTick>,
) -> impl Stream<Item = Result<Bytes, Infallible>> {
    stream::unfold(
        (records, ends, client, stats),
        |(mut records, ends, client, mut stats)| async move {
            let text = tokio::select! {
                biased;
                () = ends.shutdown.cancelled() => return None,
                () = ends.peer_gone.gone() => return None,
                () = stats_tick(&mut stats) => {
                    let event = stats
                        .as_ref()
                        .and_then(|(ledger, _)| stats_event(ledger, &client.id))
                        // Never an empty chunk: on a chunked body that would end the stream.
                        .unwrap_or_else(|| ": no counters\n\n".to_owned());
                    return Some((Ok(Bytes::from(event)), (records, ends, client, stats)));
                }
                record = records.recv() => match record {
                    Ok(record) => record.to_string(),
                    Err(RecvError::Lagged(missed)) => format!("(tap fell behind: {missed} records not shown)"),
                    Err(RecvError::Closed) => return None,
                },
                () = tokio::time::sleep(ends.heartbeat) => {
                    return Some((Ok(Bytes::from_static(b": heartbeat\n\n")), (records, ends, client, stats)));
                }
            };
            let mut event = String::with_capacity(text.len() + 32);
            event.push_str("event: tap\n");
            for line in text.lines() {
                event.push_str("data: ");
                event.push_str(line);
                event.push('\n');
            }
            event.push('\n');
            Some((Ok(Bytes::from(event)), (records, ends, client, stats)))
        },
    )
}

pub async fn prometheus(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let text = metrics::render(
        &state.ledger,
        state.config.metrics_rooms,
        state.bus.backplane(),
    )
    .map_err(|e| AppError::Internal(format!("metrics encoding failed: {e}")))?;
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, metrics::CONTENT_TYPE))
        .body(text))
}
