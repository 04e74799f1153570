//! The Lua scripts that keep a room's log in Redis, and the keys they keep it under.
//!
//! Every change to a room is one script, so Redis runs it whole, one at a time: two servers
//! publishing at once can never take the same id or leave a hole, and a room's counter, its log
//! and its epoch always change together. A room's keys share the hash tag `{room}`, so on a Redis
//! Cluster they land in one slot and the scripts still run there (see the README's "Beyond one
//! Redis").
//!
//! - `tl:{ROOM}:epoch`: the room's run. Missing means a Redis that never saw the room or lost its
//!   data: the next script makes a new random one (given by the server) and empties the rest, so
//!   ids start from 1 under an epoch no old cursor names: a reset told in-band, never ids reused.
//! - `tl:{ROOM}:seq`: the newest id (`INCR`).
//! - `tl:{ROOM}:log`: a Stream, one entry per message with stream id `ID-0`, trimmed to
//!   `--history` entries (exact `MAXLEN`), fields `ts`, `x` (except), `u` (user), `t` (text).
//!
//! Fan-out is one pub/sub channel, [`CHANNEL`], which every server subscribes to once.
//!
//! The scripts are the `.lua` files beside this one, so they read as Lua and
//! `loadtest/scripts/redis-ceiling.sh` can run the very same ones against a bare Redis.

use redis::Script;

/// The channel every publish and every start-over is announced on.
pub const CHANNEL: &str = "tl:bus";

/// The three keys of a room, in the order every script takes them.
pub fn keys(room: &str) -> [String; 3] {
    [
        format!("tl:{{{room}}}:epoch"),
        format!("tl:{{{room}}}:seq"),
        format!("tl:{{{room}}}:log"),
    ]
}

/// The opening of the scripts that may meet a room first (publish, read).
const EPOCH: &str = include_str!("epoch.lua");

/// Numbers, stores and announces a message: see `publish.lua`.
pub fn publish() -> Script {
    Script::new(&[EPOCH, include_str!("publish.lua")].concat())
}

/// A room's epoch, newest id and log from an id on: see `read.lua`.
pub fn read() -> Script {
    Script::new(&[EPOCH, include_str!("read.lua")].concat())
}

/// The teacher's start-over: see `start_over.lua`.
pub fn start_over() -> Script {
    Script::new(include_str!("start_over.lua"))
}

/// The presence beat: see `presence.lua`.
pub fn presence() -> Script {
    Script::new(include_str!("presence.lua"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scripts announce on the channel the servers subscribe to.
    #[test]
    fn the_scripts_announce_on_the_channel() {
        for script in [include_str!("publish.lua"), include_str!("start_over.lua")] {
            assert!(script.contains(&format!("redis.call('PUBLISH', '{CHANNEL}'")));
        }
    }
}
