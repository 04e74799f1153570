-- ARGV: node, now (ms), time to live (ms), then room and head count pairs. Stores this server's
-- head counts (replacing its last ones) and returns every other live server's:
-- {node, room, count, ..., '', node, ...}. A server that stops beating drops out after the ttl.
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
