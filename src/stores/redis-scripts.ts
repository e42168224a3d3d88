/**
 * The Lua scripts of the Redis store, registered with ioredis `defineCommand`
 * (EVALSHA, falling back to EVAL once per connection). Each store operation is
 * one script, so each is one round trip and atomic: Redis runs a script to the
 * end before any other command (a refresh cannot interleave with another).
 *
 * Keys. `KEYS[1]` is the user's base, `<prefix>{<shard>}:`, where shard is
 * `userShard(sub)`. Every key a script touches is built from it, so all carry
 * the hash tag `{<shard>}` and live in one slot: the same script runs on Redis
 * Cluster. (Some keys, such as the family of an opaque refresh token, are only
 * known inside the script; Redis accepts undeclared keys of the declared slot.)
 *
 *     f:<family id>      hash   the login session: sub, ct (created), ax (absolute expiry), cur (current
 *                               refresh id), prev, pat (when prev was consumed), rp (grace replay), rv
 *                               (revoked 0/1), sc (scope), cl (extra claims JSON), ex (record expiry)
 *     rt:<sha256>        hash   opaque refresh token (the seed's shape): user_id, issued_at,
 *                               refresh_expires_in, used_count, family
 *     at:<sha256>        hash   opaque access token (the seed's shape): user_id, issued_at, expires_in,
 *                               scope, family
 *     d:<jti>            string deny-listed self-contained access token
 *     fams:<sub>         zset   the user's families, scored by record expiry (expired members pruned
 *                               at login; the key itself expires with the last family)
 *     nbf:<sub>          string the user's "not before" epoch (logout everywhere)
 *
 * Time. Scripts never read the server clock: `now` (ms) is an argument, from
 * the service's injected clock, and every decision compares it with expiries
 * stored in the records. Key expiry is set relative to it (`PEXPIRE until-now`),
 * so records vanish when the token they guard has expired. Lua numbers are
 * doubles: millisecond timestamps are exact in them.
 *
 * @module
 */

/** Helpers shared by every script. */
const PRELUDE = `
local base = KEYS[1]
local now = tonumber(ARGV[1])

-- Numbers go to Redis as integer strings (a double's default formatting could be 1.7e+12).
local function int(x) return string.format('%d', x) end

-- Sets a key to expire at untilMs (on the caller's clock): relative, at least 1 ms.
local function expire_at(key, untilMs)
  local ms = untilMs - now
  if ms < 1 then ms = 1 end
  redis.call('PEXPIRE', key, int(ms))
end

-- Like expire_at, but never shortens a longer expiry (keys shared by several families).
local function extend_to(key, untilMs)
  local ms = untilMs - now
  if ms < 1 then ms = 1 end
  local cur = redis.call('PTTL', key)
  if cur < ms then redis.call('PEXPIRE', key, int(ms)) end
end

-- The client a family is bound to: client_id in its extra claims JSON ('' for none).
local function client_of(cl)
  if not cl or cl == '' then return '' end
  local ok, t = pcall(cjson.decode, cl)
  if ok and type(t) == 'table' and type(t.client_id) == 'string' then return t.client_id end
  return ''
end

-- RFC 6749 §6: every scope-token of req is one of granted (space-separated, RFC 6749 §3.3).
local function scope_within(req, granted)
  local have = {}
  for s in string.gmatch(granted, '%S+') do have[s] = true end
  for s in string.gmatch(req, '%S+') do
    if not have[s] then return false end
  end
  return true
end

-- A family is revoked by its flag, or by the user's "not before" epoch if created earlier.
local function is_revoked(sub, ct, rv)
  if rv == '1' then return true end
  local epoch = redis.call('GET', base .. 'nbf:' .. sub)
  return epoch and tonumber(ct) < tonumber(epoch)
end
`;

/**
 * Writes the opaque records of newly minted tokens and indexes the family; returns
 * the family record's new expiry. ARGV[2..7]: leeway, next refresh id, '1' when the
 * refresh token is opaque, refresh expiry, opaque access hash ('' for none), access expiry.
 */
const PUT_TOKENS = `
local function put_tokens(famId, sub, scope, ax, exOld, prune)
  local leeway = tonumber(ARGV[2])
  local refreshExp = math.min(tonumber(ARGV[5]), ax)
  local accessExp = tonumber(ARGV[7])
  local ex = math.max(exOld, refreshExp + leeway, accessExp + leeway)
  local issued = math.floor(now / 1000)
  if ARGV[4] == '1' then
    local k = base .. 'rt:' .. ARGV[3]
    local ttl = math.floor(refreshExp / 1000) - issued
    redis.call('HSET', k, 'user_id', sub, 'issued_at', int(issued), 'refresh_expires_in', int(ttl), 'used_count', '0', 'family', famId)
    expire_at(k, (issued + ttl) * 1000)
  end
  if ARGV[6] ~= '' then
    local k = base .. 'at:' .. ARGV[6]
    local ttl = math.floor(accessExp / 1000) - issued
    redis.call('HSET', k, 'user_id', sub, 'issued_at', int(issued), 'expires_in', int(ttl), 'scope', scope, 'family', famId)
    expire_at(k, (issued + ttl) * 1000)
  end
  -- The user's index: one member per family, scored by when its record expires.
  local idx = base .. 'fams:' .. sub
  redis.call('ZADD', idx, int(ex), famId)
  -- Expired members go at login only: a refresh adds no member, so the index grows only
  -- by logins, and each login clears what expired before it (one command less per refresh).
  if prune then redis.call('ZREMRANGEBYSCORE', idx, '-inf', ARGV[1]) end
  extend_to(idx, ex)
  return ex
end
`;

