//! The files under `static/`, compiled into the binary so `cargo run --release` serves the pages
//! from any directory, offline, with nothing to install.

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{HttpResponse, web};

use crate::error::AppError;

/// Name, content type and bytes of every static file.
const FILES: &[(&str, &str, &str)] = &[
    ("style.css", CSS, include_str!("../static/style.css")),
    ("errors.js", JS, include_str!("../static/errors.js")),
    ("transports.js", JS, include_str!("../static/transports.js")),
    ("socketio.js", JS, include_str!("../static/socketio.js")),
    ("demo.js", JS, include_str!("../static/demo.js")),
    ("protocol.js", JS, include_str!("../static/protocol.js")),
    ("lesson.js", JS, include_str!("../static/lesson.js")),
    ("dance.js", JS, include_str!("../static/dance.js")),
    ("overhead.js", JS, include_str!("../static/overhead.js")),
    ("rooms.js", JS, include_str!("../static/rooms.js")),
    ("class.js", JS, include_str!("../static/class.js")),
    ("lab.js", JS, include_str!("../static/lab.js")),
    ("lab-client.js", JS, include_str!("../static/lab-client.js")),
    ("auto.js", JS, include_str!("../static/auto.js")),
    ("hostile.js", JS, include_str!("../static/hostile.js")),
    ("lab.css", CSS, include_str!("../static/lab.css")),
    (
        "walkthrough.js",
        JS,
        include_str!("../static/walkthrough.js"),
    ),
];

const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

pub async fn serve(file: web::Path<String>) -> Result<HttpResponse, AppError> {
    let (_, content_type, body) = FILES
        .iter()
        .find(|(name, _, _)| *name == file.as_str())
        .ok_or_else(|| AppError::NotFound(format!("no static file {:?}", file.as_str())))?;
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, *content_type))
        .insert_header((CACHE_CONTROL, "no-cache"))
        .body(*body))
}
