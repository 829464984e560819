-- Reserve the next request start of a shared rate (GCRA with no burst).
--
-- KEYS[1]  the rate's key: it holds the next free start slot (microseconds, Redis's clock)
-- ARGV[1]  the interval between two starts (whole microseconds)
-- ARGV[2]  the earliest slot this caller may be given (microseconds, Redis's clock), 0 for any:
--          a caller passes "its latest slot + interval", so a store that lost its data (a
--          restart without persistence) does not hand out again slots that are still to come;
--          ignored when more than a minute ahead (a clock that differs after a fail-over)
--
-- Returns {slot, wait}: the reserved start (microseconds) and how long the caller must wait
-- for it (microseconds, >= 0).  Every call reserves exactly one slot; slots are `interval`
-- apart, in the order the calls reach Redis, whichever process makes them.  Redis's own clock
-- is the only clock: callers need no synchronised clocks.
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local interval = tonumber(ARGV[1])
local earliest = tonumber(ARGV[2])
local slot = tonumber(redis.call('GET', KEYS[1]) or 0)
if slot < now then
  slot = now
end
if slot < earliest and earliest < now + 60000000 then
  slot = earliest
end
local after = slot + interval
-- Kept while a slot is still to come, and one second more.
local ttl_ms = math.ceil((after - now) / 1000) + 1000
redis.call('SET', KEYS[1], string.format('%.0f', after), 'PX', ttl_ms)
return {slot, slot - now}
