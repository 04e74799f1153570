//! What every answer says about itself, whatever handler wrote it.
//!
//! - `X-Content-Type-Options: nosniff`: a browser must take our JSON and event streams for what
//!   their `Content-Type` says, never sniff them into HTML or script (an error body quotes what
//!   a client sent).
//! - No `Connection: upgrade` on an answer that does not upgrade: actix-http marks every answer
//!   to a request that asked to upgrade (say `Upgrade: h2c`, which this server does not speak)
//!   that way, which tells the client the connection switched protocols when it did not. Only the
//!   WebSocket handshake's `101` upgrades. actix-http keeps the request's connection type unless
//!   the answer says `close`, so such an answer closes the connection: the client learns plainly
//!   that nothing was upgraded, and its next request opens a fresh HTTP/1.1 connection.
//! - On a shared bus (`--bus redis://`) only: `X-Transport-Lab-Node`, the server that answered,
//!   so behind a load balancer a page (or `curl -i`) shows which server each request reached.

use actix_web::{Error, web};

use crate::state::AppState;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue, UPGRADE};
use actix_web::http::{ConnectionType, StatusCode};
use actix_web::middleware::Next;

/// The server that answered, on a shared bus.
pub const NODE_HEADER: HeaderName = HeaderName::from_static("x-transport-lab-node");

/// Middleware: the headers above, on every answer.
pub async fn add(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let asked_to_upgrade = req.headers().contains_key(UPGRADE);
    let node = req
        .app_data::<web::Data<AppState>>()
        .and_then(|state| state.bus.backplane())
        .and_then(|backplane| HeaderValue::from_str(backplane.node()).ok());
    let mut res = next.call(req).await?;
    let response = res.response_mut();
    if let Some(node) = node {
        response.headers_mut().insert(NODE_HEADER, node);
    }
    response.headers_mut().insert(
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    let head = response.head_mut();
    if asked_to_upgrade && head.status != StatusCode::SWITCHING_PROTOCOLS {
        head.set_connection_type(ConnectionType::Close);
    }
    Ok(res)
}
