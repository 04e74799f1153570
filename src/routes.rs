//! The routing table: every path the server answers, in one place.
//!
//! Each resource lists its method; any other method gets a JSON 405 with `Allow`, and any unknown
//! path a JSON 404, so a curl user always learns what went wrong.

use actix_web::{HttpRequest, HttpResponse, Route, web};
use serde_json::json;

use crate::error::AppError;
use crate::state::AppState;
use crate::transports::{self, Transport};
use crate::{assets, overhead, pages, publish, stats};

/// Registers every route on an `App`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    for transport in Transport::ALL {
        cfg.service(resource(
            transport.path(),
            "GET",
            transports::route(transport),
        ));
    }
    cfg.service(resource("/healthz", "GET", web::get().to(healthz)))
        .service(resource(
            "/api/messages",
            "POST",
            web::post().to(publish::publish),
        ))
        .service(resource(
            "/api/stats",
            "GET",
            web::get().to(stats::stats_json),
        ))
        .service(resource(
            "/api/stats/stream",
            "GET",
            web::get().to(stats::stats_stream),
        ))
        .service(resource("/api/tap", "GET", web::get().to(stats::tap)))
        .service(resource(
            "/metrics",
            "GET",
            web::get().to(stats::prometheus),
        ))
        .service(resource("/", "GET", web::get().to(pages::index)))
        .service(resource(
            "/transports/{name}",
            "GET",
            web::get().to(pages::transport),
        ))
        .service(resource("/overhead", "GET", web::get().to(pages::overhead)))
        .service(resource(
            "/walkthrough",
            "GET",
            web::get().to(pages::walkthrough),
        ))
        .service(resource(
            "/api/overhead",
            "GET",
            web::get().to(overhead::overhead_json),
        ))
        .service(resource(
            "/static/{file}",
            "GET",
            web::get().to(assets::serve),
        ))
        .default_service(web::to(not_found));
}

fn resource(path: &str, allow: &'static str, route: Route) -> actix_web::Resource {
    web::resource(path)
        .route(route)
        .default_service(web::to(move |req: HttpRequest| async move {
            Err::<HttpResponse, _>(AppError::MethodNotAllowed {
                method: req.method().to_string(),
                allow,
            })
        }))
}

/// Alive, which run (the epoch every cursor carries), and how full: a supervisor restarts on no
/// answer or a non-200; `connections.full` says new clients are being turned away, which is load,
/// not failure.
async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    let (open, max) = state.connections.fill();
    HttpResponse::Ok().json(json!({
        "status": "ok",
        "epoch": state.bus.epoch(),
        "connections": {"open": open, "max": max, "full": open >= max},
    }))
}

async fn not_found(req: HttpRequest) -> Result<HttpResponse, AppError> {
    Err(AppError::NotFound(format!(
        "no route for {} {}",
        req.method(),
        req.path()
    )))
}
