//! `bare`: the reference the ledger's cost is measured against. A plain actix-web app (the
//! `HttpServer` defaults, the same allocator as transport-lab) serving the shapes of
//! transport-lab's cheapest routes with none of its work: no ledger, no counting stream, no
//! admission, limits or parameters.
//!
//! - `GET /healthz`: a JSON object of the same size class as transport-lab's.
//! - `GET /api/poll`: an empty short poll's answer, `{"messages":[],...}`.
//! - `GET /api/sse`: an SSE stream that sends one `ready` event, then each posted text as
//!   `data: TEXT`, or a comment every `--heartbeat` seconds; it holds what an idle subscriber
//!   needs (a timer, a broadcast receiver), so its memory per connection is the floor for a real one.
//! - `GET /api/ws`: a WebSocket (actix-ws, as transport-lab's) that sends one `ready` text, then
//!   each posted text as one text frame; one task per connection, one `select!` loop.
//! - `POST /api/messages`: the body (plain text) goes to every SSE stream and WebSocket, framed
//!   once and shared, so the loadtest can drive it (`--publish-url`, `--subscribe-url`).
//!
//! `loadtest/scripts/cheap-requests.sh` runs both servers side by side under `wrk`; the README's
//! "Cheap requests" rows come from it. `loadtest/scripts/fanout.sh` drives this app's SSE and
//! WebSocket beside transport-lab's: the floor for CPU per delivery.

use std::time::Duration;

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use bytes::Bytes;
use bytestring::ByteString;
use clap::Parser;
use tikv_jemallocator::Jemalloc;
use tokio::sync::broadcast::error::RecvError;

/// The same allocator as transport-lab, so memory per connection compares like with like.
#[global_allocator]
static ALLOCATOR: Jemalloc = Jemalloc;

/// A bare actix-web app with transport-lab's cheapest routes, for side-by-side benchmarks.
#[derive(Debug, Parser)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8081")]
    bind: std::net::SocketAddr,
    /// Worker threads (default: one per core, as transport-lab).
    #[arg(long)]
    workers: Option<usize>,
    /// Seconds between SSE heartbeats.
    #[arg(long, default_value_t = 15)]
    heartbeat: u64,
    /// Open connections in all (actix's per-worker cap is this divided by the workers).
    #[arg(long, default_value_t = 25_000)]
    max_connections: usize,
}

/// Published events, framed once and shared by every stream and socket.
#[derive(Clone)]
struct Shared {
    news: tokio::sync::broadcast::Sender<News>,
}

/// One published text, as each wire carries it.
#[derive(Clone)]
struct News {
    /// `data: TEXT\n\n`.
    sse: Bytes,
    /// The text as it was posted, for a WebSocket text frame.
    text: ByteString,
}

/// Events a slow stream may fall behind by before it skips (it is a reference, not a contract).
const BACKLOG: usize = 4096;

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(
        r#"{"connections":{"full":false,"max":10000,"open":1},"epoch":"bare00","status":"ok"}"#,
    )
}

async fn poll() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((CACHE_CONTROL, "no-store"))
        .body(r#"{"messages":[],"last_id":0,"cursor":"bare00-0","gap":false}"#)
}

async fn sse(shared: web::Data<Shared>, heartbeat: web::Data<Duration>) -> HttpResponse {
    let news = shared.news.subscribe();
    let tick = tokio::time::interval_at(tokio::time::Instant::now() + **heartbeat, **heartbeat);
    let first = Bytes::from_static(b"event: ready\ndata: {\"type\":\"ready\"}\n\n");
    let body = futures_util::stream::unfold(
        (Some(first), news, tick),
        |(first, mut news, mut tick)| async move {
            let event = match first {
                Some(first) => first,
                None => tokio::select! {
                    event = news.recv() => match event {
                        Ok(event) => event.sse,
                        Err(RecvError::Lagged(_)) => Bytes::from_static(b": lagged\n\n"),
                        Err(RecvError::Closed) => return None,
                    },
                    _ = tick.tick() => Bytes::from_static(b": heartbeat\n\n"),
                },
            };
            Some((Ok::<_, std::convert::Infallible>(event), (None, news, tick)))
        },
    );
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/event-stream"))
        .insert_header((CACHE_CONTROL, "no-store"))
        .streaming(body)
}

async fn ws(
    req: HttpRequest,
    body: web::Payload,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, actix_web::Error> {
    let (response, mut session, mut frames) = actix_ws::handle(&req, body)?;
    let mut news = shared.news.subscribe();
    actix_web::rt::spawn(async move {
        let mut open = session.text(r#"{"type":"ready"}"#).await.is_ok();
        while open {
            open = tokio::select! {
                event = news.recv() => match event {
                    Ok(event) => session.text(event.text).await.is_ok(),
                    Err(RecvError::Lagged(_)) => true,
                    Err(RecvError::Closed) => false,
                },
                frame = frames.recv() => match frame {
                    Some(Ok(actix_ws::Message::Ping(bytes))) => session.pong(&bytes).await.is_ok(),
                    Some(Ok(actix_ws::Message::Close(_)) | Err(_)) | None => false,
                    Some(Ok(_)) => true,
                },
            };
        }
        let _ = session.close(None).await;
    });
    Ok(response)
}

async fn publish(shared: web::Data<Shared>, text: Bytes) -> HttpResponse {
    let Ok(text) = ByteString::try_from(text) else {
        return HttpResponse::BadRequest().body("the text must be UTF-8");
    };
    let mut sse = Vec::with_capacity(text.len() + 8);
    sse.extend_from_slice(b"data: ");
    sse.extend_from_slice(text.as_bytes());
    sse.extend_from_slice(b"\n\n");
    // No receivers is not an error: nobody is listening yet.
    let _ = shared.news.send(News {
        sse: Bytes::from(sse),
        text,
    });
    HttpResponse::Created().finish()
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let workers = args
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let (news, _) = tokio::sync::broadcast::channel(BACKLOG);
    let shared = Shared { news };
    let heartbeat = Duration::from_secs(args.heartbeat.max(1));
    println!("bare actix-web listening on http://{}", args.bind);
    HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(shared.clone()))
            .app_data(web::Data::new(heartbeat))
            .route("/healthz", web::get().to(healthz))
            .route("/api/poll", web::get().to(poll))
            .route("/api/sse", web::get().to(sse))
            .route("/api/ws", web::get().to(ws))
            .route("/api/messages", web::post().to(publish))
    })
    .workers(workers)
    .max_connections(args.max_connections.div_ceil(workers))
    .bind(args.bind)?
    .run()
    .await
}
