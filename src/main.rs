//! The `transport-lab` binary: parse the configuration, set up logging, bind, serve until
//! SIGINT or SIGTERM, then shut down gracefully.

use std::io::IsTerminal;

use clap::Parser;
#[cfg(not(feature = "system-allocator"))]
use tikv_jemallocator::Jemalloc;
use tracing_subscriber::EnvFilter;
use transport_lab::config::Config;
use transport_lab::startup::Application;

/// jemalloc rather than the system's allocator: after a burst (a thousand slow readers that each
/// held a full write buffer, say) glibc keeps much of the freed memory in its arenas for good,
/// while jemalloc's decay gives it back to the system within seconds (measured in the README's
/// limits: 79 MiB under the burst, 14 MiB 15 s after it; glibc stayed at 35 MiB).
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static ALLOCATOR: Jemalloc = Jemalloc;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        // Colour codes only for a person at a terminal, never into a file or a pipe.
        .with_ansi(std::io::stdout().is_terminal())
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let config = Config::parse();
    let app = Application::build(config)?;
    tracing::info!("listening on http://{}", app.addr());
    // Printed for the teacher: starting a room over from another machine needs it.
    tracing::info!(
        "teacher token: {} (POST /api/reset?room=NAME with Authorization: Bearer TOKEN starts a \
         room over; from this machine no token is needed)",
        app.teacher_token()
    );
    let shutdown = app.shutdown_handle();
    tokio::spawn(async move {
        wait_for_signal().await;
        shutdown.shutdown().await;
    });
    app.run().await
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
