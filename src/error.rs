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
    /// A body in a format we do not read.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// No such route.
    #[error("{0}")]
    NotFound(String),
    /// The route exists, the method does not; `allow` lists the ones that do.
    #[error("method {method} is not allowed here; use {allow}")]
    MethodNotAllowed { method: String, allow: &'static str },
    /// A limit of the server was reached; trying later may work.
    #[error("{0}")]
    Unavailable(String),
    /// Our fault, not the client's; logged, and reported without internals.
    #[error("{0}")]
    Internal(String),
}

impl AppError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::BadRequest(message.into())
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::Internal(detail) = self {
            tracing::error!(%detail, "internal error");
        }
        let mut response = HttpResponse::build(self.status_code());
        if let Self::MethodNotAllowed { allow, .. } = self {
            response.insert_header((header::ALLOW, HeaderValue::from_static(allow)));
        }
        response.json(Body {
            error: &self.to_string(),
        })
    }
}
