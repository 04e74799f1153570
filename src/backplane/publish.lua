-- After epoch.lua. ARGV: new epoch if none, maxlen, ts, except, user, text, room.
-- Numbers the message, appends it to the room's Stream (trimmed to maxlen), announces it on
-- tl:bus as `m`, room, epoch, id, ts, except, user, text, one per line (the text last: it is the
-- only field that may hold a newline). Returns {epoch, id}.
local id = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[3], 'MAXLEN', ARGV[2], id .. '-0',
  'ts', ARGV[3], 'x', ARGV[4], 'u', ARGV[5], 't', ARGV[6])
redis.call('PUBLISH', 'tl:bus', 'm\n' .. ARGV[7] .. '\n' .. epoch .. '\n' .. id .. '\n' ..
  ARGV[3] .. '\n' .. ARGV[4] .. '\n' .. ARGV[5] .. '\n' .. ARGV[6])
return {epoch, id}
