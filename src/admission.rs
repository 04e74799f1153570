//! What gets served: requests in HTTP/1.1 or HTTP/2 (HTTP/1.0 gets a JSON 505) for a host this server
//! answers to (421 otherwise: DNS rebinding, see [`crate::origin`]), and on a connection
//! admitted over `--max-connections` only `/healthz` or `/metrics`, once. Anything else on such a
//! connection gets the same JSON 503 a refused connection gets, and every answer on it closes it.
//!
//! HTTP/1.0 is refused rather than half served: it has no chunked encoding, so the stream and SSE
//! could only be close-delimited, and its keep-alive is an extension. Every client of the last
//! twenty years speaks HTTP/1.1; one that does not learns so in one clear answer.
//!
//! A server holding its maximum of connections is full, not down. Refusing its health check
//! would make a supervisor restart a healthy server and drop every client it holds, so a few
//! places beyond the cap ([`HEALTH_RESERVE`](crate::limits::HEALTH_RESERVE)) are kept for it.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{ConnectionType, Version};
use actix_web::middleware::Next;
use actix_web::{Error, ResponseError};

use crate::error::AppError;
use crate::limits::Refusal;

/// Marks a connection admitted over the cap (set when the connection is accepted).
#[derive(Debug, Clone, Copy)]
pub struct OverCap {
    /// The cap, for the refusal's words.
    pub max: usize,
}

/// The paths an over-cap connection may ask for.
const HEALTH_PATHS: [&str; 2] = ["/healthz", "/metrics"];

/// Middleware: lets over-cap connections reach only the health endpoints, and closes them after.
pub async fn health_only_over_cap(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let Some(OverCap { max }) = req.conn_data::<OverCap>().copied() else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let mut res = if HEALTH_PATHS.contains(&req.path()) {
        next.call(req).await?.map_into_left_body()
    } else {
        let refusal = AppError::Unavailable(format!(
            "{}; try again later",
            Refusal::TooManyConnections(max)
        ));
        req.into_response(refusal.error_response())
            .map_into_right_body()
    };
    res.response_mut()
        .head_mut()
        .set_connection_type(ConnectionType::Close);
    Ok(res)
}

/// Middleware: only requests for a host this server answers to (see [`crate::origin`]).
pub async fn known_hosts_only(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let checked = req
        .app_data::<actix_web::web::Data<crate::state::AppState>>()
        .map(|state| crate::origin::check_host(req.request(), &state.config));
    match checked {
        Some(Err(refusal)) => Ok(req
            .into_response(refusal.error_response())
            .map_into_right_body()),
        _ => Ok(next.call(req).await?.map_into_left_body()),
    }
}

/// Middleware: HTTP/1.1 or HTTP/2 only; an HTTP/1.0 request gets a JSON 505 and the connection
/// closes.
pub async fn http11_only(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    if matches!(req.version(), Version::HTTP_11 | Version::HTTP_2) {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let refusal = AppError::VersionNotSupported(format!(
        "{:?} is not supported here; use HTTP/1.1",
        req.version()
    ));
    let mut res = req
        .into_response(refusal.error_response())
        .map_into_right_body();
    res.response_mut()
        .head_mut()
        .set_connection_type(ConnectionType::Close);
    Ok(res)
}
