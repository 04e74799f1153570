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

/// Shared opening of every script: the room's epoch, made now (with the log emptied) if missing.
const EPOCH: &str = r"
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  epoch = ARGV[1]
  redis.call('SET', KEYS[1], epoch)
  redis.call('DEL', KEYS[2], KEYS[3])
end
";

/// ARGV: new epoch if none, maxlen, ts, except, user, text, room. Returns `{epoch, id}`.
///
/// The announcement is `m`, room, epoch, id, ts, except, user, text, one per line; the text goes
/// last because it is the only field that may hold a newline.
pub fn publish() -> Script {
    Script::new(&format!(
        "{EPOCH}
local id = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[3], 'MAXLEN', ARGV[2], id .. '-0',
  'ts', ARGV[3], 'x', ARGV[4], 'u', ARGV[5], 't', ARGV[6])
redis.call('PUBLISH', '{CHANNEL}', 'm\\n' .. ARGV[7] .. '\\n' .. epoch .. '\\n' .. id .. '\\n' ..
  ARGV[3] .. '\\n' .. ARGV[4] .. '\\n' .. ARGV[5] .. '\\n' .. ARGV[6])
return {{epoch, id}}
"
    ))
}

/// ARGV: new epoch if none, first id, count. Returns `{epoch, newest id, entries}`, the entries
/// as `XRANGE` gives them, from the first id on.
pub fn read() -> Script {
    Script::new(&format!(
        "{EPOCH}
local seq = tonumber(redis.call('GET', KEYS[2]) or '0')
local entries = redis.call('XRANGE', KEYS[3], ARGV[2] .. '-0', '+', 'COUNT', ARGV[3])
return {{epoch, seq, entries}}
"
    ))
}

/// ARGV: the new epoch, room. Starts an existing room over; returns `{previous epoch, newest id,
/// messages held}`, or nil when Redis has no such room.
pub fn start_over() -> Script {
    Script::new(&format!(
        "
local previous = redis.call('GET', KEYS[1])
if not previous then return nil end
local seq = tonumber(redis.call('GET', KEYS[2]) or '0')
local held = redis.call('XLEN', KEYS[3])
redis.call('SET', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('PUBLISH', '{CHANNEL}', 'r\\n' .. ARGV[2] .. '\\n' .. ARGV[1])
return {{previous, seq, held}}
"
    ))
}

/// ARGV: node, now (ms), time to live (ms), then room and head count pairs. This server's head
/// counts, replacing its last ones, and every other live server's: `{node, room, count, ...}`.
/// A server that stops beating drops out after the time to live.
pub fn presence() -> Script {
    Script::new(
        r"
local node, now, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local mine = 'tl:presence:' .. node
redis.call('ZADD', 'tl:nodes', now, node)
redis.call('ZREMRANGEBYSCORE', 'tl:nodes', '-inf', now - ttl)
redis.call('DEL', mine)
if #ARGV > 3 then
  redis.call('HSET', mine, unpack(ARGV, 4))
  redis.call('PEXPIRE', mine, ttl)
end
local out = {}
for _, other in ipairs(redis.call('ZRANGE', 'tl:nodes', 0, -1)) do
  if other ~= node then
    local fields = redis.call('HGETALL', 'tl:presence:' .. other)
    out[#out + 1] = other
    for i = 1, #fields, 2 do
      out[#out + 1] = fields[i]
      out[#out + 1] = fields[i + 1]
    end
    out[#out + 1] = ''
  end
end
return out
",
    )
}
