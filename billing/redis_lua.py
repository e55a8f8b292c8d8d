"""Lua scripts for the Redis reservation cache (run atomically by Redis; see billing/reservations.py).

Per account A (every key carries the hash tag ``{A}``):
  ``bill:{A}:avail``          millicredits free to reserve = ledger - unsettled usage - all reservations;
                              absent = not loaded (rebuilt from PostgreSQL by the caller, then LOAD)
  ``bill:{A}:ver``            token changed by every event a loader must not miss (purchase, session close)
  ``bill:{A}:sessions``       ids of sessions that hold usage or reservations in Redis
  ``bill:{A}:s:<sid>``        hash: owner, op, tag, charged, audio_ms, reserved, closed
Global: ``bill:live`` (members ``A|sid``, for the orphan reaper), ``bill:owner:<id>`` (process heartbeat),
``bill:quarantine`` (hash ``A|sid`` -> JSON: sessions the ledger refused to settle, kept for an operator).

Status codes in replies: 1 ok, 0 refused (no credits), -1 account not loaded, -2 session unknown,
-3 session already exists, -4 loader raced a change (retry).
"""

from __future__ import annotations

# Registering a session also refreshes its owner's heartbeat, so that a session is never seen without one
# (after a flush the heartbeat loop may not have run yet, and peers would reap it as an orphan).
# KEYS: avail, sessions, sess, live, owner   ARGV: sid, owner, op, tag, want_mc, live_member, owner_ttl_ms
OPEN = """
local avail = redis.call('GET', KEYS[1])
if not avail then return {-1, 0, 0} end
avail = tonumber(avail)
if avail <= 0 then return {0, 0, avail} end
if redis.call('EXISTS', KEYS[3]) == 1 then return {-3, 0, avail} end
local grant = math.min(tonumber(ARGV[5]), avail)
redis.call('DECRBY', KEYS[1], grant)
redis.call('HSET', KEYS[3], 'owner', ARGV[2], 'op', ARGV[3], 'tag', ARGV[4],
           'charged', 0, 'audio_ms', 0, 'reserved', grant, 'closed', 0)
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[4], ARGV[6])
redis.call('SET', KEYS[5], '1', 'PX', ARGV[7])
return {1, grant, avail - grant}
"""

# A live session re-adds itself to the account's set on every call: a partial loss of keys (a flush running
# while sessions write) must not leave a session that the loader cannot see.
# KEYS: avail, sess, sessions   ARGV: want_mc, sid
RESERVE = """
if redis.call('EXISTS', KEYS[2]) == 0 then return {-2, 0, 0} end
redis.call('SADD', KEYS[3], ARGV[2])
local avail = redis.call('GET', KEYS[1])
if not avail then return {-1, 0, 0} end
avail = tonumber(avail)
local grant = math.max(0, math.min(tonumber(ARGV[1]), avail))
if grant > 0 then redis.call('DECRBY', KEYS[1], grant) end
local reserved = redis.call('HINCRBY', KEYS[2], 'reserved', grant)
return {1, reserved, avail - grant}
"""

# Totals are absolute so that a retried call cannot charge twice.
# KEYS: avail, sess, sessions   ARGV: charged_total_mc, audio_total_ms, sid
CHARGE = """
if redis.call('EXISTS', KEYS[2]) == 0 then return {-2, 0, 0} end
redis.call('SADD', KEYS[3], ARGV[3])
local avail = redis.call('GET', KEYS[1])
if not avail then return {-1, 0, 0} end
avail = tonumber(avail)
local h = redis.call('HMGET', KEYS[2], 'charged', 'reserved', 'audio_ms')
local charged, reserved, audio = tonumber(h[1]), tonumber(h[2]), tonumber(h[3])
local delta = tonumber(ARGV[1]) - charged
if delta > 0 then
  local take = math.min(delta, reserved)
  reserved = reserved - take
  if delta > take then avail = redis.call('DECRBY', KEYS[1], delta - take) end
  redis.call('HSET', KEYS[2], 'charged', ARGV[1], 'reserved', reserved)
end
if tonumber(ARGV[2]) > audio then redis.call('HSET', KEYS[2], 'audio_ms', ARGV[2]) end
return {1, reserved, avail}
"""

