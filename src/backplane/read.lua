-- After epoch.lua. ARGV: new epoch if none, first id, count.
-- Returns {epoch, newest id, entries}, the entries as XRANGE gives them, from the first id on.
local seq = tonumber(redis.call('GET', KEYS[2]) or '0')
local entries = redis.call('XRANGE', KEYS[3], ARGV[2] .. '-0', '+', 'COUNT', ARGV[3])
return {epoch, seq, entries}
