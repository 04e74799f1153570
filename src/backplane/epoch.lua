-- The opening of every script that may meet a room for the first time: the room's epoch,
-- made now (with the log emptied) if missing. KEYS: epoch, seq, log. ARGV[1]: the new epoch.
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  epoch = ARGV[1]
  redis.call('SET', KEYS[1], epoch)
  redis.call('DEL', KEYS[2], KEYS[3])
end
