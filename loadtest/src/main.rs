//! `loadtest`: will drive all five transport-lab transports under load and report latency, loss and
//! bytes per message. Until that lands it only prints its intended usage, so the workspace builds.

fn main() {
    println!(
        "loadtest (not implemented yet)\n\n\
         usage: loadtest --url http://127.0.0.1:8080 --transport sse|ws|stream|longpoll|poll|all \\\n\
         \x20       --clients N --messages N --rate N --payload-bytes N"
    );
}