/**
 * Login: a new family. ARGV[1..7] as PUT_TOKENS, then family id, sub, absolute
 * expiry, scope, extra claims.
 */
export const CREATE_FAMILY = `${PRELUDE}${PUT_TOKENS}
local famId, sub, ax = ARGV[8], ARGV[9], tonumber(ARGV[10])
local ex = put_tokens(famId, sub, ARGV[11], ax, 0, true)
local fk = base .. 'f:' .. famId
redis.call('HSET', fk, 'sub', sub, 'ct', ARGV[1], 'ax', ARGV[10], 'cur', ARGV[3], 'prev', '', 'pat', '0', 'rp', '',
  'rv', '0', 'sc', ARGV[11], 'cl', ARGV[12], 'ex', int(ex))
expire_at(fk, ex)
return 1
`;

/**
 * Refresh: the atomic consume (RFC 6749 §10.4, RFC 9700 §4.14.2). ARGV[1..7] as
 * PUT_TOKENS, then mode ('j': self-contained token, 'o': opaque), family id (j) or
 * token hash (o), jti (j), grace window ms, encrypted replay pair, presenting client
 * ('' unchecked), '1' and a narrower scope (RFC 6749 §6) or '0' and ''.
 *
 * Replies {'rotated'|'replayed', family, sub, scope, claims, created, absolute expiry[, replay]}
 * or {'reused'|'revoked'|'expired'|'unknown'|'wrong_client'|'invalid_scope'}.
 */
export const ROTATE = `${PRELUDE}${PUT_TOKENS}
local famId, presented, r
if ARGV[8] == 'o' then
  r = redis.call('HMGET', base .. 'rt:' .. ARGV[9], 'family', 'issued_at', 'refresh_expires_in')
  if not r[1] then return {'unknown'} end
  famId, presented = r[1], ARGV[9]
else
  famId, presented = ARGV[9], ARGV[10]
end
local fk = base .. 'f:' .. famId
--                                 1      2     3     4      5       6      7     8     9     10    11
local f = redis.call('HMGET', fk, 'sub', 'ct', 'ax', 'cur', 'prev', 'pat', 'rp', 'rv', 'sc', 'cl', 'ex')
-- RFC 6749 §6: a token issued to another client is refused before anything is counted or consumed.
-- (ARGV[13] is nil from a tessera older than clients, in a mixed fleet: no check, as before.)
local client = ARGV[13] or ''
if f[1] and client ~= '' then
  local owner = client_of(f[10])
  if owner ~= '' and owner ~= client then return {'wrong_client'} end
end
if r then
  -- The seed's used_count: every presentation counts; the first one consumes.
  redis.call('HINCRBY', base .. 'rt:' .. ARGV[9], 'used_count', 1)
  if now >= (tonumber(r[2]) + tonumber(r[3])) * 1000 then return {'expired'} end
end
-- A valid token whose family is gone (lost or purged early) fails closed.
if not f[1] then return {'revoked'} end
-- In a revoked family a consumed token still reads 'reused'; only the current one reads 'revoked'.
if is_revoked(f[1], f[2], f[8]) then
  if presented == f[4] then return {'revoked'} end
  return {'reused'}
end
local ax = tonumber(f[3])
if now >= ax then return {'expired'} end
local grace = tonumber(ARGV[11])
if presented == f[4] then
  local accessScope = f[9]
  if ARGV[14] == '1' then
    if not scope_within(ARGV[15], f[9]) then return {'invalid_scope'} end
    accessScope = ARGV[15]
  end
  local replay = ''
  if grace > 0 then replay = ARGV[12] end
  local ex = put_tokens(famId, f[1], accessScope, ax, tonumber(f[11]), false)
  redis.call('HSET', fk, 'cur', ARGV[3], 'prev', presented, 'pat', ARGV[1], 'rp', replay, 'ex', int(ex))
  expire_at(fk, ex)
  return {'rotated', famId, f[1], f[9], f[10], f[2], f[3]}
end
-- The token consumed last, again, within the grace window: the same pair, no new sibling.
if grace > 0 and presented == f[5] and f[7] ~= '' and now - tonumber(f[6]) < grace then
  return {'replayed', famId, f[1], f[9], f[10], f[2], f[3], f[7]}
end
-- Any other token of the family was consumed earlier: reuse. Revoke the family (the record keeps its TTL).
redis.call('HSET', fk, 'rv', '1')
return {'reused'}
`;

