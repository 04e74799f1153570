//! The routing table: every path the server answers, in one place.
//!
//! Each resource lists its method; any other method gets a JSON 405 with `Allow`, and any unknown
//! path a JSON 404, so a curl user always learns what went wrong.

use actix_web::middleware::Compress;
use actix_web::{FromRequest, Handler, HttpRequest, HttpResponse, Responder, Route, web};
use serde_json::json;

use crate::backplane::Health;
use crate::error::AppError;
use crate::state::AppState;
use crate::transports::{self, Transport};
use crate::{assets, lab, overhead, pages, publish, reset, rooms, stats};

/// Registers every route on an `App`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    // The transports answer GET alone: a HEAD would be a subscription nobody reads.
    for transport in Transport::ALL {
        let (routes, allow) = transports::routes(transport);
        cfg.service(resource(transport.path(), allow, routes));
    }
    cfg.service(get_and_head("/healthz", healthz))
        .service(resource(
            "/api/messages",
            "POST",
            [web::post().to(publish::publish)],
        ))
        .service(resource(
            "/api/reset",
            "POST",
            [web::post().to(reset::reset)],
        ))
        .service(get_and_head("/api/stats", stats::stats_json))
        .service(resource(
            "/api/lab",
            "GET, POST, DELETE",
            [
                web::get().to(lab::get),
                web::post().to(lab::set),
                web::delete().to(lab::clear),
            ],
        ))
        .service(get_and_head("/api/rooms", rooms::list))
        .service(get_and_head("/api/rooms/{name}", rooms::one))
        .service(resource(
            "/api/stats/stream",
            "GET",
            [web::get().to(stats::stats_stream)],
        ))
        .service(resource("/api/tap", "GET", [web::get().to(stats::tap)]))
        .service(get_and_head("/metrics", stats::prometheus))
        .service(compressed(get_and_head("/", pages::index)))
        .service(compressed(get_and_head(
            "/transports/{name}",
            pages::transport,
        )))
        .service(compressed(get_and_head("/overhead", pages::overhead)))
        .service(compressed(get_and_head("/walkthrough", pages::walkthrough)))
        .service(compressed(get_and_head(
            "/walkthrough/notes",
            pages::walkthrough_notes,
        )))
        .service(compressed(get_and_head("/class", pages::class)))
        .service(compressed(get_and_head("/lab", pages::lab)))
        .service(get_and_head("/api/overhead", overhead::overhead_json))
        .service(compressed(get_and_head("/static/{file}", assets::serve)))
        .default_service(web::to(not_found));
}

/// A page or static file, gzipped for clients that accept it: a classroom on one Wi-Fi loads
/// the pages several times faster. Only these: an `/api` answer keeps the exact bytes the
/// ledger counts and the pages teach.
fn compressed(resource: actix_web::Resource) -> impl actix_web::dev::HttpServiceFactory {
    resource.wrap(Compress::default())
}

/// A resource answering GET, and HEAD as GET without the body (actix leaves the body out), so
/// `curl -I` works on every page and document.
fn get_and_head<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: Handler<Args> + Clone,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    resource(
        path,
        "GET, HEAD",
        [web::get().to(handler.clone()), web::head().to(handler)],
    )
}

fn resource(
    path: &str,
    allow: &'static str,
    routes: impl IntoIterator<Item = Route>,
) -> actix_web::Resource {
    routes
        .into_iter()
        .fold(web::resource(path), actix_web::Resource::route)
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
    let Some(backplane) = state.bus.backplane() else {
        return HttpResponse::Ok().json(json!({
            "status": "ok",
            "epoch": state.bus.epoch(),
            "connections": {"open": open, "max": max, "full": open >= max},
        }));
    };
    // On a shared bus the lobby's epoch is Redis's, and this server may have lost Redis: still
    // 200 (it serves what it has, and its open streams resume when Redis is back), but
    // `degraded`, with the reason, so a load balancer or a person can see it.
    let (status, reason) = match backplane.health() {
        Health::Up => ("ok", None),
        Health::Connecting => ("degraded", Some("connecting to the bus (Redis)".to_owned())),
        Health::Down { reason, since } => (
            "degraded",
            Some(format!(
                "the bus (Redis) is unreachable since {} s ago: {reason}",
                since.elapsed().as_secs()
            )),
        ),
    };
    HttpResponse::Ok().json(json!({
        "status": status,
        "reason": reason,
        "epoch": Some(state.bus.lobby()).filter(|l| l.is_loaded()).map(|l| l.epoch()),
        "connections": {"open": open, "max": max, "full": open >= max},
        "bus": {"kind": "redis", "url": backplane.url(), "node": &**backplane.node()},
    }))
}

async fn not_found(req: HttpRequest) -> Result<HttpResponse, AppError> {
    Err(AppError::NotFound(format!(
        "no route for {} {}",
        req.method(),
        req.path()
    )))
}
