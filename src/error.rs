//! The one error type of the HTTP API: every failure a client can cause becomes
//! `{"error": "<what is wrong>"}` with the status that names it, and changes nothing.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// What went wrong with a request, in words a client can act on.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Malformed body or parameter: the client must change the request.
    #[error("{0}")]
    BadRequest(String),
    /// Body or text over its limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// A request in a version of HTTP this server does not speak (HTTP/1.0).
    #[error("{0}")]
    VersionNotSupported(String),
    /// The client stopped sending a request it had started (a body that never arrives).
    #[error("{0}")]
    RequestTimeout(String),
    /// A body in a format we do not read.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// No such route.
    #[error("{0}")]
    NotFound(String),
    /// The route exists, the method does not; `allow` lists the ones that do.
    #[error("method {method} is not allowed here; use {allow}")]
    MethodNotAllowed { method: String, allow: &'static str },
    /// A limit of the server was reached, or it is shutting down; trying later may work.
    #[error("{0}")]
    Unavailable(String),
    /// The sender publishes faster than its allowance; `retry_after_s` says when it may again.
    #[error("too many messages from your address; try again in {retry_after_s} s")]
    TooManyRequests { retry_after_s: u64 },
    /// A WebSocket handshake in a protocol version this server does not speak (RFC 6455 §4.4:
    /// answer with the version it does).
    #[error("{0}")]
    UpgradeRequired(String),
    /// The request names a host this server does not answer to (DNS rebinding).
    #[error("{0}")]
    MisdirectedRequest(String),
    /// A browser page from another origin may not open a WebSocket here.
    #[error("{0}")]
    Forbidden(String),
    /// Our fault, not the client's; logged, and reported without internals.
    #[error("{0}")]
    Internal(String),
}

impl AppError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::BadRequest(message.into())
    }
}

impl From<crate::ledger::InvalidClientId> for AppError {
    fn from(error: crate::ledger::InvalidClientId) -> Self {
        Self::bad_request(error.to_string())
    }
}

impl From<crate::bus::RoomsFull> for AppError {
    fn from(error: crate::bus::RoomsFull) -> Self {
        Self::Unavailable(error.to_string())
    }
}

impl From<crate::backplane::BusDown> for AppError {
    fn from(error: crate::backplane::BusDown) -> Self {
        Self::Unavailable(error.to_string())
    }
}

impl From<crate::bus::OpenError> for AppError {
    fn from(error: crate::bus::OpenError) -> Self {
        Self::Unavailable(error.to_string())
    }
}

impl From<protocol::room::InvalidRoomName> for AppError {
    fn from(error: protocol::room::InvalidRoomName) -> Self {
        Self::bad_request(error.to_string())
    }
}

/// Seconds a client is asked to wait after a 503.
pub const RETRY_AFTER_UNAVAILABLE_S: u64 = 5;

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::VersionNotSupported(_) => StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::UpgradeRequired(_) => StatusCode::UPGRADE_REQUIRED,
            Self::MisdirectedRequest(_) => StatusCode::MISDIRECTED_REQUEST,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::Internal(detail) = self {
            tracing::error!(%detail, "internal error");
        }
        let mut response = HttpResponse::build(self.status_code());
        match self {
            Self::MethodNotAllowed { allow, .. } => {
                response.insert_header((header::ALLOW, HeaderValue::from_static(allow)));
            }
            Self::TooManyRequests { retry_after_s } => {
                response.insert_header((header::RETRY_AFTER, retry_after_s.to_string()));
            }
            Self::UpgradeRequired(_) => {
                response.insert_header((
                    header::SEC_WEBSOCKET_VERSION,
                    HeaderValue::from_static("13"),
                ));
            }
            Self::Unavailable(_) => {
                response
                    .insert_header((header::RETRY_AFTER, RETRY_AFTER_UNAVAILABLE_S.to_string()));
            }
            _ => {}
        }
        response.json(Body {
            error: &self.to_string(),
        })
    }
}
