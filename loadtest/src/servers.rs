//! Several servers on one bus (issue #19): `--url`, `--subscribe-url` and `--publish-url` each
//! take a comma-separated list, and this module says which server each subscriber and each
//! publisher connection talks to.
//!
//! Subscribers are spread round-robin over the subscribe list *after* the rooms: client `index`
//! is in room `index % rooms` (see [`crate::rooms`]) and on server `(index / rooms) % servers`,
//! so every room has clients on every server (with plain `index % servers`, two rooms over two
//! servers would put each room on one server, and nothing would cross the bus). Publisher
//! connection `k` posts to server `k % servers`, and publisher connections take the next
//! message whichever they are, so every server publishes a share of every room.
//!
//! Nothing here depends on the servers being different: a list naming one server twice is two
//! "servers" on one (in-memory) bus, which is how the tests check the spreading without Redis.
//! Loss, duplication and order are judged per subscriber by sequence number as always, so a
//! message published on server A and never delivered by server B is lost on B's subscribers.

use std::net::SocketAddr;

use crate::rooms::Rooms;
use crate::target::HttpUrl;

/// Separates the URLs of a list on the command line.
pub const LIST_SEPARATOR: char = ',';

/// The URLs of a list flag, in order, blanks dropped (`"a, b,"` is `a` and `b`).
pub fn split(list: &str) -> Vec<&str> {
    list.split(LIST_SEPARATOR)
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .collect()
}

/// One server a phase's subscribers talk to: where, and the request headers made for its origin
/// (a page served by that server sends its own `Origin`).
#[derive(Debug, Clone)]
pub struct Server {
    /// The subscribe URL without cursor or client parameters.
    pub url: HttpUrl,
    /// Socket address to connect to (resolved once).
    pub addr: SocketAddr,
    /// Request headers for this transport's requests, after `Host` (the connection writes that).
    pub headers: Vec<(&'static str, String)>,
    /// Its `--node` name on a shared bus (transport-lab's `/healthz`), so the report shows that
    /// the list's entries really are different servers; `None` on a memory bus or elsewhere.
    pub node: Option<String>,
}

/// The server (its place in the subscribe list) client `index` subscribes on.
pub fn of_client(index: u64, rooms: Rooms, servers: usize) -> usize {
    ((index / rooms.count()) % servers.max(1) as u64) as usize
}

/// The server (its place in the publish list) publisher connection `k` posts to.
pub fn of_publisher(k: u64, servers: usize) -> usize {
    (k % servers.max(1) as u64) as usize
}

/// How many of clients `0..clients` subscribe on `server`.
pub fn share(server: usize, clients: u64, rooms: Rooms, servers: usize) -> u64 {
    (0..clients)
        .filter(|&i| of_client(i, rooms, servers) == server)
        .count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lists() {
        assert_eq!(
            split("http://a:1, http://b:2,"),
            ["http://a:1", "http://b:2"]
        );
        assert_eq!(split("http://a:1"), ["http://a:1"]);
    }

    /// Every room has clients on every server, and the servers get even shares.
    #[test]
    fn spreads_every_room_over_every_server() {
        let rooms = Rooms::new(2);
        let placed: Vec<(u64, usize)> = (0..8)
            .map(|i| (rooms.of_client(i), of_client(i, rooms, 2)))
            .collect();
        assert_eq!(
            placed,
            [
                (0, 0),
                (1, 0),
                (0, 1),
                (1, 1),
                (0, 0),
                (1, 0),
                (0, 1),
                (1, 1)
            ]
        );
        assert_eq!(of_client(5, Rooms::new(1), 2), 1);
        assert_eq!(
            (share(0, 7, Rooms::new(1), 2), share(1, 7, Rooms::new(1), 2)),
            (4, 3)
        );
        assert_eq!((of_publisher(3, 2), of_publisher(3, 1)), (1, 0));
    }
}