/**
 * authenticate: revocation check of a self-contained access token, or lookup of an
 * opaque one. ARGV: now, mode ('j'|'o'), jti (j, '' for none) or token hash (o),
 * family id (j, '' for none). Replies {'ok'[, user_id, issued_at, expires_in, scope,
 * family, family claims]} or {'revoked'|'expired'|'unknown'}.
 */
export const CHECK_ACCESS = `${PRELUDE}
local famId, r
if ARGV[2] == 'o' then
  r = redis.call('HMGET', base .. 'at:' .. ARGV[3], 'user_id', 'issued_at', 'expires_in', 'scope', 'family')
  if not r[1] then return {'unknown'} end
  if now >= (tonumber(r[2]) + tonumber(r[3])) * 1000 then return {'expired'} end
  famId = r[5]
else
  if ARGV[3] ~= '' and redis.call('EXISTS', base .. 'd:' .. ARGV[3]) == 1 then return {'revoked'} end
  famId = ARGV[4]
end
local cl = ''
if famId ~= '' then
  local f = redis.call('HMGET', base .. 'f:' .. famId, 'sub', 'ct', 'rv', 'cl')
  if not f[1] or is_revoked(f[1], f[2], f[3]) then return {'revoked'} end
  cl = f[4] or ''
end
if r then return {'ok', r[1], r[2], r[3], r[4], r[5], cl} end
return {'ok'}
`;

/**
 * Introspection of a refresh token (read-only). ARGV: now, mode, family id (j) or
 * token hash (o), jti (j, '' for any). Replies {'active', family, sub, scope, claims,
 * created, absolute expiry[, user_id, issued_at, refresh_expires_in, used_count]} or {'inactive'}.
 */
export const INSPECT_REFRESH = `${PRELUDE}
local famId, tokenId, r
if ARGV[2] == 'o' then
  r = redis.call('HMGET', base .. 'rt:' .. ARGV[3], 'user_id', 'issued_at', 'refresh_expires_in', 'used_count', 'family')
  if not r[1] or now >= (tonumber(r[2]) + tonumber(r[3])) * 1000 then return {'inactive'} end
  famId, tokenId = r[5], ARGV[3]
else
  famId, tokenId = ARGV[3], ARGV[4]
end
local f = redis.call('HMGET', base .. 'f:' .. famId, 'sub', 'ct', 'ax', 'cur', 'rv', 'sc', 'cl')
if not f[1] or is_revoked(f[1], f[2], f[5]) or now >= tonumber(f[3]) then return {'inactive'} end
-- A consumed token is not "currently active" (RFC 7662 §2.2).
if tokenId ~= '' and tokenId ~= f[4] then return {'inactive'} end
if r then return {'active', famId, f[1], f[6], f[7], f[2], f[3], r[1], r[2], r[3], r[4]} end
return {'active', famId, f[1], f[6], f[7], f[2], f[3]}
`;

/**
 * RFC 7009 §2.1 for a refresh token: revoke its family. ARGV: now, mode, family id
 * (j) or token hash (o). Replies 1 when a live family was revoked, else 0.
 */
export const REVOKE_FAMILY = `${PRELUDE}
local famId = ARGV[3]
if ARGV[2] == 'o' then
  famId = redis.call('HGET', base .. 'rt:' .. ARGV[3], 'family')
  if not famId then return 0 end
end
local fk = base .. 'f:' .. famId
-- HSET on a missing key would create a record without expiry: check first.
if redis.call('HGET', fk, 'rv') ~= '0' then return 0 end
redis.call('HSET', fk, 'rv', '1')
return 1
`;

/**
 * Logout everywhere. ARGV: now, sub, keep-until (ms). Sets the user's "not before"
 * epoch (so a family being created concurrently is refused too) and revokes every
 * family in the user's index. Replies the number of families revoked.
 */
export const REVOKE_USER = `${PRELUDE}
local sub = ARGV[2]
local nk = base .. 'nbf:' .. sub
local prior = tonumber(redis.call('GET', nk) or '0')
redis.call('SET', nk, int(math.max(prior, now)))
expire_at(nk, tonumber(ARGV[3]))
local n = 0
for _, famId in ipairs(redis.call('ZRANGE', base .. 'fams:' .. sub, 0, -1)) do
  local fk = base .. 'f:' .. famId
  if redis.call('HGET', fk, 'rv') == '0' then
    redis.call('HSET', fk, 'rv', '1')
    n = n + 1
  end
end
return n
`;

/** Command names under which the scripts are registered with `defineCommand`. */
export const SCRIPTS = {
  tesseraV1CreateFamily: CREATE_FAMILY,
  tesseraV1Rotate: ROTATE,
  tesseraV1CheckAccess: CHECK_ACCESS,
  tesseraV1InspectRefresh: INSPECT_REFRESH,
  tesseraV1RevokeFamily: REVOKE_FAMILY,
  tesseraV1RevokeUser: REVOKE_USER,
} as const;

export type ScriptName = keyof typeof SCRIPTS;
