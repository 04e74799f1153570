//! `--rooms N`: how a run spreads its clients and its messages over transport-lab's rooms.
//!
//! With one room (the default) everything happens in the lobby and no `room=` parameter is sent
//! at all, so a run costs exactly the bytes it cost before rooms existed. With N rooms, named
//! `lt-0` .. `lt-{N-1}`, client `index` subscribes to room `index % N` and message `seq` is
//! posted to room `seq % N`: both round-robin, so every room gets about messages/N and its share
//! of the clients.
//!
//! Because a message's room follows from its sequence number, the probe token already names its
//! room without a byte more: a client that finds the token of another room's message knows the
//! server routed it wrongly and counts it as foreign, never as a delivery. The server numbers
//! each room's messages on their own, so each client checks loss and order on its room's own
//! sequence: the `k`-th message of room `r` (its *local* index `k`) is sequence number
//! `r + k * N`.

use protocol::LOBBY;

use crate::target::HttpUrl;

/// What every room of a run is called, before its index: `lt-0`, `lt-1`, ...
pub const ROOM_PREFIX: &str = "lt-";

/// The rooms of a run, and which client and which message belongs to which.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rooms {
    /// How many rooms; at least 1 (1 means the lobby).
    count: u64,
}

impl Rooms {
    /// `count` rooms (0 is taken as 1: there is always the lobby).
    pub fn new(count: u64) -> Self {
        Self {
            count: count.max(1),
        }
    }

    pub fn count(self) -> u64 {
        self.count
    }

    /// The room client `index` subscribes to.
    pub fn of_client(self, index: u64) -> u64 {
        index % self.count
    }

    /// The room message `seq` is posted to.
    pub fn of_seq(self, seq: u64) -> u64 {
        seq % self.count
    }

    /// Where `seq` stands among its own room's messages.
    pub fn local(self, seq: u64) -> u64 {
        seq / self.count
    }

    /// The sequence number of the `local`-th message of `room`.
    pub fn seq(self, room: u64, local: u64) -> u64 {
        local * self.count + room
    }

    /// How many of `0..total` (clients or sequence numbers) fall to `room`.
    pub fn share(self, room: u64, total: u64) -> u64 {
        total.saturating_sub(room).div_ceil(self.count)
    }

    /// A publisher's ordering floor (every sequence number up to it had to arrive first), in
    /// `room`'s local indices: only that room's messages reach its clients, so only they can
    /// be out of order there.
    pub fn local_floor(self, room: u64, floor: Option<u64>) -> Option<u64> {
        floor?.checked_sub(room).map(|above| above / self.count)
    }

    /// The `room=` value of `room`; `None` with one room, which is the lobby, named by saying
    /// nothing (so a one-room run sends the bytes it always sent).
    pub fn param(self, room: u64) -> Option<String> {
        (self.count > 1).then(|| format!("{ROOM_PREFIX}{room}"))
    }

    /// The room's name as the server knows it.
    pub fn name(self, room: u64) -> String {
        self.param(room).unwrap_or_else(|| LOBBY.to_owned())
    }

    /// `url` with `room=` for `room` appended (unchanged with one room).
    pub fn url_in(self, url: &HttpUrl, room: u64) -> HttpUrl {
        let mut url = url.clone();
        if let Some(name) = self.param(room) {
            url.path_and_query = url.with_param("room", &name);
        }
        url
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Round-robin both ways, and local indices that map back to the same sequence numbers.
    #[test]
    fn spreads_round_robin() {
        let rooms = Rooms::new(3);
        let of_seq: Vec<u64> = (0..7).map(|seq| rooms.of_seq(seq)).collect();
        assert_eq!(of_seq, [0, 1, 2, 0, 1, 2, 0]);
        assert_eq!(rooms.of_client(4), 1);
        for seq in 0..20 {
            assert_eq!(rooms.seq(rooms.of_seq(seq), rooms.local(seq)), seq);
        }
        // 10 messages: 0 3 6 9 | 1 4 7 | 2 5 8.
        let shares: Vec<u64> = (0..3).map(|room| rooms.share(room, 10)).collect();
        assert_eq!(shares, [4, 3, 3]);
        assert_eq!(rooms.share(2, 1), 0);
    }

    /// A floor of 5 (0..=5 acknowledged) covers 1 and 4 of room 1, nothing of room 2 below 2.
    #[test]
    fn floors_in_local_indices() {
        let rooms = Rooms::new(3);
        assert_eq!(rooms.local_floor(1, Some(5)), Some(1));
        assert_eq!(rooms.local_floor(0, Some(5)), Some(1));
        assert_eq!(rooms.local_floor(2, Some(1)), None);
        assert_eq!(rooms.local_floor(2, None), None);
        let one = Rooms::new(1);
        assert_eq!(one.local_floor(0, Some(7)), Some(7));
    }

    /// One room is the lobby and adds nothing to a URL; more rooms are `lt-K`.
    #[test]
    fn names_and_urls() {
        let url = HttpUrl::parse("http://127.0.0.1:1/api/sse").unwrap();
        let one = Rooms::new(1);
        assert_eq!((one.param(0), one.name(0)), (None, LOBBY.to_owned()));
        assert_eq!(one.url_in(&url, 0), url);
        let three = Rooms::new(3);
        assert_eq!(three.name(2), "lt-2");
        assert_eq!(three.url_in(&url, 2).path_and_query, "/api/sse?room=lt-2");
        assert_eq!(Rooms::new(0).count(), 1);
    }
}
