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
 *                               (revoked 0/1), sc (scope), cl (extra claims JSON), ex (record expiry),
 *                               ua (user agent), ad (address), gr (the grant that created it)
 *     s:<sub>            zset   the session listing's index: the user's live families by record expiry
 *     ss:<sub>           hash   family id -> its summary for the listing (JSON array: created, last
 *                               used, absolute expiry, record expiry, user agent, address, client,
 *                               grant);
 *                               a family leaves both when revoked, or lapsed at the next login or
 *                               listing; both keys expire with the user's latest family
 *     rt:<sha256>        hash   opaque refresh token (DESIGN.md's opaque scheme): user_id, issued_at,
 *                               refresh_expires_in, used_count, family
 *     at:<sha256>        hash   opaque access token (DESIGN.md's opaque scheme): user_id, issued_at, expires_in,
 *                               scope, family
 *     d:<jti>            string deny-listed self-contained access token
 *     nbf:<sub>          string the user's "not before" epoch (logout everywhere): families created
 *                               before it, and tokens issued before it (`iat`), are revoked
 *
 * Revocations are pushed: each script that revokes also PUBLISHes the event on
 * `<prefix>revocations` (src/stores/feed.ts: `kind|until|notBefore|key`), in
 * the same atomic step, so a subscriber connected then cannot miss it; and
 * replies it as the field `event`, so the calling instance applies it at once.
 * Classic PUBLISH, not SPUBLISH: on a cluster it reaches every node through
 * the cluster bus, so one subscriber connection to any node hears every shard
 * (sharded pub/sub would need a subscription per slot owner, re-established on
 * every resharding; revocations are rare enough that the broadcast costs nothing).
 *
 * Arguments and replies. Every script unpacks `KEYS` and `ARGV` into named
 * locals at its top, so its body reads by name. Replies name their fields: a
 * flat array of alternating names and values (`{'status', 'rotated', 'family',
 * id, ...}`), which redis.ts turns into a record (`fields()`): readable on
 * both sides.
 *
 * Packing. The arguments travel as one JSON array (redis.ts `#script`), which {@link ARGS}
 * decodes into ARGV (cjson, in C): ioredis spends about 0.1-0.15 µs of the caller's CPU on each
 * argument of a command, and a rotation has twenty; one string costs it what one argument does.
 * Strings keep every character (a NUL included; a lone surrogate becomes U+FFFD, redis.ts
 * `packScriptArgs`); numbers arrive as Lua numbers, and every
 * numeric argument is read through `tonumber`. The hot replies (a rotation, an active
 * introspection) come back the same way, as one JSON array ({@link PACKED}): ioredis parses one
 * bulk string for less than fourteen cost. Only the scripts of {@link PRELUDE} are packed (the
 * one-time records keep plain arguments).
 *
 * Time. Scripts never read the server clock: `now` (ms) is an argument, from
 * the service's injected clock, and every decision compares it with expiries
 * stored in the records. Key expiry is set relative to it (`PEXPIRE until-now`),
 * so records vanish when the token they guard has expired. Lua numbers are
 * doubles: millisecond timestamps are exact in them.
 *
 * @module
 */

/** The arguments: one JSON array (see "Packing" above), decoded into a local ARGV that the script reads as it would the real one. */
const ARGS = `
local ARGV = cjson.decode(ARGV[1])
`;

/**
 * A reply of names and values as one JSON array (see "Packing" above). A missing hash field
 * (false) is '', as fields() reads a nil.
 */
const PACKED = `
local function packed(t)
  for i = 1, #t do
    if not t[i] then t[i] = '' end
  end
  return cjson.encode(t)
end
`;

/** The user's base and the caller's clock (every script), and the helpers shared by every script. */
const PRELUDE = `${ARGS}${PACKED}
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

-- Like expire_at, but never shortens a longer expiry (keys shared by several families,
-- a deny-list entry revoked twice). A key without expiry gets one.
local function extend_to(key, untilMs)
  local ms = untilMs - now
  if ms < 1 then ms = 1 end
  local cur = redis.call('PTTL', key)
  if cur < ms then redis.call('PEXPIRE', key, int(ms)) end
end

-- The client a family is bound to: client_id in its extra claims JSON ('' for none).
local function client_of(claims)
  if not claims or claims == '' then return '' end
  local ok, t = pcall(cjson.decode, claims)
  if ok and type(t) == 'table' and type(t.client_id) == 'string' then return t.client_id end
  return ''
end

-- The DPoP key a family is bound to: cnf.jkt of its claims (RFC 9449 §6.1), '' for none (state.ts jktOfClaims).
local function jkt_of(claims)
  if not claims or claims == '' or not string.find(claims, '"cnf"', 1, true) then return '' end
  local ok, t = pcall(cjson.decode, claims)
  if ok and type(t) == 'table' and type(t.cnf) == 'table' and type(t.cnf.jkt) == 'string' then return t.cnf.jkt end
  return ''
end

-- The session listing's index of a user: s:<sub> (zset: families by record expiry) and ss:<sub>
-- (hash: family -> its summary, a JSON array of strings: created, last used, absolute expiry,
-- record expiry, user agent, address, client, grant ('' for none)), both kept as long as the
-- user's latest family. A rotation rewrites both, so a family the index lacks (written by a
-- tessera before the listing) joins it at its next refresh. client: client_of(the family's claims).
local function summarize(sub, famId, createdAt, lastUsed, absExp, ex, userAgent, address, client, grant)
  local sk, hk = base .. 's:' .. sub, base .. 'ss:' .. sub
  redis.call('HSET', hk, famId, cjson.encode({createdAt, lastUsed, absExp, int(ex), userAgent or '', address or '',
    client, grant or ''}))
  redis.call('ZADD', sk, int(ex), famId)
  extend_to(sk, ex)
  extend_to(hk, ex)
end

-- A revoked family leaves the listing at once.
local function unindex(sub, famId)
  redis.call('HDEL', base .. 'ss:' .. sub, famId)
  redis.call('ZREM', base .. 's:' .. sub, famId)
end

-- Lapsed families (record expiry passed) leave the index: at each login and listing, so the
-- index holds the user's live families and those not yet pruned, never more.
local function prune_index(sub)
  local sk, hk = base .. 's:' .. sub, base .. 'ss:' .. sub
  local lapsed = redis.call('ZRANGEBYSCORE', sk, '-inf', int(now))
  if #lapsed == 0 then return end
  for i = 1, #lapsed, 1000 do redis.call('HDEL', hk, unpack(lapsed, i, math.min(i + 999, #lapsed))) end
  redis.call('ZREMRANGEBYSCORE', sk, '-inf', int(now))
end

-- RFC 6749 §6: every scope-token of requested is one of granted (space-separated, RFC 6749 §3.3).
local function scope_within(requested, granted)
  local have = {}
  for s in string.gmatch(granted, '%S+') do have[s] = true end
  for s in string.gmatch(requested, '%S+') do
    if not have[s] then return false end
  end
  return true
end

-- The push channel: '<prefix>revocations' (the prefix is the base without its '{shard}:').
local channel = string.match(base, '^(.*){') .. 'revocations'

-- Publishes a revocation (src/stores/feed.ts encodeEvent) and returns it for the reply.
local function publish(kind, untilMs, notBefore, key)
  local msg = kind .. '|' .. int(untilMs) .. '|' .. int(notBefore) .. '|' .. key
  redis.call('PUBLISH', channel, msg)
  return msg
end

-- A family is revoked by its flag, or by the user's "not before" epoch if created at or before it.
local function is_revoked(sub, createdAt, revokedFlag)
  if revokedFlag == '1' then return true end
  local epoch = redis.call('GET', base .. 'nbf:' .. sub)
  return epoch and tonumber(createdAt) <= tonumber(epoch)
end
`;

/**
 * The tokens minted for a login or a rotation (`NextTokens`), ARGV[2..7], and
 * `put_tokens`, which writes their opaque records and indexes the family.
 */
const NEXT_TOKENS = `
local leeway = tonumber(ARGV[2])
local nextRefreshId = ARGV[3]
local refreshOpaque = ARGV[4] == '1'
local refreshExpiresAt = tonumber(ARGV[5])
local accessHash = ARGV[6]            -- '' for a self-contained access token
local accessExpiresAt = tonumber(ARGV[7])

-- Writes the records of the new tokens; returns the family record's new expiry (it outlives
-- every token it guards, and never shrinks: exOld).
local function put_tokens(famId, sub, scope, absoluteExpiresAt, exOld)
  local refreshExp = math.min(refreshExpiresAt, absoluteExpiresAt)
  local ex = math.max(exOld, refreshExp + leeway, accessExpiresAt + leeway)
  local issued = math.floor(now / 1000)
  if refreshOpaque then
    local k = base .. 'rt:' .. nextRefreshId
    local ttl = math.floor(refreshExp / 1000) - issued
    redis.call('HSET', k, 'user_id', sub, 'issued_at', int(issued), 'refresh_expires_in', int(ttl), 'used_count', '0', 'family', famId)
    expire_at(k, (issued + ttl) * 1000)
  end
  if accessHash ~= '' then
    local k = base .. 'at:' .. accessHash
    local ttl = math.floor(accessExpiresAt / 1000) - issued
    redis.call('HSET', k, 'user_id', sub, 'issued_at', int(issued), 'expires_in', int(ttl), 'scope', scope, 'family', famId)
    expire_at(k, (issued + ttl) * 1000)
  end
  return ex
end
`;

/** The reply of a rotation or an inspection: a status and the family's fields (FamilyInfo). */
const FAMILY_REPLY = `
local function family_reply(status, famId, sub, scope, claims, createdAt, absoluteExpiresAt)
  return {'status', status, 'family', famId, 'sub', sub, 'scope', scope, 'claims', claims,
    'created', createdAt, 'absolute_expires', absoluteExpiresAt}
end
`;

/**
 * Login: a new family. ARGV: now, the next tokens (2..7), family id, sub,
 * absolute expiry (ms), scope, extra claims (JSON or ''), user agent, address, the grant that
 * created it ('' for none). Replies {'status', 'created'}.
 */
const CREATE_FAMILY = `${PRELUDE}${NEXT_TOKENS}
local famId = ARGV[8]
local sub = ARGV[9]
local absoluteExpiresAt = tonumber(ARGV[10])
local scope = ARGV[11]
local claims = ARGV[12]
-- nil from an older tessera in a mixed fleet: no device recorded.
local userAgent = ARGV[13] or ''
local address = ARGV[14] or ''
local grant = ARGV[15] or ''

local ex = put_tokens(famId, sub, scope, absoluteExpiresAt, 0)
local fk = base .. 'f:' .. famId
-- Written after a logout everywhere of the same millisecond: one ms later, so it lives (state.ts).
local createdAt = now
if tonumber(redis.call('GET', base .. 'nbf:' .. sub) or '') == now then createdAt = now + 1 end
redis.call('HSET', fk, 'sub', sub, 'ct', int(createdAt), 'ax', int(absoluteExpiresAt), 'cur', nextRefreshId, 'prev', '',
  'pat', '0', 'rp', '', 'rv', '0', 'sc', scope, 'cl', claims, 'ex', int(ex), 'ua', userAgent, 'ad', address,
  'gr', grant)
expire_at(fk, ex)
prune_index(sub)
summarize(sub, famId, int(createdAt), int(now), int(absoluteExpiresAt), ex, userAgent, address, client_of(claims), grant)
return {'status', 'created'}
`;

/**
 * Refresh: the atomic consume (RFC 6749 §10.4, RFC 9700 §4.14.2). ARGV: now, the
 * next tokens (2..7), mode ('j': self-contained token, 'o': opaque), family id (j)
 * or token hash (o), jti (j), grace window (ms), encrypted replay pair, presenting
 * client ('' unchecked), '1' and a narrower scope (RFC 6749 §6) or '0' and '', two flags ('1'
 * set, '0' keep) for the refreshing device's user agent and address, then the two values, then
 * '1' and the DPoP proof's thumbprint ('' for no proof) or '0' and '' (unchecked). A rotation
 * records its time as the family's last use and re-indexes the family under its new expiry.
 *
 * Replies status 'rotated' or 'replayed' with the family's fields (and 'replay'),
 * or status 'reused' | 'revoked' | 'expired' | 'unknown' | 'wrong_client' |
 * 'invalid_scope' | 'wrong_key' alone (the last three consume nothing).
 */
const ROTATE = `${PRELUDE}${NEXT_TOKENS}${FAMILY_REPLY}
local opaque = ARGV[8] == 'o'
local familyOrHash = ARGV[9]
local jti = ARGV[10]
local graceMs = tonumber(ARGV[11])
local replay = ARGV[12]
-- nil from a tessera older than clients, in a mixed fleet: no check, as before.
local clientId = ARGV[13] or ''
local narrowing = ARGV[14] == '1'
local requestedScope = ARGV[15] or ''
-- The refreshing device: two flags ('1' set, '0' keep the recorded one), for the user agent and
-- the address, then their values.
local device = ARGV[16] or '00'
local newUserAgent = ARGV[17] or ''
local newAddress = ARGV[18] or ''
-- RFC 9449 §5: the proof's key, checked before anything is counted or consumed.
local keyChecked = ARGV[19] == '1'
local proofJkt = ARGV[20] or ''
local function key_fits(claims)
  if not keyChecked then return true end
  local bound = jkt_of(claims)
  return bound == '' or bound == proofJkt
end

local famId, presented, rk, issuedAt, expiresIn
if opaque then
  rk = base .. 'rt:' .. familyOrHash
  local family
  family, issuedAt, expiresIn = unpack(redis.call('HMGET', rk, 'family', 'issued_at', 'refresh_expires_in'))
  if not family then return {'status', 'unknown'} end
  famId, presented = family, familyOrHash
else
  famId, presented = familyOrHash, jti
end
local fk = base .. 'f:' .. famId
local sub, createdAt, absExp, current, previous, previousAt, storedReplay, revokedFlag, scope, claims, recordExp, userAgent,
  address, grant = unpack(redis.call('HMGET', fk, 'sub', 'ct', 'ax', 'cur', 'prev', 'pat', 'rp', 'rv', 'sc', 'cl', 'ex', 'ua',
  'ad', 'gr'))
-- RFC 6749 §6: a token issued to another client is refused before anything is counted or consumed,
-- so that client can neither use it nor burn it (nor trip reuse detection with it).
-- The family's client, decoded from its claims once: the check below and the listing's summary read it.
local owner = sub and client_of(claims) or ''
if clientId ~= '' and owner ~= '' and owner ~= clientId then return {'status', 'wrong_client'} end
-- RFC 9449 §5: likewise a request without a proof by the family's key, whichever of its tokens it
-- presents: nothing consumed, no reuse detected.
if sub and not key_fits(claims) then return {'status', 'wrong_key'} end
if opaque then
  -- used_count (DESIGN.md, opaque scheme): every presentation counts; the first one consumes.
  redis.call('HINCRBY', rk, 'used_count', 1)
  if now >= (tonumber(issuedAt) + tonumber(expiresIn)) * 1000 then return {'status', 'expired'} end
end
-- A valid token whose family is gone (lost or purged early) fails closed.
if not sub then return {'status', 'revoked'} end
-- In a revoked family a consumed token still reads 'reused'; only the current one reads 'revoked'.
if is_revoked(sub, createdAt, revokedFlag) then
  if presented == current then return {'status', 'revoked'} end
  return {'status', 'reused'}
end
local absoluteExpiresAt = tonumber(absExp)
if now >= absoluteExpiresAt then return {'status', 'expired'} end
if presented == current then
  -- RFC 6749 §6: a refresh may narrow the scope of the new access token, never widen it.
  local accessScope = scope
  if narrowing then
    if not scope_within(requestedScope, scope) then return {'status', 'invalid_scope'} end
    accessScope = requestedScope
  end
  local keptReplay = ''
  if graceMs > 0 then keptReplay = replay end
  local ex = put_tokens(famId, sub, accessScope, absoluteExpiresAt, tonumber(recordExp))
  local fieldsToSet = {'cur', nextRefreshId, 'prev', presented, 'pat', int(now), 'rp', keptReplay, 'ex', int(ex)}
  if string.sub(device, 1, 1) == '1' then
    userAgent = newUserAgent
    fieldsToSet[#fieldsToSet + 1] = 'ua'
    fieldsToSet[#fieldsToSet + 1] = newUserAgent
  end
  if string.sub(device, 2, 2) == '1' then
    address = newAddress
    fieldsToSet[#fieldsToSet + 1] = 'ad'
    fieldsToSet[#fieldsToSet + 1] = newAddress
  end
  redis.call('HSET', fk, unpack(fieldsToSet))
  expire_at(fk, ex)
  summarize(sub, famId, createdAt, int(now), absExp, ex, userAgent, address, owner, grant)
  return packed(family_reply('rotated', famId, sub, scope, claims, createdAt, absExp))
end
-- The token consumed last, again, within the grace window: the same pair, no new sibling.
if graceMs > 0 and presented == previous and storedReplay ~= '' and now - tonumber(previousAt) < graceMs then
  local reply = family_reply('replayed', famId, sub, scope, claims, createdAt, absExp)
  reply[#reply + 1] = 'replay'
  reply[#reply + 1] = storedReplay
  return reply
end
-- Any other token of the family was consumed earlier: reuse. Revoke the family (the record keeps its TTL).
redis.call('HSET', fk, 'rv', '1')
unindex(sub, famId)
return {'status', 'reused', 'event', publish('f', tonumber(recordExp), 0, famId)}
`;

/**
 * authenticate: revocation check of a self-contained access token, or lookup of an
 * opaque one. ARGV: now, mode ('j'|'o'), jti (j, '' for none) or token hash (o),
 * family id (j, '' for none), sub (j, '' for none), iat in seconds (j, '' for none).
 * Replies status 'ok' (with the opaque record's fields: user_id, issued_at,
 * expires_in, scope, family, and the family's extra claims) or 'revoked' |
 * 'expired' | 'unknown'.
 */
const CHECK_ACCESS = `${PRELUDE}
local opaque = ARGV[2] == 'o'
local jtiOrHash = ARGV[3]
local famId = ARGV[4]
local tokenSub = ARGV[5]
local iat = tonumber(ARGV[6])

local userId, issuedAt, expiresIn, scope
if opaque then
  userId, issuedAt, expiresIn, scope, famId =
    unpack(redis.call('HMGET', base .. 'at:' .. jtiOrHash, 'user_id', 'issued_at', 'expires_in', 'scope', 'family'))
  if not userId then return {'status', 'unknown'} end
  if now >= (tonumber(issuedAt) + tonumber(expiresIn)) * 1000 then return {'status', 'expired'} end
elseif jtiOrHash ~= '' and redis.call('EXISTS', base .. 'd:' .. jtiOrHash) == 1 then
  return {'status', 'revoked'}
end
local claims = ''
-- The user's epoch against the token's iat (state.ts iatBeforeEpoch): issued wholly before the
-- epoch's second, revoked; within that second, the family decides, and without one, revoked.
if not opaque and iat and tokenSub ~= '' then
  local epoch = tonumber(redis.call('GET', base .. 'nbf:' .. tokenSub) or '')
  if epoch and ((iat + 1) * 1000 <= epoch or (famId == '' and iat * 1000 <= epoch)) then return {'status', 'revoked'} end
end
if famId ~= '' then
  local sub, createdAt, revokedFlag, familyClaims =
    unpack(redis.call('HMGET', base .. 'f:' .. famId, 'sub', 'ct', 'rv', 'cl'))
  if not sub or is_revoked(sub, createdAt, revokedFlag) then return {'status', 'revoked'} end
  claims = familyClaims or ''
end
if opaque then
  return {'status', 'ok', 'user_id', userId, 'issued_at', issuedAt, 'expires_in', expiresIn, 'scope', scope, 'family', famId,
    'claims', claims}
end
return {'status', 'ok'}
`;

/**
 * Introspection of a refresh token (read-only). ARGV: now, mode, family id (j) or
 * token hash (o), jti (j, '' for any). Replies status 'active' with the family's
 * fields (and for an opaque token its record's: user_id, issued_at,
 * refresh_expires_in, used_count), or status 'inactive'.
 */
const INSPECT_REFRESH = `${PRELUDE}${FAMILY_REPLY}
local opaque = ARGV[2] == 'o'
local familyOrHash = ARGV[3]
local jti = ARGV[4]

local famId, tokenId, userId, issuedAt, expiresIn, usedCount
if opaque then
  userId, issuedAt, expiresIn, usedCount, famId = unpack(redis.call('HMGET', base .. 'rt:' .. familyOrHash,
    'user_id', 'issued_at', 'refresh_expires_in', 'used_count', 'family'))
  if not userId or now >= (tonumber(issuedAt) + tonumber(expiresIn)) * 1000 then return {'status', 'inactive'} end
  tokenId = familyOrHash
else
  famId, tokenId = familyOrHash, jti
end
local sub, createdAt, absExp, current, revokedFlag, scope, claims =
  unpack(redis.call('HMGET', base .. 'f:' .. famId, 'sub', 'ct', 'ax', 'cur', 'rv', 'sc', 'cl'))
if not sub or is_revoked(sub, createdAt, revokedFlag) or now >= tonumber(absExp) then return {'status', 'inactive'} end
-- A consumed token is not "currently active" (RFC 7662 §2.2).
if tokenId ~= '' and tokenId ~= current then return {'status', 'inactive'} end
local reply = family_reply('active', famId, sub, scope, claims, createdAt, absExp)
if opaque then
  for _, v in ipairs({'user_id', userId, 'issued_at', issuedAt, 'refresh_expires_in', expiresIn, 'used_count', usedCount}) do
    reply[#reply + 1] = v
  end
end
return packed(reply)
`;

/**
 * RFC 7009 for an access token, in one script: an opaque one's record is deleted,
 * a self-contained one's jti is deny-listed until denyUntil. ARGV: now, token hash
 * ('' for none), jti ('' for none), deny until (ms). A deny-list entry is never
 * shortened: revoking again with an earlier expiry keeps the later one (memory
 * and SQLite keep the maximum too). Replies {'status', 'revoked'} (and the pushed 'event').
 */
const REVOKE_ACCESS = `${PRELUDE}
local accessHash = ARGV[2]
local jti = ARGV[3]
local denyUntil = tonumber(ARGV[4])

if accessHash ~= '' then redis.call('DEL', base .. 'at:' .. accessHash) end
-- An entry that would expire now guards nothing: none is written.
if jti ~= '' and denyUntil > now then
  local dk = base .. 'd:' .. jti
  if not redis.call('SET', dk, '1', 'PX', int(denyUntil - now), 'NX') then extend_to(dk, denyUntil) end
  return {'status', 'revoked', 'event', publish('j', denyUntil, 0, jti)}
end
return {'status', 'revoked'}
`;

/**
 * RFC 7009 §2.1 for a refresh token: revoke its family. ARGV: now, mode, family id
 * (j) or token hash (o). Replies {'revoked', '1'} (and the pushed 'event') when a live
 * family was revoked, else '0'.
 */
const REVOKE_FAMILY = `${PRELUDE}
local opaque = ARGV[2] == 'o'
local familyOrHash = ARGV[3]

local famId = familyOrHash
if opaque then
  famId = redis.call('HGET', base .. 'rt:' .. familyOrHash, 'family')
  if not famId then return {'revoked', '0'} end
end
local fk = base .. 'f:' .. famId
-- HSET on a missing key would create a record without expiry: check first.
local sub, createdAt, revokedFlag, recordExp = unpack(redis.call('HMGET', fk, 'sub', 'ct', 'rv', 'ex'))
if not sub or is_revoked(sub, createdAt, revokedFlag) then return {'revoked', '0'} end
redis.call('HSET', fk, 'rv', '1')
unindex(sub, famId)
return {'revoked', '1', 'event', publish('f', tonumber(recordExp), 0, famId)}
`;

/**
 * Logout everywhere, in O(1) whatever the user's number of sessions: sets the
 * user's "not before" epoch; every family created before it (is_revoked) and
 * every token issued before it (CHECK_ACCESS) reads as revoked from then on.
 * ARGV: now, sub, keep-until (ms). Replies {'status', 'revoked', 'event', ...}.
 */
const REVOKE_USER = `${PRELUDE}
local sub = ARGV[2]
local keepUntil = tonumber(ARGV[3])

local nk = base .. 'nbf:' .. sub
local prior = tonumber(redis.call('GET', nk) or '0')
local notBefore = math.max(prior, now)
redis.call('SET', nk, int(notBefore))
expire_at(nk, keepUntil)
return {'status', 'revoked', 'event', publish('u', keepUntil, notBefore, sub)}
`;

/**
 * The session listing. ARGV: now, sub. Lapsed families leave the index first; replies the user's
 * epoch ('' for none) and the summaries of the indexed families (HGETALL of ss:<sub>: family,
 * summary, ...). Revoked families left the index when revoked; the caller applies the epoch and
 * the expiries of each summary (a family created at or before the epoch is revoked).
 */
const LIST_FAMILIES = `${PRELUDE}
local sub = ARGV[2]
prune_index(sub)
return {redis.call('GET', base .. 'nbf:' .. sub) or '', redis.call('HGETALL', base .. 'ss:' .. sub)}
`;

/**
 * One-time records. `KEYS[1]` is the record's own key, `<prefix>{o:<digest>}`
 * (src/stores/redis.ts `onceKey`): its hash tag is the digest of (kind, id), so
 * records spread over the cluster's slots and never share a key with token state
 * (a user shard has no ':'). A hash: `v` value, `e` expiry (ms, caller's clock).
 */
const ONCE_PRELUDE = `
local key = KEYS[1]
local now = tonumber(ARGV[1])
`;

/** ARGV: now, value, expiresAt. 1 when stored; 0 when a live record holds the key. */
const PUT_ONCE = `${ONCE_PRELUDE}
local value = ARGV[2]
local expiresAt = tonumber(ARGV[3])
local held = redis.call('HGET', key, 'e')
if held and tonumber(held) > now then return 0 end
local ms = expiresAt - now
if ms < 1 then ms = 1 end
redis.call('DEL', key)
redis.call('HSET', key, 'v', value, 'e', string.format('%d', expiresAt))
redis.call('PEXPIRE', key, string.format('%d', ms))
return 1
`;

/** ARGV: now. The value (and the key deleted), or false when absent or expired. */
const CONSUME_ONCE = `${ONCE_PRELUDE}
local r = redis.call('HMGET', key, 'v', 'e')
if not r[1] then return false end
redis.call('DEL', key)
if tonumber(r[2]) <= now then return false end
return r[1]
`;

/** Command names under which the scripts are registered with `defineCommand`. */
export const SCRIPTS = {
  tesseraV2CreateFamily: CREATE_FAMILY,
  tesseraV2Rotate: ROTATE,
  tesseraV2CheckAccess: CHECK_ACCESS,
  tesseraV2InspectRefresh: INSPECT_REFRESH,
  tesseraV2RevokeAccess: REVOKE_ACCESS,
  tesseraV2RevokeFamily: REVOKE_FAMILY,
  tesseraV2RevokeUser: REVOKE_USER,
  tesseraV2ListFamilies: LIST_FAMILIES,
  tesseraV2PutOnce: PUT_ONCE,
  tesseraV2ConsumeOnce: CONSUME_ONCE,
} as const;

export type ScriptName = keyof typeof SCRIPTS;
