//! The HTML pages, rendered with askama from `templates/`. Every page carries a
//! Content-Security-Policy that allows only our own scripts, styles and connections, so text from
//! a chat message can never become markup or code (askama escapes it as well).

use actix_web::http::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;

use crate::error::AppError;

/// Only same-origin resources, no inline script, no framing by other sites.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    connect-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; \
    frame-ancestors 'none'; form-action 'self'";

/// `/`: what the server offers and the curl line for each transport.
#[derive(Template)]
#[template(path = "index.html")]
struct Index {
    /// `http://host:port` as the browser reached us, so every command on the page works when pasted.
    base: String,
    /// `ws://host:port`.
    ws_base: String,
}

pub async fn index(req: HttpRequest) -> Result<HttpResponse, AppError> {
    let host = req.connection_info().host().to_owned();
    render(&Index {
        base: format!("http://{host}"),
        ws_base: format!("ws://{host}"),
    })
}

fn render(page: &impl Template) -> Result<HttpResponse, AppError> {
    let html = page
        .render()
        .map_err(|e| AppError::Internal(format!("page could not be rendered: {e}")))?;
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((CONTENT_SECURITY_POLICY, CSP))
        .body(html))
}