# Called only after the session's usage is settled in PostgreSQL. An account left without sessions drops its
# cached balance: the next session reloads it from the ledger, so any drift of the cache heals when idle.
# KEYS: avail, ver, sessions, sess, live   ARGV: sid, live_member, new_ver
RELEASE = """
local reserved = tonumber(redis.call('HGET', KEYS[4], 'reserved') or '0')
if reserved > 0 and redis.call('EXISTS', KEYS[1]) == 1 then redis.call('INCRBY', KEYS[1], reserved) end
redis.call('DEL', KEYS[4])
redis.call('SREM', KEYS[3], ARGV[1])
redis.call('SREM', KEYS[5], ARGV[2])
redis.call('SET', KEYS[2], ARGV[3])
if redis.call('SCARD', KEYS[3]) == 0 then redis.call('DEL', KEYS[1]) end
return reserved
"""

# The session ended but its usage could not be settled: give back the reservation, leave it to the reaper.
# KEYS: avail, sess
MARK_CLOSED = """
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
local reserved = tonumber(redis.call('HGET', KEYS[2], 'reserved'))
if reserved > 0 and redis.call('EXISTS', KEYS[1]) == 1 then redis.call('INCRBY', KEYS[1], reserved) end
redis.call('HSET', KEYS[2], 'reserved', 0, 'closed', 1)
return reserved
"""

# A session the ledger can never settle: give back its reservation and take it off the reaper's list. Its hash
# stays in the account's set, so the cached balance still counts its usage.
# KEYS: avail, sess, live, quarantine   ARGV: live_member, record
QUARANTINE = """
local reserved = tonumber(redis.call('HGET', KEYS[2], 'reserved') or '0')
if reserved > 0 and redis.call('EXISTS', KEYS[1]) == 1 then redis.call('INCRBY', KEYS[1], reserved) end
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('HSET', KEYS[2], 'reserved', 0, 'closed', 1) end
redis.call('SREM', KEYS[3], ARGV[1])
redis.call('HSET', KEYS[4], ARGV[1], ARGV[2])
return reserved
"""

# A live session whose Redis state vanished (flush, restart) puts its totals back and forces a reload.
# KEYS: avail, ver, sessions, sess, live, owner
# ARGV: sid, owner, op, tag, charged, audio_ms, new_ver, live_member, owner_ttl_ms
REREGISTER = """
if redis.call('EXISTS', KEYS[4]) == 1 then return 0 end
redis.call('HSET', KEYS[4], 'owner', ARGV[2], 'op', ARGV[3], 'tag', ARGV[4],
           'charged', ARGV[5], 'audio_ms', ARGV[6], 'reserved', 0, 'closed', 0)
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('SADD', KEYS[5], ARGV[8])
redis.call('SET', KEYS[6], '1', 'PX', ARGV[9])
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], ARGV[7])
return 1
"""

# KEYS: avail, ver   ARGV: new_ver
INVALIDATE = """
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], ARGV[1])
return 1
"""

# Rebuild ``avail`` from a PostgreSQL snapshot taken after reading ``ver`` and the session set: the ledger
# sum and, for each listed session, what the ledger already holds of its usage.
# KEYS: avail, ver, sessions   ARGV: expected_ver, ledger_sum_mc, n, sid_1, settled_1, ..., sid_n, settled_n
LOAD = """
local ver = redis.call('GET', KEYS[2]) or ''
if ver ~= ARGV[1] then return {-4, 0} end
local settled = {}
local n = tonumber(ARGV[3])
for i = 0, n - 1 do settled[ARGV[4 + 2 * i]] = tonumber(ARGV[5 + 2 * i]) end
local avail = tonumber(ARGV[2])
local base = string.sub(KEYS[3], 1, #KEYS[3] - #'sessions')
for _, sid in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  local s = settled[sid]
  if s == nil then return {-4, 0} end
  local h = redis.call('HMGET', base .. 's:' .. sid, 'charged', 'reserved')
  if h[1] then
    avail = avail - math.max(0, tonumber(h[1]) - s) - tonumber(h[2])
  else
    redis.call('SREM', KEYS[3], sid)
  end
end
redis.call('SET', KEYS[1], avail)
return {1, avail}
"""

# Generic cell rate algorithm: at most ``limit`` events per ``period_ms``, bursts up to ``limit``.
# KEYS: bucket   ARGV: period_ms, limit   Reply: {allowed, retry_after_ms}
RATE_LIMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local period = tonumber(ARGV[1])
local interval = period / tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - period
if allow_at > now then return {0, math.ceil(allow_at - now)} end
redis.call('SET', KEYS[1], string.format('%.3f', new_tat), 'PX', math.ceil(new_tat - now) + 1)
return {1, 0}
"""
