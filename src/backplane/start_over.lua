-- KEYS: epoch, seq, log. ARGV: the new epoch, room. Starts an existing room over and announces
-- it on tl:bus as `r`, room, epoch; returns {previous epoch, newest id, messages held}, or nil
-- when Redis has no such room.
local previous = redis.call('GET', KEYS[1])
if not previous then return nil end
local seq = tonumber(redis.call('GET', KEYS[2]) or '0')
local held = redis.call('XLEN', KEYS[3])
redis.call('SET', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('PUBLISH', 'tl:bus', 'r\n' .. ARGV[2] .. '\n' .. ARGV[1])
return {previous, seq, held}
