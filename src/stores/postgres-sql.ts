/**
 * The SQL of the PostgreSQL store: the versioned migrations (tables, indexes and
 * one plpgsql function per store operation) and the calls the store makes.
 *
 * Every token-state operation is ONE statement, `SELECT * FROM <schema>.<fn>(...)`:
 * one round trip, one implicit transaction. The functions implement the rules of
 * state.ts (memory and SQLite) and redis-scripts.ts (Redis) once more, in SQL,
 * and the shared contract suite (test/stores/contract.ts) holds all of them to
 * the same behaviour.
 *
 * Concurrency at READ COMMITTED (the default; nothing here needs more):
 *
 * - `rotate` looks at `current` only under the family row's lock: the UPDATE of a
 *   plain rotation (migration 9) takes it, otherwise `SELECT ... FOR UPDATE`. A
 *   second rotation of the same family waits on the row lock; when the first
 *   commits, PostgreSQL re-reads the row's newest version for the waiter
 *   (EvalPlanQual), so the waiter sees the token consumed: exactly one winner, no
 *   read-then-write race (RFC 6749 §10.4, RFC 9700 §4.14.2).
 * - For an opaque token its record is locked first (version 1: by the
 *   `used_count` UPDATE; version 2: `SELECT ... FOR UPDATE`, the count coming
 *   after the client check): presentations of one opaque token queue there.
 * - Lock order, everywhere: [opaque refresh record] -> one family row; logout
 *   everywhere (version 3: O(1)) locks only the user's epoch row. No path locks a
 *   family and then waits for another lock a different path takes first, so there
 *   is no cycle and no deadlock (a 100-way race on one family, or on many
 *   families of one user with logouts in between: tests).
 * - The revocation push (version 3): each revoking function calls `pg_notify` on
 *   the schema's channel ({@link revocationChannel}) in its own transaction, so
 *   the message goes out at commit, atomically with the revocation.
 *
 * Times are milliseconds (bigint) from the caller's injected clock, never the
 * server's `now()`: decisions compare stored expiries with the argument.
 *
 * @module
 */

/** A schema name as we accept it (also what `?schema=` takes): a plain lower-case identifier. */
export const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** The schema-qualifying prefix of every object: `"name".` */
export function qualify(schema: string): string {
  return `"${schema}".`;
}

/**
 * Forward-only migrations; index i brings the schema from version i to i + 1.
 * `S.` stands for the schema-qualified prefix. Never edit a shipped one: add a new one.
 */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE S.users (
    username      text PRIMARY KEY,
    id            text NOT NULL UNIQUE,
    password_hash text NOT NULL,
    created_at    bigint NOT NULL
  );

  -- A login session. 'current' is the one refresh token id that may be used next.
  CREATE TABLE S.families (
    id                  text PRIMARY KEY,
    sub                 text NOT NULL,
    created_at          bigint NOT NULL,
    absolute_expires_at bigint NOT NULL,
    current             text NOT NULL,
    previous            text NOT NULL,
    rotated_at          bigint NOT NULL,
    replay              text NOT NULL,
    revoked             boolean NOT NULL,
    scope               text NOT NULL,
    claims              text NOT NULL,
    expires_at          bigint NOT NULL
  );
  CREATE INDEX families_by_sub ON S.families (sub);
  CREATE INDEX families_by_expiry ON S.families (expires_at);

  -- The original design's rt:<token> records, keyed by SHA-256 of the token.
  CREATE TABLE S.refresh_tokens (
    hash               text PRIMARY KEY,
    user_id            text NOT NULL,
    issued_at          bigint NOT NULL,
    refresh_expires_in bigint NOT NULL,
    used_count         integer NOT NULL,
    family             text NOT NULL,
    expires_at         bigint NOT NULL
  );
  CREATE INDEX refresh_tokens_by_expiry ON S.refresh_tokens (expires_at);

  -- The original design's at:<token> records, keyed by SHA-256 of the token.
  CREATE TABLE S.access_tokens (
    hash       text PRIMARY KEY,
    user_id    text NOT NULL,
    issued_at  bigint NOT NULL,
    expires_in bigint NOT NULL,
    scope      text NOT NULL,
    family     text NOT NULL,
    expires_at bigint NOT NULL
  );
  CREATE INDEX access_tokens_by_expiry ON S.access_tokens (expires_at);

  -- Revoked self-contained access tokens, until they expire.
  CREATE TABLE S.denylist (
    jti        text PRIMARY KEY,
    expires_at bigint NOT NULL
  );
  CREATE INDEX denylist_by_expiry ON S.denylist (expires_at);

  -- "Logout everywhere": families created before not_before are revoked.
  CREATE TABLE S.user_epochs (
    sub        text PRIMARY KEY,
    not_before bigint NOT NULL,
    expires_at bigint NOT NULL
  );
  CREATE INDEX user_epochs_by_expiry ON S.user_epochs (expires_at);

  -- Revoked by its flag, or created before the user's "not before" epoch.
  CREATE FUNCTION S.is_revoked(p_sub text, p_created bigint, p_revoked boolean) RETURNS boolean
  LANGUAGE sql STABLE AS $fn$
    SELECT p_revoked OR coalesce((SELECT p_created < e.not_before FROM S.user_epochs e WHERE e.sub = p_sub), false)
  $fn$;

  -- The opaque records of the new tokens (the original design's shape, in seconds); returns the family
  -- record's new expiry: it outlives every token it guards and never shrinks (state.ts writeTokens).
  CREATE FUNCTION S.put_tokens(
    p_now bigint, p_fam text, p_sub text, p_scope text, p_abs bigint, p_ex_old bigint, p_leeway bigint,
    p_refresh_id text, p_refresh_opaque boolean, p_refresh_exp bigint, p_access_hash text, p_access_exp bigint
  ) RETURNS bigint LANGUAGE plpgsql AS $fn$
  DECLARE
    refresh_exp bigint := least(p_refresh_exp, p_abs);
    issued bigint := p_now / 1000;
    ttl bigint;
  BEGIN
    IF p_refresh_opaque THEN
      ttl := refresh_exp / 1000 - issued;
      INSERT INTO S.refresh_tokens AS r (hash, user_id, issued_at, refresh_expires_in, used_count, family, expires_at)
      VALUES (p_refresh_id, p_sub, issued, ttl, 0, p_fam, (issued + ttl) * 1000)
      ON CONFLICT (hash) DO UPDATE SET user_id = excluded.user_id, issued_at = excluded.issued_at,
        refresh_expires_in = excluded.refresh_expires_in, used_count = 0, family = excluded.family,
        expires_at = excluded.expires_at;
    END IF;
    IF p_access_hash <> '' THEN
      ttl := p_access_exp / 1000 - issued;
      INSERT INTO S.access_tokens AS a (hash, user_id, issued_at, expires_in, scope, family, expires_at)
      VALUES (p_access_hash, p_sub, issued, ttl, p_scope, p_fam, (issued + ttl) * 1000)
      ON CONFLICT (hash) DO UPDATE SET user_id = excluded.user_id, issued_at = excluded.issued_at,
        expires_in = excluded.expires_in, scope = excluded.scope, family = excluded.family, expires_at = excluded.expires_at;
    END IF;
    RETURN greatest(p_ex_old, refresh_exp + p_leeway, p_access_exp + p_leeway);
  END
  $fn$;

  -- Login: a new family with its first tokens.
  CREATE FUNCTION S.create_family(
    p_now bigint, p_leeway bigint, p_refresh_id text, p_refresh_opaque boolean, p_refresh_exp bigint,
    p_access_hash text, p_access_exp bigint,
    p_fam text, p_sub text, p_abs bigint, p_scope text, p_claims text
  ) RETURNS void LANGUAGE plpgsql AS $fn$
  DECLARE
    ex bigint := S.put_tokens(p_now, p_fam, p_sub, p_scope, p_abs, 0, p_leeway,
      p_refresh_id, p_refresh_opaque, p_refresh_exp, p_access_hash, p_access_exp);
  BEGIN
    INSERT INTO S.families AS f (id, sub, created_at, absolute_expires_at, current, previous, rotated_at, replay, revoked,
      scope, claims, expires_at)
    VALUES (p_fam, p_sub, p_now, p_abs, p_refresh_id, '', 0, '', false, p_scope, p_claims, ex)
    ON CONFLICT (id) DO UPDATE SET sub = excluded.sub, created_at = excluded.created_at,
      absolute_expires_at = excluded.absolute_expires_at, current = excluded.current, previous = '', rotated_at = 0,
      replay = '', revoked = false, scope = excluded.scope, claims = excluded.claims, expires_at = excluded.expires_at;
  END
  $fn$;

  -- Refresh: the atomic consume (RFC 6749 §10.4, RFC 9700 §4.14.2). The family row is locked
  -- (FOR UPDATE) before 'current' is compared: of concurrent calls exactly one sees its token current.
  CREATE FUNCTION S.rotate(
    p_now bigint, p_leeway bigint, p_refresh_id text, p_refresh_opaque boolean, p_refresh_exp bigint,
    p_access_hash text, p_access_exp bigint,
    p_opaque boolean, p_family_or_hash text, p_jti text, p_grace bigint, p_replay text,
    OUT o_status text, OUT o_family text, OUT o_sub text, OUT o_scope text, OUT o_claims text,
    OUT o_created bigint, OUT o_absolute bigint, OUT o_replay text
  ) LANGUAGE plpgsql AS $fn$
  DECLARE
    fam_id text;
    presented text;
    rt_family text;
    rt_expires bigint;
    f S.families%ROWTYPE;
    ex bigint;
  BEGIN
    IF p_opaque THEN
      -- The original design's used_count: every presentation counts, the first one consumes. This UPDATE
      -- also locks the record, so presentations of one opaque token queue here.
      UPDATE S.refresh_tokens SET used_count = used_count + 1 WHERE hash = p_family_or_hash
      RETURNING family, expires_at INTO rt_family, rt_expires;
      IF NOT FOUND THEN o_status := 'unknown'; RETURN; END IF;
      IF p_now >= rt_expires THEN o_status := 'expired'; RETURN; END IF;
      fam_id := rt_family;
      presented := p_family_or_hash;
    ELSE
      fam_id := p_family_or_hash;
      presented := p_jti;
    END IF;
    SELECT * INTO f FROM S.families WHERE id = fam_id FOR UPDATE;
    -- A valid token whose family is gone (lost or purged early) fails closed.
    IF NOT FOUND THEN o_status := 'revoked'; RETURN; END IF;
    -- In a revoked family a consumed token still reads 'reused'; only the current one reads 'revoked'.
    IF S.is_revoked(f.sub, f.created_at, f.revoked) THEN
      o_status := CASE WHEN presented = f.current THEN 'revoked' ELSE 'reused' END;
      RETURN;
    END IF;
    IF p_now >= f.absolute_expires_at THEN o_status := 'expired'; RETURN; END IF;
    o_family := f.id; o_sub := f.sub; o_scope := f.scope; o_claims := f.claims;
    o_created := f.created_at; o_absolute := f.absolute_expires_at;
    IF presented = f.current THEN
      ex := S.put_tokens(p_now, f.id, f.sub, f.scope, f.absolute_expires_at, f.expires_at, p_leeway,
        p_refresh_id, p_refresh_opaque, p_refresh_exp, p_access_hash, p_access_exp);
      UPDATE S.families SET current = p_refresh_id, previous = presented, rotated_at = p_now,
        replay = CASE WHEN p_grace > 0 THEN p_replay ELSE '' END, expires_at = ex
      WHERE id = f.id;
      o_status := 'rotated';
      RETURN;
    END IF;
    -- The token consumed last, again, within the grace window: the same pair, no new sibling.
    IF p_grace > 0 AND presented = f.previous AND f.replay <> '' AND p_now - f.rotated_at < p_grace THEN
      o_status := 'replayed';
      o_replay := f.replay;
      RETURN;
    END IF;
    -- Any other token of the family was consumed earlier: reuse. Revoke the family.
    UPDATE S.families SET revoked = true WHERE id = f.id;
    -- (The revocation push, issue 11, will NOTIFY here: the family is revoked.)
    o_status := 'reused';
    o_family := NULL;
  END
  $fn$;

  -- authenticate: revocation check of a self-contained access token, or lookup of an opaque one.
  CREATE FUNCTION S.check_access(
    p_now bigint, p_opaque boolean, p_jti_or_hash text, p_family text,
    OUT o_status text, OUT o_user_id text, OUT o_issued_at bigint, OUT o_expires_in bigint,
    OUT o_scope text, OUT o_family text
  ) LANGUAGE plpgsql STABLE AS $fn$
  DECLARE
    fam_id text := p_family;
    a S.access_tokens%ROWTYPE;
    f S.families%ROWTYPE;
  BEGIN
    IF p_opaque THEN
      SELECT * INTO a FROM S.access_tokens WHERE hash = p_jti_or_hash;
      IF NOT FOUND THEN o_status := 'unknown'; RETURN; END IF;
      IF p_now >= a.expires_at THEN o_status := 'expired'; RETURN; END IF;
      fam_id := a.family;
    ELSIF p_jti_or_hash <> '' AND EXISTS (SELECT 1 FROM S.denylist WHERE jti = p_jti_or_hash) THEN
      o_status := 'revoked';
      RETURN;
    END IF;
    IF fam_id <> '' THEN
      SELECT * INTO f FROM S.families WHERE id = fam_id;
      IF NOT FOUND OR S.is_revoked(f.sub, f.created_at, f.revoked) THEN o_status := 'revoked'; RETURN; END IF;
    END IF;
    o_status := 'ok';
    IF p_opaque THEN
      o_user_id := a.user_id; o_issued_at := a.issued_at; o_expires_in := a.expires_in;
      o_scope := a.scope; o_family := a.family;
    END IF;
  END
  $fn$;

  -- Introspection of a refresh token (read-only).
  CREATE FUNCTION S.inspect_refresh(
    p_now bigint, p_opaque boolean, p_family_or_hash text, p_jti text,
    OUT o_status text, OUT o_family text, OUT o_sub text, OUT o_scope text, OUT o_claims text,
    OUT o_created bigint, OUT o_absolute bigint,
    OUT o_user_id text, OUT o_issued_at bigint, OUT o_refresh_expires_in bigint, OUT o_used_count integer
  ) LANGUAGE plpgsql STABLE AS $fn$
  DECLARE
    fam_id text := p_family_or_hash;
    token_id text := p_jti;
    r S.refresh_tokens%ROWTYPE;
    f S.families%ROWTYPE;
  BEGIN
    o_status := 'inactive';
    IF p_opaque THEN
      SELECT * INTO r FROM S.refresh_tokens WHERE hash = p_family_or_hash;
      IF NOT FOUND OR p_now >= r.expires_at THEN RETURN; END IF;
      fam_id := r.family;
      token_id := p_family_or_hash;
      o_user_id := r.user_id; o_issued_at := r.issued_at; o_refresh_expires_in := r.refresh_expires_in;
      o_used_count := r.used_count;
    END IF;
    SELECT * INTO f FROM S.families WHERE id = fam_id;
    IF NOT FOUND OR S.is_revoked(f.sub, f.created_at, f.revoked) OR p_now >= f.absolute_expires_at THEN RETURN; END IF;
    -- A consumed token is not "currently active" (RFC 7662 §2.2).
    IF token_id <> '' AND token_id <> f.current THEN RETURN; END IF;
    o_status := 'active';
    o_family := f.id; o_sub := f.sub; o_scope := f.scope; o_claims := f.claims;
    o_created := f.created_at; o_absolute := f.absolute_expires_at;
  END
  $fn$;

  -- RFC 7009 for an access token: the opaque record goes; a jti is deny-listed, never for
  -- less time than it already is (greatest of the two expiries).
  CREATE FUNCTION S.revoke_access(p_now bigint, p_access_hash text, p_jti text, p_deny_until bigint)
  RETURNS void LANGUAGE plpgsql AS $fn$
  BEGIN
    IF p_access_hash <> '' THEN DELETE FROM S.access_tokens WHERE hash = p_access_hash; END IF;
    -- An entry for a token that already expired would guard nothing.
    IF p_jti <> '' AND p_deny_until > p_now THEN
      INSERT INTO S.denylist AS d (jti, expires_at) VALUES (p_jti, p_deny_until)
      ON CONFLICT (jti) DO UPDATE SET expires_at = greatest(d.expires_at, excluded.expires_at);
      -- (The revocation push, issue 11, will NOTIFY here: a deny-listed jti.)
    END IF;
  END
  $fn$;

  -- RFC 7009 §2.1 for a refresh token: its whole family. True when a live family was revoked.
  CREATE FUNCTION S.revoke_family(p_now bigint, p_opaque boolean, p_family_or_hash text)
  RETURNS boolean LANGUAGE plpgsql AS $fn$
  DECLARE
    fam_id text := p_family_or_hash;
  BEGIN
    IF p_opaque THEN
      SELECT family INTO fam_id FROM S.refresh_tokens WHERE hash = p_family_or_hash;
      IF NOT FOUND THEN RETURN false; END IF;
    END IF;
    UPDATE S.families SET revoked = true WHERE id = fam_id AND NOT revoked;
    -- (The revocation push, issue 11, will NOTIFY here when FOUND: the family is revoked.)
    RETURN FOUND;
  END
  $fn$;

  -- Logout everywhere: the user's "not before" epoch (refuses families created concurrently
  -- too), then every live family of the user. Lock order: epoch row, then families by id.
  CREATE FUNCTION S.revoke_user(p_now bigint, p_sub text, p_keep_until bigint)
  RETURNS integer LANGUAGE plpgsql AS $fn$
  DECLARE
    n integer;
  BEGIN
    INSERT INTO S.user_epochs AS e (sub, not_before, expires_at) VALUES (p_sub, p_now, p_keep_until)
    ON CONFLICT (sub) DO UPDATE SET not_before = greatest(e.not_before, excluded.not_before), expires_at = excluded.expires_at;
    WITH live AS (
      SELECT id FROM S.families WHERE sub = p_sub AND NOT revoked ORDER BY id FOR UPDATE
    )
    UPDATE S.families f SET revoked = true FROM live WHERE f.id = live.id AND NOT f.revoked;
    GET DIAGNOSTICS n = ROW_COUNT;
    -- (The revocation push, issue 11, will NOTIFY here: every family of the user is revoked.)
    RETURN n;
  END
  $fn$;

  -- One bounded batch of expired rows per table (at most p_batch each), by ctid; rows a request
  -- holds locked are skipped (SKIP LOCKED): purging never waits for, nor blocks, a refresh.
  CREATE FUNCTION S.purge_batch(p_now bigint, p_batch integer) RETURNS integer LANGUAGE plpgsql AS $fn$
  DECLARE
    n integer;
    total integer := 0;
  BEGIN
    DELETE FROM S.families WHERE ctid IN
      (SELECT ctid FROM S.families WHERE expires_at <= p_now LIMIT p_batch FOR UPDATE SKIP LOCKED);
    GET DIAGNOSTICS n = ROW_COUNT; total := total + n;
    DELETE FROM S.refresh_tokens WHERE ctid IN
      (SELECT ctid FROM S.refresh_tokens WHERE expires_at <= p_now LIMIT p_batch FOR UPDATE SKIP LOCKED);
    GET DIAGNOSTICS n = ROW_COUNT; total := total + n;
    DELETE FROM S.access_tokens WHERE ctid IN
      (SELECT ctid FROM S.access_tokens WHERE expires_at <= p_now LIMIT p_batch FOR UPDATE SKIP LOCKED);
    GET DIAGNOSTICS n = ROW_COUNT; total := total + n;
    DELETE FROM S.denylist WHERE ctid IN
      (SELECT ctid FROM S.denylist WHERE expires_at <= p_now LIMIT p_batch FOR UPDATE SKIP LOCKED);
    GET DIAGNOSTICS n = ROW_COUNT; total := total + n;
    DELETE FROM S.user_epochs WHERE ctid IN
      (SELECT ctid FROM S.user_epochs WHERE expires_at <= p_now LIMIT p_batch FOR UPDATE SKIP LOCKED);
    GET DIAGNOSTICS n = ROW_COUNT; total := total + n;
    RETURN total;
  END
  $fn$;
  `,
  `
  -- Registered OAuth clients (RFC 6749 §2); secret_hash is a verifier, never the secret.
  -- No expiry: clients are configuration, not token state (purge_batch leaves them alone).
  CREATE TABLE S.clients (
    client_id   text PRIMARY KEY,
    client_type text NOT NULL CHECK (client_type IN ('public', 'confidential')),
    secret_hash text NOT NULL,
    introspect  boolean NOT NULL,
    created_at  bigint NOT NULL
  );

  -- The client a family is bound to: client_id in its extra claims JSON ('' for none), as
  -- state.ts clientOfClaims. Claims are written by tessera and are JSON, but a row that is not
  -- parses as unbound rather than failing the refresh (the exception block runs only then).
  CREATE FUNCTION S.client_of(p_claims text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $fn$
  DECLARE
    j jsonb;
  BEGIN
    -- No client_id in it: no parse needed (and no subtransaction for the exception block).
    IF p_claims = '' OR position('"client_id"' IN p_claims) = 0 THEN RETURN ''; END IF;
    BEGIN
      j := p_claims::jsonb;
    EXCEPTION WHEN invalid_text_representation THEN
      RETURN '';
    END;
    IF jsonb_typeof(j) = 'object' AND jsonb_typeof(j -> 'client_id') = 'string' THEN RETURN j ->> 'client_id'; END IF;
    RETURN '';
  END
  $fn$;

  -- RFC 6749 §6: every scope-token of p_requested is one of p_granted (space-separated, RFC 6749 §3.3).
  CREATE FUNCTION S.scope_within(p_requested text, p_granted text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $fn$
    SELECT NOT EXISTS (
      SELECT 1 FROM unnest(string_to_array(p_requested, ' ')) AS s
      WHERE s <> '' AND NOT (s = ANY (string_to_array(p_granted, ' ')))
    )
  $fn$;

  -- Login, with the opaque access token's scope (NULL: the family's). The version-1 overload
  -- stays for instances of the previous tessera during a rolling upgrade.
  CREATE FUNCTION S.create_family(
    p_now bigint, p_leeway bigint, p_refresh_id text, p_refresh_opaque boolean, p_refresh_exp bigint,
    p_access_hash text, p_access_exp bigint,
    p_fam text, p_sub text, p_abs bigint, p_scope text, p_claims text, p_access_scope text
  ) RETURNS void LANGUAGE plpgsql AS $fn$
  DECLARE
    ex bigint := S.put_tokens(p_now, p_fam, p_sub, coalesce(p_access_scope, p_scope), p_abs, 0, p_leeway,
      p_refresh_id, p_refresh_opaque, p_refresh_exp, p_access_hash, p_access_exp);
  BEGIN
    INSERT INTO S.families AS f (id, sub, created_at, absolute_expires_at, current, previous, rotated_at, replay, revoked,
      scope, claims, expires_at)
    VALUES (p_fam, p_sub, p_now, p_abs, p_refresh_id, '', 0, '', false, p_scope, p_claims, ex)
    ON CONFLICT (id) DO UPDATE SET sub = excluded.sub, created_at = excluded.created_at,
      absolute_expires_at = excluded.absolute_expires_at, current = excluded.current, previous = '', rotated_at = 0,
      replay = '', revoked = false, scope = excluded.scope, claims = excluded.claims, expires_at = excluded.expires_at;
  END
  $fn$;

  -- Refresh with the client binding and scope narrowing (RFC 6749 §6): p_client is the presenting
  -- client ('' unchecked), p_req_scope a narrower scope asked for (NULL: none), p_access_scope the
  -- opaque access token's scope (NULL: the family's). Another client's token answers 'wrong_client'
  -- before its used_count is counted or anything consumed, so that client can neither use nor burn
  -- it (nor trip reuse detection); a wider scope answers 'invalid_scope' before the consume.
  -- Still one statement: the checks read the rows the rotation locks anyway.
  -- Lock order as in version 1: [opaque refresh record] -> family row.
  -- The version-1 overload stays for instances of the previous tessera during a rolling upgrade.
  CREATE FUNCTION S.rotate(
    p_now bigint, p_leeway bigint, p_refresh_id text, p_refresh_opaque boolean, p_refresh_exp bigint,
    p_access_hash text, p_access_exp bigint,
    p_opaque boolean, p_family_or_hash text, p_jti text, p_grace bigint, p_replay text,
    p_client text, p_req_scope text, p_access_scope text,
    OUT o_status text, OUT o_family text, OUT o_sub text, OUT o_scope text, OUT o_claims text,
    OUT o_created bigint, OUT o_absolute bigint, OUT o_replay text
  ) LANGUAGE plpgsql AS $fn$
  DECLARE
    fam_id text;
    presented text;
    rt_family text;
    rt_expires bigint;
    f S.families%ROWTYPE;
    ex bigint;
    fam_client text;
  BEGIN
    IF p_opaque THEN
      -- Lock the record first (presentations of one opaque token queue here), count it only
      -- after the client check below.
      SELECT family, expires_at INTO rt_family, rt_expires FROM S.refresh_tokens WHERE hash = p_family_or_hash FOR UPDATE;
      IF NOT FOUND THEN o_status := 'unknown'; RETURN; END IF;
      fam_id := rt_family;
      presented := p_family_or_hash;
    ELSE
      fam_id := p_family_or_hash;
      presented := p_jti;
    END IF;
    SELECT * INTO f FROM S.families WHERE id = fam_id FOR UPDATE;
    IF FOUND AND p_client <> '' THEN
      fam_client := S.client_of(f.claims);
      IF fam_client <> '' AND fam_client <> p_client THEN o_status := 'wrong_client'; RETURN; END IF;
    END IF;
    IF p_opaque THEN
      -- The original design's used_count: every presentation counts, the first one consumes.
      UPDATE S.refresh_tokens SET used_count = used_count + 1 WHERE hash = p_family_or_hash;
      IF p_now >= rt_expires THEN o_status := 'expired'; RETURN; END IF;
    END IF;
    -- A valid token whose family is gone (lost or purged early) fails closed.
    IF f.id IS NULL THEN o_status := 'revoked'; RETURN; END IF;
    -- In a revoked family a consumed token still reads 'reused'; only the current one reads 'revoked'.
    IF S.is_revoked(f.sub, f.created_at, f.revoked) THEN
      o_status := CASE WHEN presented = f.current THEN 'revoked' ELSE 'reused' END;
      RETURN;
    END IF;
    IF p_now >= f.absolute_expires_at THEN o_status := 'expired'; RETURN; END IF;
    IF presented = f.current THEN
      IF p_req_scope IS NOT NULL AND NOT S.scope_within(p_req_scope, f.scope) THEN
        o_status := 'invalid_scope';
        RETURN;
      END IF;
      ex := S.put_tokens(p_now, f.id, f.sub, coalesce(p_access_scope, f.scope), f.absolute_expires_at, f.expires_at,
        p_leeway, p_refresh_id, p_refresh_opaque, p_refresh_exp, p_access_hash, p_access_exp);
      UPDATE S.families SET current = p_refresh_id, previous = presented, rotated_at = p_now,
        replay = CASE WHEN p_grace > 0 THEN p_replay ELSE '' END, expires_at = ex
      WHERE id = f.id;
      o_status := 'rotated';
    -- The token consumed last, again, within the grace window: the same pair, no new sibling.
    ELSIF p_grace > 0 AND presented = f.previous AND f.replay <> '' AND p_now - f.rotated_at < p_grace THEN
      o_status := 'replayed';
      o_replay := f.replay;
    ELSE
      -- Any other token of the family was consumed earlier: reuse. Revoke the family.
      UPDATE S.families SET revoked = true WHERE id = f.id;
      -- (The revocation push, issue 11, will NOTIFY here: the family is revoked.)
      o_status := 'reused';
      RETURN;
    END IF;
    o_family := f.id; o_sub := f.sub; o_scope := f.scope; o_claims := f.claims;
    o_created := f.created_at; o_absolute := f.absolute_expires_at;
  END
  $fn$;

  -- authenticate, now also answering the family's extra claims (o_claims: its client and
  -- username), as state.ts checkAccessIn. Same arguments: callers of version 1 read the
  -- columns they know by name.
  DROP FUNCTION S.check_access(bigint, boolean, text, text);
  CREATE FUNCTION S.check_access(
    p_now bigint, p_opaque boolean, p_jti_or_hash text, p_family text,
    OUT o_status text, OUT o_user_id text, OUT o_issued_at bigint, OUT o_expires_in bigint,
    OUT o_scope text, OUT o_family text, OUT o_claims text
  ) LANGUAGE plpgsql STABLE AS $fn$
  DECLARE
    fam_id text := p_family;
    a S.access_tokens%ROWTYPE;
    f S.families%ROWTYPE;
  BEGIN
    IF p_opaque THEN
      SELECT * INTO a FROM S.access_tokens WHERE hash = p_jti_or_hash;
      IF NOT FOUND THEN o_status := 'unknown'; RETURN; END IF;
      IF p_now >= a.expires_at THEN o_status := 'expired'; RETURN; END IF;
      fam_id := a.family;
    ELSIF p_jti_or_hash <> '' AND EXISTS (SELECT 1 FROM S.denylist WHERE jti = p_jti_or_hash) THEN
      o_status := 'revoked';
      RETURN;
    END IF;
    IF fam_id <> '' THEN
      SELECT * INTO f FROM S.families WHERE id = fam_id;
      IF NOT FOUND OR S.is_revoked(f.sub, f.created_at, f.revoked) THEN o_status := 'revoked'; RETURN; END IF;
      o_claims := f.claims;
    END IF;
    o_status := 'ok';
    IF p_opaque THEN
      o_user_id := a.user_id; o_issued_at := a.issued_at; o_expires_in := a.expires_in;
      o_scope := a.scope; o_family := a.family;
    END IF;
  END
  $fn$;
  `,
  `
  -- Version 3 (issue 14 on PostgreSQL; issue 12 findings 6 and 7): logout everywhere in O(1),
  -- the user's epoch against a token's iat, and the revocation push by NOTIFY.
  --
  -- The push: every revoking function calls pg_notify on this schema's channel (C_CHANNEL)
  -- with the event in feed.ts encodeEvent's form, inside the revoking transaction. NOTIFY is
  -- transactional: it is delivered at commit, never for a rolled-back revocation, and every
  -- listening session hears it (the store's LISTEN connection, on every instance). The function
  -- also answers the event, so that the instance that revoked applies it at once.
  --
  -- Functions whose arguments and result stay are replaced in place, so that instances of the
  -- previous tessera (version 2) keep working during a rolling upgrade, and notify too.

  -- The revoked families, for the snapshot a new listener starts from (only they are indexed).
  CREATE INDEX families_revoked ON S.families (expires_at) WHERE revoked;

  -- Created AT or before the user's epoch (was: before): a login in the very millisecond of a
  -- logout everywhere is on the safe side, as state.ts isRevoked.
  CREATE OR REPLACE FUNCTION S.is_revoked(p_sub text, p_created bigint, p_revoked boolean) RETURNS boolean
  LANGUAGE sql STABLE AS $fn$
    SELECT p_revoked OR coalesce((SELECT p_created <= e.not_before FROM S.user_epochs e WHERE e.sub = p_sub), false)
  $fn$;

  -- Login: a family written in the millisecond of the user's epoch is after it (one millisecond
  -- later, as state.ts createFamilyIn), so that a login right after logout everywhere lives.
  CREATE OR REPLACE FUNCTION S.create_family(
    p_now bigint, p_leeway bigint, p_refresh_id text, p_refresh_opaque boolean, p_refresh_exp bigint,
    p_access_hash text, p_access_exp bigint,
    p_fam text, p_sub text, p_abs bigint, p_scope text, p_claims text, p_access_scope text
  ) RETURNS void LANGUAGE plpgsql AS $fn$
  DECLARE
    ex bigint := S.put_tokens(p_now, p_fam, p_sub, coalesce(p_access_scope, p_scope), p_abs, 0, p_leeway,
      p_refresh_id, p_refresh_opaque, p_refresh_exp, p_access_hash, p_access_exp);
    created bigint := p_now;
  BEGIN
    IF EXISTS (SELECT 1 FROM S.user_epochs WHERE sub = p_sub AND not_before = p_now) THEN created := p_now + 1; END IF;
    INSERT INTO S.families AS f (id, sub, created_at, absolute_expires_at, current, previous, rotated_at, replay, revoked,
      scope, claims, expires_at)
    VALUES (p_fam, p_sub, created, p_abs, p_refresh_id, '', 0, '', false, p_scope, p_claims, ex)
    ON CONFLICT (id) DO UPDATE SET sub = excluded.sub, created_at = excluded.created_at,
      absolute_expires_at = excluded.absolute_expires_at, current = excluded.current, previous = '', rotated_at = 0,
      replay = '', revoked = false, scope = excluded.scope, claims = excluded.claims, expires_at = excluded.expires_at;
  END
  $fn$;

  -- The version-1 login, for instances of an older tessera: the same rule, through the above.
  CREATE OR REPLACE FUNCTION S.create_family(
    p_now bigint, p_leeway bigint, p_refresh_id text, p_refresh_opaque boolean, p_refresh_exp bigint,
    p_access_hash text, p_access_exp bigint,
    p_fam text, p_sub text, p_abs bigint, p_scope text, p_claims text
  ) RETURNS void LANGUAGE sql AS $fn$
    SELECT S.create_family(p_now, p_leeway, p_refresh_id, p_refresh_opaque, p_refresh_exp, p_access_hash, p_access_exp,
      p_fam, p_sub, p_abs, p_scope, p_claims, NULL::text)
  $fn$;

  -- The version-2 rotation, now answering (o_event) and notifying the family's revocation when
  -- it detects reuse. Otherwise unchanged (see version 2); callers of version 2 read the columns
  -- they know by name, so the extra one is harmless to them.
  DROP FUNCTION S.rotate(bigint, bigint, text, boolean, bigint, text, bigint, boolean, text, text, bigint, text,
    text, text, text);
  CREATE FUNCTION S.rotate(
    p_now bigint, p_leeway bigint, p_refresh_id text, p_refresh_opaque boolean, p_refresh_exp bigint,
    p_access_hash text, p_access_exp bigint,
    p_opaque boolean, p_family_or_hash text, p_jti text, p_grace bigint, p_replay text,
    p_client text, p_req_scope text, p_access_scope text,
    OUT o_status text, OUT o_family text, OUT o_sub text, OUT o_scope text, OUT o_claims text,
    OUT o_created bigint, OUT o_absolute bigint, OUT o_replay text, OUT o_event text
  ) LANGUAGE plpgsql AS $fn$
  DECLARE
    fam_id text;
    presented text;
    rt_family text;
    rt_expires bigint;
    f S.families%ROWTYPE;
    ex bigint;
    fam_client text;
  BEGIN
    IF p_opaque THEN
      SELECT family, expires_at INTO rt_family, rt_expires FROM S.refresh_tokens WHERE hash = p_family_or_hash FOR UPDATE;
      IF NOT FOUND THEN o_status := 'unknown'; RETURN; END IF;
      fam_id := rt_family;
      presented := p_family_or_hash;
    ELSE
      fam_id := p_family_or_hash;
      presented := p_jti;
    END IF;
    SELECT * INTO f FROM S.families WHERE id = fam_id FOR UPDATE;
    IF FOUND AND p_client <> '' THEN
      fam_client := S.client_of(f.claims);
      IF fam_client <> '' AND fam_client <> p_client THEN o_status := 'wrong_client'; RETURN; END IF;
    END IF;
    IF p_opaque THEN
      UPDATE S.refresh_tokens SET used_count = used_count + 1 WHERE hash = p_family_or_hash;
      IF p_now >= rt_expires THEN o_status := 'expired'; RETURN; END IF;
    END IF;
    IF f.id IS NULL THEN o_status := 'revoked'; RETURN; END IF;
    IF S.is_revoked(f.sub, f.created_at, f.revoked) THEN
      o_status := CASE WHEN presented = f.current THEN 'revoked' ELSE 'reused' END;
      RETURN;
    END IF;
    IF p_now >= f.absolute_expires_at THEN o_status := 'expired'; RETURN; END IF;
    IF presented = f.current THEN
      IF p_req_scope IS NOT NULL AND NOT S.scope_within(p_req_scope, f.scope) THEN
        o_status := 'invalid_scope';
        RETURN;
      END IF;
      ex := S.put_tokens(p_now, f.id, f.sub, coalesce(p_access_scope, f.scope), f.absolute_expires_at, f.expires_at,
        p_leeway, p_refresh_id, p_refresh_opaque, p_refresh_exp, p_access_hash, p_access_exp);
      UPDATE S.families SET current = p_refresh_id, previous = presented, rotated_at = p_now,
        replay = CASE WHEN p_grace > 0 THEN p_replay ELSE '' END, expires_at = ex
      WHERE id = f.id;
      o_status := 'rotated';
    ELSIF p_grace > 0 AND presented = f.previous AND f.replay <> '' AND p_now - f.rotated_at < p_grace THEN
      o_status := 'replayed';
      o_replay := f.replay;
    ELSE
      -- Reuse (RFC 9700 §4.14.2): revoke the family and push it (delivered at commit).
      UPDATE S.families SET revoked = true WHERE id = f.id;
      o_event := 'f|' || f.expires_at || '|0|' || f.id;
      PERFORM pg_notify('C_CHANNEL', o_event);
      o_status := 'reused';
      RETURN;
    END IF;
    o_family := f.id; o_sub := f.sub; o_scope := f.scope; o_claims := f.claims;
    o_created := f.created_at; o_absolute := f.absolute_expires_at;
  END
  $fn$;

  -- The version-1 rotation, for instances of an older tessera: through the above (no client,
  -- no narrowing), so that it too sees the epoch rule and notifies.
  CREATE OR REPLACE FUNCTION S.rotate(
    p_now bigint, p_leeway bigint, p_refresh_id text, p_refresh_opaque boolean, p_refresh_exp bigint,
    p_access_hash text, p_access_exp bigint,
    p_opaque boolean, p_family_or_hash text, p_jti text, p_grace bigint, p_replay text,
    OUT o_status text, OUT o_family text, OUT o_sub text, OUT o_scope text, OUT o_claims text,
    OUT o_created bigint, OUT o_absolute bigint, OUT o_replay text
  ) LANGUAGE sql AS $fn$
    SELECT r.o_status, r.o_family, r.o_sub, r.o_scope, r.o_claims, r.o_created, r.o_absolute, r.o_replay
    FROM S.rotate(p_now, p_leeway, p_refresh_id, p_refresh_opaque, p_refresh_exp, p_access_hash, p_access_exp,
      p_opaque, p_family_or_hash, p_jti, p_grace, p_replay, ''::text, NULL::text, NULL::text) r
  $fn$;

  -- authenticate with the user's epoch against the token's iat (issue 12 finding 7), as state.ts
  -- checkAccessIn and iatBeforeEpoch: p_iat (seconds, NULL: not checked) of a self-contained
  -- token whose whole second precedes the epoch is revoked; one issued in the epoch's own second
  -- is judged by its family's creation time (ms), and revoked when it has no family. The
  -- four-argument version 2 stays for instances of the previous tessera.
  CREATE FUNCTION S.check_access(
    p_now bigint, p_opaque boolean, p_jti_or_hash text, p_family text, p_sub text, p_iat double precision,
    OUT o_status text, OUT o_user_id text, OUT o_issued_at bigint, OUT o_expires_in bigint,
    OUT o_scope text, OUT o_family text, OUT o_claims text
  ) LANGUAGE plpgsql STABLE AS $fn$
  DECLARE
    fam_id text := p_family;
    a S.access_tokens%ROWTYPE;
    f S.families%ROWTYPE;
    epoch bigint;
  BEGIN
    IF p_opaque THEN
      SELECT * INTO a FROM S.access_tokens WHERE hash = p_jti_or_hash;
      IF NOT FOUND THEN o_status := 'unknown'; RETURN; END IF;
      IF p_now >= a.expires_at THEN o_status := 'expired'; RETURN; END IF;
      fam_id := a.family;
    ELSIF p_jti_or_hash <> '' AND EXISTS (SELECT 1 FROM S.denylist WHERE jti = p_jti_or_hash) THEN
      o_status := 'revoked';
      RETURN;
    END IF;
    IF p_iat IS NOT NULL AND p_sub <> '' THEN
      SELECT not_before INTO epoch FROM S.user_epochs WHERE sub = p_sub;
      IF FOUND AND ((p_iat + 1) * 1000 <= epoch OR (fam_id = '' AND p_iat * 1000 <= epoch)) THEN
        o_status := 'revoked';
        RETURN;
      END IF;
    END IF;
    IF fam_id <> '' THEN
      SELECT * INTO f FROM S.families WHERE id = fam_id;
      IF NOT FOUND OR S.is_revoked(f.sub, f.created_at, f.revoked) THEN o_status := 'revoked'; RETURN; END IF;
      o_claims := f.claims;
    END IF;
    o_status := 'ok';
    IF p_opaque THEN
      o_user_id := a.user_id; o_issued_at := a.issued_at; o_expires_in := a.expires_in;
      o_scope := a.scope; o_family := a.family;
    END IF;
  END
  $fn$;

  -- RFC 7009 for an access token, now answering and notifying the deny-list entry ('' when
  -- nothing was deny-listed). Callers of version 2 ignore the answer.
  DROP FUNCTION S.revoke_access(bigint, text, text, bigint);
  CREATE FUNCTION S.revoke_access(p_now bigint, p_access_hash text, p_jti text, p_deny_until bigint)
  RETURNS text LANGUAGE plpgsql AS $fn$
  DECLARE
    until bigint;
    ev text := '';
  BEGIN
    IF p_access_hash <> '' THEN DELETE FROM S.access_tokens WHERE hash = p_access_hash; END IF;
    IF p_jti <> '' AND p_deny_until > p_now THEN
      INSERT INTO S.denylist AS d (jti, expires_at) VALUES (p_jti, p_deny_until)
      ON CONFLICT (jti) DO UPDATE SET expires_at = greatest(d.expires_at, excluded.expires_at)
      RETURNING expires_at INTO until;
      ev := 'j|' || until || '|0|' || p_jti;
      PERFORM pg_notify('C_CHANNEL', ev);
    END IF;
    RETURN ev;
  END
  $fn$;

  -- RFC 7009 §2.1 for a refresh token: its whole family, unless already revoked by its flag or
  -- by the user's epoch. Answers and notifies the event; '' when no live family was found.
  CREATE FUNCTION S.revoke_family_event(p_now bigint, p_opaque boolean, p_family_or_hash text)
  RETURNS text LANGUAGE plpgsql AS $fn$
  DECLARE
    fam_id text := p_family_or_hash;
    until bigint;
    ev text;
  BEGIN
    IF p_opaque THEN
      SELECT family INTO fam_id FROM S.refresh_tokens WHERE hash = p_family_or_hash;
      IF NOT FOUND THEN RETURN ''; END IF;
    END IF;
    UPDATE S.families f SET revoked = true WHERE f.id = fam_id AND NOT S.is_revoked(f.sub, f.created_at, f.revoked)
    RETURNING f.expires_at INTO until;
    IF NOT FOUND THEN RETURN ''; END IF;
    ev := 'f|' || until || '|0|' || fam_id;
    PERFORM pg_notify('C_CHANNEL', ev);
    RETURN ev;
  END
  $fn$;

  -- The version-1 form (true when a live family was revoked), for instances of an older tessera.
  CREATE OR REPLACE FUNCTION S.revoke_family(p_now bigint, p_opaque boolean, p_family_or_hash text)
  RETURNS boolean LANGUAGE sql AS $fn$
    SELECT S.revoke_family_event(p_now, p_opaque, p_family_or_hash) <> ''
  $fn$;

  -- Logout everywhere in O(1) (issue 12 finding 6): the user's "not before" epoch alone, one
  -- row, whatever the number of sessions; families created at or before it read as revoked
  -- (is_revoked) whenever they are next touched, and the purge removes them when they expire.
  -- The epoch never moves back and is kept as long as any caller asked. Answers and notifies
  -- the event; callers of version 2 ignore the answer.
  DROP FUNCTION S.revoke_user(bigint, text, bigint);
  CREATE FUNCTION S.revoke_user(p_now bigint, p_sub text, p_keep_until bigint)
  RETURNS text LANGUAGE plpgsql AS $fn$
  DECLARE
    nb bigint;
    until bigint;
    ev text;
  BEGIN
    INSERT INTO S.user_epochs AS e (sub, not_before, expires_at) VALUES (p_sub, p_now, p_keep_until)
    ON CONFLICT (sub) DO UPDATE SET not_before = greatest(e.not_before, excluded.not_before),
      expires_at = greatest(e.expires_at, excluded.expires_at)
    RETURNING not_before, expires_at INTO nb, until;
    ev := 'u|' || until || '|' || nb || '|' || p_sub;
    PERFORM pg_notify('C_CHANNEL', ev);
    RETURN ev;
  END
  $fn$;
  `,
  `
  -- One-time records (authorization codes, device codes, DPoP proof ids): (kind, id) is the
  -- namespace, held as bytes (UTF-8), as is the value, so that any string, NUL included, is kept as given. Put by one INSERT ... ON CONFLICT (an expired holder replaced, a live one kept),
  -- consumed by one DELETE ... RETURNING: of concurrent consumers exactly one gets the row.
  CREATE TABLE S.once_records (
    kind        bytea NOT NULL,
    id          bytea NOT NULL,
    value       bytea NOT NULL,
    expires_at  bigint NOT NULL,
    PRIMARY KEY (kind, id)
  );
  CREATE INDEX once_records_by_expiry ON S.once_records (expires_at);

  -- The purge covers them like every other expiring table.
  CREATE OR REPLACE FUNCTION S.purge_batch(p_now bigint, p_batch integer) RETURNS integer LANGUAGE plpgsql AS $fn$
  DECLARE
    n integer;
    total integer := 0;
  BEGIN
    DELETE FROM S.families WHERE ctid IN
      (SELECT ctid FROM S.families WHERE expires_at <= p_now LIMIT p_batch FOR UPDATE SKIP LOCKED);
    GET DIAGNOSTICS n = ROW_COUNT; total := total + n;
    DELETE FROM S.refresh_tokens WHERE ctid IN
      (SELECT ctid FROM S.refresh_tokens WHERE expires_at <= p_now LIMIT p_batch FOR UPDATE SKIP LOCKED);
    GET DIAGNOSTICS n = ROW_COUNT; total := total + n;
    DELETE FROM S.access_tokens WHERE ctid IN
      (SELECT ctid FROM S.access_tokens WHERE expires_at <= p_now LIMIT p_batch FOR UPDATE SKIP LOCKED);
    GET DIAGNOSTICS n = ROW_COUNT; total := total + n;
    DELETE FROM S.denylist WHERE ctid IN
      (SELECT ctid FROM S.denylist WHERE expires_at <= p_now LIMIT p_batch FOR UPDATE SKIP LOCKED);
    GET DIAGNOSTICS n = ROW_COUNT; total := total + n;
    DELETE FROM S.user_epochs WHERE ctid IN
      (SELECT ctid FROM S.user_epochs WHERE expires_at <= p_now LIMIT p_batch FOR UPDATE SKIP LOCKED);
    GET DIAGNOSTICS n = ROW_COUNT; total := total + n;
    DELETE FROM S.once_records WHERE ctid IN
      (SELECT ctid FROM S.once_records WHERE expires_at <= p_now LIMIT p_batch FOR UPDATE SKIP LOCKED);
    GET DIAGNOSTICS n = ROW_COUNT; total := total + n;
    RETURN total;
  END
  $fn$;
  `,
  `
  -- The client fields beyond the first five (oauth-clients/types.ts ClientSettings) as one JSON
  -- object. '{}' (a row written before them, or by an instance of the previous tessera during a
  -- rolling upgrade: its statements name their columns) reads as CLIENT_DEFAULTS.
  ALTER TABLE S.clients ADD COLUMN settings text NOT NULL DEFAULT '{}';
  `,
  `
  -- The session listing: each family's last use and the device of its latest sign-in or refresh,
  -- written by the login and rotation statements themselves (still one statement each), and the
  -- per-user index (families_by_sub, version 1) it is read by. 0 and '' (a family written
  -- before them, or by an instance of the previous tessera): last used when created, no device.
  ALTER TABLE S.families ADD COLUMN last_used_at bigint NOT NULL DEFAULT 0,
    ADD COLUMN user_agent text NOT NULL DEFAULT '',
    ADD COLUMN address text NOT NULL DEFAULT '';

  -- Login with the device (user agent and address as the caller keeps them).
  CREATE FUNCTION S.create_family(
    p_now bigint, p_leeway bigint, p_refresh_id text, p_refresh_opaque boolean, p_refresh_exp bigint,
    p_access_hash text, p_access_exp bigint,
    p_fam text, p_sub text, p_abs bigint, p_scope text, p_claims text, p_access_scope text,
    p_user_agent text, p_address text
  ) RETURNS void LANGUAGE plpgsql AS $fn$
  DECLARE
    ex bigint := S.put_tokens(p_now, p_fam, p_sub, coalesce(p_access_scope, p_scope), p_abs, 0, p_leeway,
      p_refresh_id, p_refresh_opaque, p_refresh_exp, p_access_hash, p_access_exp);
    created bigint := p_now;
  BEGIN
    IF EXISTS (SELECT 1 FROM S.user_epochs WHERE sub = p_sub AND not_before = p_now) THEN created := p_now + 1; END IF;
    INSERT INTO S.families AS f (id, sub, created_at, absolute_expires_at, current, previous, rotated_at, replay, revoked,
      scope, claims, expires_at, last_used_at, user_agent, address)
    VALUES (p_fam, p_sub, created, p_abs, p_refresh_id, '', 0, '', false, p_scope, p_claims, ex, p_now, p_user_agent,
      p_address)
    ON CONFLICT (id) DO UPDATE SET sub = excluded.sub, created_at = excluded.created_at,
      absolute_expires_at = excluded.absolute_expires_at, current = excluded.current, previous = '', rotated_at = 0,
      replay = '', revoked = false, scope = excluded.scope, claims = excluded.claims, expires_at = excluded.expires_at,
      last_used_at = excluded.last_used_at, user_agent = excluded.user_agent, address = excluded.address;
  END
  $fn$;

  -- The version-5 login, for instances of the previous tessera: through the above, no device.
  CREATE OR REPLACE FUNCTION S.create_family(
    p_now bigint, p_leeway bigint, p_refresh_id text, p_refresh_opaque boolean, p_refresh_exp bigint,
    p_access_hash text, p_access_exp bigint,
    p_fam text, p_sub text, p_abs bigint, p_scope text, p_claims text, p_access_scope text
  ) RETURNS void LANGUAGE sql AS $fn$
    SELECT S.create_family(p_now, p_leeway, p_refresh_id, p_refresh_opaque, p_refresh_exp, p_access_hash, p_access_exp,
      p_fam, p_sub, p_abs, p_scope, p_claims, p_access_scope, ''::text, ''::text)
  $fn$;

  -- Refresh recording the family's last use, and the refreshing device when given (p_user_agent
  -- and p_address NULL: the recorded one kept), in the rotation's own UPDATE. Otherwise the
  -- version-3 rotation unchanged (lock order: [opaque refresh record] -> family row).
  CREATE FUNCTION S.rotate(
    p_now bigint, p_leeway bigint, p_refresh_id text, p_refresh_opaque boolean, p_refresh_exp bigint,
    p_access_hash text, p_access_exp bigint,
    p_opaque boolean, p_family_or_hash text, p_jti text, p_grace bigint, p_replay text,
    p_client text, p_req_scope text, p_access_scope text, p_user_agent text, p_address text,
    OUT o_status text, OUT o_family text, OUT o_sub text, OUT o_scope text, OUT o_claims text,
    OUT o_created bigint, OUT o_absolute bigint, OUT o_replay text, OUT o_event text
  ) LANGUAGE plpgsql AS $fn$
  DECLARE
    fam_id text;
    presented text;
    rt_family text;
    rt_expires bigint;
    f S.families%ROWTYPE;
    ex bigint;
    fam_client text;
  BEGIN
    IF p_opaque THEN
      SELECT family, expires_at INTO rt_family, rt_expires FROM S.refresh_tokens WHERE hash = p_family_or_hash FOR UPDATE;
      IF NOT FOUND THEN o_status := 'unknown'; RETURN; END IF;
      fam_id := rt_family;
      presented := p_family_or_hash;
    ELSE
      fam_id := p_family_or_hash;
      presented := p_jti;
    END IF;
    SELECT * INTO f FROM S.families WHERE id = fam_id FOR UPDATE;
    IF FOUND AND p_client <> '' THEN
      fam_client := S.client_of(f.claims);
      IF fam_client <> '' AND fam_client <> p_client THEN o_status := 'wrong_client'; RETURN; END IF;
    END IF;
    IF p_opaque THEN
      UPDATE S.refresh_tokens SET used_count = used_count + 1 WHERE hash = p_family_or_hash;
      IF p_now >= rt_expires THEN o_status := 'expired'; RETURN; END IF;
    END IF;
    IF f.id IS NULL THEN o_status := 'revoked'; RETURN; END IF;
    IF S.is_revoked(f.sub, f.created_at, f.revoked) THEN
      o_status := CASE WHEN presented = f.current THEN 'revoked' ELSE 'reused' END;
      RETURN;
    END IF;
    IF p_now >= f.absolute_expires_at THEN o_status := 'expired'; RETURN; END IF;
    IF presented = f.current THEN
      IF p_req_scope IS NOT NULL AND NOT S.scope_within(p_req_scope, f.scope) THEN
        o_status := 'invalid_scope';
        RETURN;
      END IF;
      ex := S.put_tokens(p_now, f.id, f.sub, coalesce(p_access_scope, f.scope), f.absolute_expires_at, f.expires_at,
        p_leeway, p_refresh_id, p_refresh_opaque, p_refresh_exp, p_access_hash, p_access_exp);
      UPDATE S.families SET current = p_refresh_id, previous = presented, rotated_at = p_now,
        replay = CASE WHEN p_grace > 0 THEN p_replay ELSE '' END, expires_at = ex, last_used_at = p_now,
        user_agent = coalesce(p_user_agent, user_agent), address = coalesce(p_address, address)
      WHERE id = f.id;
      o_status := 'rotated';
    ELSIF p_grace > 0 AND presented = f.previous AND f.replay <> '' AND p_now - f.rotated_at < p_grace THEN
      o_status := 'replayed';
      o_replay := f.replay;
    ELSE
      -- Reuse (RFC 9700 §4.14.2): revoke the family and push it (delivered at commit).
      UPDATE S.families SET revoked = true WHERE id = f.id;
      o_event := 'f|' || f.expires_at || '|0|' || f.id;
      PERFORM pg_notify('C_CHANNEL', o_event);
      o_status := 'reused';
      RETURN;
    END IF;
    o_family := f.id; o_sub := f.sub; o_scope := f.scope; o_claims := f.claims;
    o_created := f.created_at; o_absolute := f.absolute_expires_at;
  END
  $fn$;

  -- The version-3 rotation, for instances of the previous tessera: through the above, device kept.
  CREATE OR REPLACE FUNCTION S.rotate(
    p_now bigint, p_leeway bigint, p_refresh_id text, p_refresh_opaque boolean, p_refresh_exp bigint,
    p_access_hash text, p_access_exp bigint,
    p_opaque boolean, p_family_or_hash text, p_jti text, p_grace bigint, p_replay text,
    p_client text, p_req_scope text, p_access_scope text,
    OUT o_status text, OUT o_family text, OUT o_sub text, OUT o_scope text, OUT o_claims text,
    OUT o_created bigint, OUT o_absolute bigint, OUT o_replay text, OUT o_event text
  ) LANGUAGE sql AS $fn$
    SELECT r.o_status, r.o_family, r.o_sub, r.o_scope, r.o_claims, r.o_created, r.o_absolute, r.o_replay, r.o_event
    FROM S.rotate(p_now, p_leeway, p_refresh_id, p_refresh_opaque, p_refresh_exp, p_access_hash, p_access_exp,
      p_opaque, p_family_or_hash, p_jti, p_grace, p_replay, p_client, p_req_scope, p_access_scope, NULL::text, NULL::text) r
  $fn$;
  `,
  `
  -- The grant that created each family (the session listing's grant), written by the login
  -- statement and left alone by rotations. NULL (a family written before it, or by an instance
  -- of the previous tessera): unknown.
  ALTER TABLE S.families ADD COLUMN grant_type text;

  -- Login with the device and the grant.
  CREATE FUNCTION S.create_family(
    p_now bigint, p_leeway bigint, p_refresh_id text, p_refresh_opaque boolean, p_refresh_exp bigint,
    p_access_hash text, p_access_exp bigint,
    p_fam text, p_sub text, p_abs bigint, p_scope text, p_claims text, p_access_scope text,
    p_user_agent text, p_address text, p_grant text
  ) RETURNS void LANGUAGE plpgsql AS $fn$
  DECLARE
    ex bigint := S.put_tokens(p_now, p_fam, p_sub, coalesce(p_access_scope, p_scope), p_abs, 0, p_leeway,
      p_refresh_id, p_refresh_opaque, p_refresh_exp, p_access_hash, p_access_exp);
    created bigint := p_now;
  BEGIN
    IF EXISTS (SELECT 1 FROM S.user_epochs WHERE sub = p_sub AND not_before = p_now) THEN created := p_now + 1; END IF;
    INSERT INTO S.families AS f (id, sub, created_at, absolute_expires_at, current, previous, rotated_at, replay, revoked,
      scope, claims, expires_at, last_used_at, user_agent, address, grant_type)
    VALUES (p_fam, p_sub, created, p_abs, p_refresh_id, '', 0, '', false, p_scope, p_claims, ex, p_now, p_user_agent,
      p_address, p_grant)
    ON CONFLICT (id) DO UPDATE SET sub = excluded.sub, created_at = excluded.created_at,
      absolute_expires_at = excluded.absolute_expires_at, current = excluded.current, previous = '', rotated_at = 0,
      replay = '', revoked = false, scope = excluded.scope, claims = excluded.claims, expires_at = excluded.expires_at,
      last_used_at = excluded.last_used_at, user_agent = excluded.user_agent, address = excluded.address,
      grant_type = excluded.grant_type;
  END
  $fn$;

  -- The version-6 login, for instances of the previous tessera: through the above, no grant
  -- (the version-5 login goes through this one in turn).
  CREATE OR REPLACE FUNCTION S.create_family(
    p_now bigint, p_leeway bigint, p_refresh_id text, p_refresh_opaque boolean, p_refresh_exp bigint,
    p_access_hash text, p_access_exp bigint,
    p_fam text, p_sub text, p_abs bigint, p_scope text, p_claims text, p_access_scope text,
    p_user_agent text, p_address text
  ) RETURNS void LANGUAGE sql AS $fn$
    SELECT S.create_family(p_now, p_leeway, p_refresh_id, p_refresh_opaque, p_refresh_exp, p_access_hash, p_access_exp,
      p_fam, p_sub, p_abs, p_scope, p_claims, p_access_scope, p_user_agent, p_address, NULL::text)
  $fn$;
  `,
  `
  -- The DPoP key a family is bound to: cnf.jkt of its extra claims (RFC 9449 §6.1), '' for none,
  -- as state.ts jktOfClaims (a row whose claims are not JSON reads as unbound).
  CREATE FUNCTION S.jkt_of(p_claims text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $fn$
  DECLARE
    j jsonb;
  BEGIN
    IF p_claims = '' OR position('"cnf"' IN p_claims) = 0 THEN RETURN ''; END IF;
    BEGIN
      j := p_claims::jsonb;
    EXCEPTION WHEN invalid_text_representation THEN
      RETURN '';
    END;
    IF jsonb_typeof(j) = 'object' AND jsonb_typeof(j -> 'cnf' -> 'jkt') = 'string' THEN RETURN j -> 'cnf' ->> 'jkt'; END IF;
    RETURN '';
  END
  $fn$;

  -- Refresh with the DPoP proof's thumbprint (RFC 9449 §5; p_jkt '' for a request without a proof,
  -- NULL unchecked): a family bound to another key answers 'wrong_key' whichever of its tokens is
  -- presented, before anything is counted or consumed (as 'wrong_client'): no rotation, no grace
  -- replay, no reuse detection. In the rotation's one statement; otherwise the version-6 rotation.
  CREATE FUNCTION S.rotate(
    p_now bigint, p_leeway bigint, p_refresh_id text, p_refresh_opaque boolean, p_refresh_exp bigint,
    p_access_hash text, p_access_exp bigint,
    p_opaque boolean, p_family_or_hash text, p_jti text, p_grace bigint, p_replay text,
    p_client text, p_req_scope text, p_access_scope text, p_user_agent text, p_address text, p_jkt text,
    OUT o_status text, OUT o_family text, OUT o_sub text, OUT o_scope text, OUT o_claims text,
    OUT o_created bigint, OUT o_absolute bigint, OUT o_replay text, OUT o_event text
  ) LANGUAGE plpgsql AS $fn$
  DECLARE
    fam_id text;
    presented text;
    rt_family text;
    rt_expires bigint;
    f S.families%ROWTYPE;
    ex bigint;
    fam_client text;
  BEGIN
    IF p_opaque THEN
      SELECT family, expires_at INTO rt_family, rt_expires FROM S.refresh_tokens WHERE hash = p_family_or_hash FOR UPDATE;
      IF NOT FOUND THEN o_status := 'unknown'; RETURN; END IF;
      fam_id := rt_family;
      presented := p_family_or_hash;
    ELSE
      fam_id := p_family_or_hash;
      presented := p_jti;
    END IF;
    SELECT * INTO f FROM S.families WHERE id = fam_id FOR UPDATE;
    IF FOUND AND p_client <> '' THEN
      fam_client := S.client_of(f.claims);
      IF fam_client <> '' AND fam_client <> p_client THEN o_status := 'wrong_client'; RETURN; END IF;
    END IF;
    IF f.id IS NOT NULL AND p_jkt IS NOT NULL AND S.jkt_of(f.claims) NOT IN ('', p_jkt) THEN
      o_status := 'wrong_key';
      RETURN;
    END IF;
    IF p_opaque THEN
      UPDATE S.refresh_tokens SET used_count = used_count + 1 WHERE hash = p_family_or_hash;
      IF p_now >= rt_expires THEN o_status := 'expired'; RETURN; END IF;
    END IF;
    IF f.id IS NULL THEN o_status := 'revoked'; RETURN; END IF;
    IF S.is_revoked(f.sub, f.created_at, f.revoked) THEN
      o_status := CASE WHEN presented = f.current THEN 'revoked' ELSE 'reused' END;
      RETURN;
    END IF;
    IF p_now >= f.absolute_expires_at THEN o_status := 'expired'; RETURN; END IF;
    IF presented = f.current THEN
      IF p_req_scope IS NOT NULL AND NOT S.scope_within(p_req_scope, f.scope) THEN
        o_status := 'invalid_scope';
        RETURN;
      END IF;
      ex := S.put_tokens(p_now, f.id, f.sub, coalesce(p_access_scope, f.scope), f.absolute_expires_at, f.expires_at,
        p_leeway, p_refresh_id, p_refresh_opaque, p_refresh_exp, p_access_hash, p_access_exp);
      UPDATE S.families SET current = p_refresh_id, previous = presented, rotated_at = p_now,
        replay = CASE WHEN p_grace > 0 THEN p_replay ELSE '' END, expires_at = ex, last_used_at = p_now,
        user_agent = coalesce(p_user_agent, user_agent), address = coalesce(p_address, address)
      WHERE id = f.id;
      o_status := 'rotated';
    ELSIF p_grace > 0 AND presented = f.previous AND f.replay <> '' AND p_now - f.rotated_at < p_grace THEN
      o_status := 'replayed';
      o_replay := f.replay;
    ELSE
      -- Reuse (RFC 9700 §4.14.2): revoke the family and push it (delivered at commit).
      UPDATE S.families SET revoked = true WHERE id = f.id;
      o_event := 'f|' || f.expires_at || '|0|' || f.id;
      PERFORM pg_notify('C_CHANNEL', o_event);
      o_status := 'reused';
      RETURN;
    END IF;
    o_family := f.id; o_sub := f.sub; o_scope := f.scope; o_claims := f.claims;
    o_created := f.created_at; o_absolute := f.absolute_expires_at;
  END
  $fn$;


  -- The version-6 rotation, for instances of the previous tessera: through the above, no key check
  -- (they read the family's key before rotating).
  CREATE OR REPLACE FUNCTION S.rotate(
    p_now bigint, p_leeway bigint, p_refresh_id text, p_refresh_opaque boolean, p_refresh_exp bigint,
    p_access_hash text, p_access_exp bigint,
    p_opaque boolean, p_family_or_hash text, p_jti text, p_grace bigint, p_replay text,
    p_client text, p_req_scope text, p_access_scope text, p_user_agent text, p_address text,
    OUT o_status text, OUT o_family text, OUT o_sub text, OUT o_scope text, OUT o_claims text,
    OUT o_created bigint, OUT o_absolute bigint, OUT o_replay text, OUT o_event text
  ) LANGUAGE sql AS $fn$
    SELECT r.o_status, r.o_family, r.o_sub, r.o_scope, r.o_claims, r.o_created, r.o_absolute, r.o_replay, r.o_event
    FROM S.rotate(p_now, p_leeway, p_refresh_id, p_refresh_opaque, p_refresh_exp, p_access_hash, p_access_exp,
      p_opaque, p_family_or_hash, p_jti, p_grace, p_replay, p_client, p_req_scope, p_access_scope, p_user_agent,
      p_address, NULL::text) r
  $fn$;
  `,
  `
  -- Speed (issue 30). No rule changes; the contract suite holds every path to the same answers.
  --
  -- A LANGUAGE sql function whose body has a sub-select is never inlined, and PostgreSQL before 18
  -- parses and plans its body again at every call from PL/pgSQL: measured, about 100 µs of server
  -- CPU per rotation for is_revoked alone. PL/pgSQL keeps the plan of its RETURN expression for the
  -- session. Same bodies, same answers.
  CREATE OR REPLACE FUNCTION S.is_revoked(p_sub text, p_created bigint, p_revoked boolean) RETURNS boolean
  LANGUAGE plpgsql STABLE AS $fn$
  BEGIN
    RETURN p_revoked OR coalesce((SELECT p_created <= e.not_before FROM S.user_epochs e WHERE e.sub = p_sub), false);
  END
  $fn$;
  CREATE OR REPLACE FUNCTION S.scope_within(p_requested text, p_granted text) RETURNS boolean
  LANGUAGE plpgsql IMMUTABLE AS $fn$
  BEGIN
    RETURN NOT EXISTS (
      SELECT 1 FROM unnest(string_to_array(p_requested, ' ')) AS s
      WHERE s <> '' AND NOT (s = ANY (string_to_array(p_granted, ' ')))
    );
  END
  $fn$;

  -- The family's client and DPoP key (client_of and jkt_of of its claims, which never change
  -- after the login) kept beside the claims, for the rotation below: client_of and jkt_of parse
  -- the claims as JSON in an exception block, a subtransaction at every call, and every family a
  -- registered client signs in carries a client_id. NULL: not known yet (a family written before
  -- this migration, or by an instance of the previous version), read from the claims.
  ALTER TABLE S.families ADD COLUMN client_id text, ADD COLUMN jkt text;
  ALTER FUNCTION S.create_family(bigint, bigint, text, boolean, bigint, text, bigint, text, text, bigint, text, text, text,
    text, text, text) RENAME TO create_family_row;
  CREATE FUNCTION S.create_family(
    p_now bigint, p_leeway bigint, p_refresh_id text, p_refresh_opaque boolean, p_refresh_exp bigint,
    p_access_hash text, p_access_exp bigint,
    p_fam text, p_sub text, p_abs bigint, p_scope text, p_claims text, p_access_scope text,
    p_user_agent text, p_address text, p_grant text
  ) RETURNS void LANGUAGE plpgsql AS $fn$
  BEGIN
    PERFORM S.create_family_row(p_now, p_leeway, p_refresh_id, p_refresh_opaque, p_refresh_exp, p_access_hash,
      p_access_exp, p_fam, p_sub, p_abs, p_scope, p_claims, p_access_scope, p_user_agent, p_address, p_grant);
    UPDATE S.families SET client_id = S.client_of(p_claims), jkt = S.jkt_of(p_claims) WHERE id = p_fam;
  END
  $fn$;

  -- The rotation of a self-contained token (jwt or encrypted; no opaque record either side) as one
  -- UPDATE whose WHERE holds every condition of a rotation: one statement where the version-8
  -- rotation runs a locking SELECT, the checks one by one and an UPDATE. The UPDATE takes the row
  -- lock itself; a concurrent rotation of the family waits on it and, when it commits, PostgreSQL
  -- re-evaluates the WHERE on the newest row (READ COMMITTED's EvalPlanQual): current has moved,
  -- no row, so exactly one winner as before. Whatever is not a plain rotation (no row: reuse,
  -- revoked, expired, wrong client or key, a scope not within, a replay in the grace window)
  -- goes on to the version-8 function, renamed rotate_checked and unchanged, which answers it in
  -- the same transaction, under its own lock, from the newest row. The instances of the previous
  -- tessera call rotate by name, so they get this one too.
  ALTER FUNCTION S.rotate(bigint, bigint, text, boolean, bigint, text, bigint, boolean, text, text, bigint, text, text,
    text, text, text, text, text) RENAME TO rotate_checked;
  CREATE FUNCTION S.rotate(
    p_now bigint, p_leeway bigint, p_refresh_id text, p_refresh_opaque boolean, p_refresh_exp bigint,
    p_access_hash text, p_access_exp bigint,
    p_opaque boolean, p_family_or_hash text, p_jti text, p_grace bigint, p_replay text,
    p_client text, p_req_scope text, p_access_scope text, p_user_agent text, p_address text, p_jkt text,
    OUT o_status text, OUT o_family text, OUT o_sub text, OUT o_scope text, OUT o_claims text,
    OUT o_created bigint, OUT o_absolute bigint, OUT o_replay text, OUT o_event text
  ) LANGUAGE plpgsql AS $fn$
  BEGIN
    IF NOT p_opaque AND NOT p_refresh_opaque AND p_access_hash = '' THEN
      -- put_tokens' expiry for a rotation that stores no token record: the family outlives its
      -- newest refresh token (capped at the absolute expiry) and access token by the leeway.
      UPDATE S.families f SET current = p_refresh_id, previous = p_jti, rotated_at = p_now,
        replay = CASE WHEN p_grace > 0 THEN p_replay ELSE '' END,
        expires_at = greatest(f.expires_at, least(p_refresh_exp, f.absolute_expires_at) + p_leeway, p_access_exp + p_leeway),
        last_used_at = p_now, user_agent = coalesce(p_user_agent, f.user_agent), address = coalesce(p_address, f.address),
        client_id = coalesce(f.client_id, S.client_of(f.claims)), jkt = coalesce(f.jkt, S.jkt_of(f.claims))
      WHERE f.id = p_family_or_hash AND f.current = p_jti AND NOT f.revoked AND p_now < f.absolute_expires_at
        AND NOT EXISTS (SELECT 1 FROM S.user_epochs e WHERE e.sub = f.sub AND f.created_at <= e.not_before)
        AND (p_client = '' OR coalesce(f.client_id, S.client_of(f.claims)) IN ('', p_client))
        AND (p_jkt IS NULL OR coalesce(f.jkt, S.jkt_of(f.claims)) IN ('', p_jkt))
        AND (p_req_scope IS NULL OR S.scope_within(p_req_scope, f.scope))
      RETURNING 'rotated', f.id, f.sub, f.scope, f.claims, f.created_at, f.absolute_expires_at
      INTO o_status, o_family, o_sub, o_scope, o_claims, o_created, o_absolute;
      IF FOUND THEN RETURN; END IF;
    END IF;
    SELECT r.o_status, r.o_family, r.o_sub, r.o_scope, r.o_claims, r.o_created, r.o_absolute, r.o_replay, r.o_event
    INTO o_status, o_family, o_sub, o_scope, o_claims, o_created, o_absolute, o_replay, o_event
    FROM S.rotate_checked(p_now, p_leeway, p_refresh_id, p_refresh_opaque, p_refresh_exp, p_access_hash, p_access_exp,
      p_opaque, p_family_or_hash, p_jti, p_grace, p_replay, p_client, p_req_scope, p_access_scope, p_user_agent,
      p_address, p_jkt) r;
  END
  $fn$;
  `,
];

export const POSTGRES_SCHEMA_VERSION = MIGRATIONS.length;

/**
 * The NOTIFY channel of a schema's revocations: `tessera_revocations_<schema>`, or, when that
 * exceeds PostgreSQL's 63-byte identifier limit (NAMEDATALEN - 1: LISTEN would truncate it and
 * pg_notify refuse it), the schema's first 34 characters and a hash of the whole name. Only
 * `[a-z0-9_]`: it is quoted in LISTEN and a plain string in pg_notify, and both read it alike.
 */
export function revocationChannel(schema: string): string {
  const full = `tessera_revocations_${schema}`;
  if (full.length <= 63) return full;
  let h = 0x811c9dc5; // FNV-1a: a name, not a secret
  for (let i = 0; i < schema.length; i++) h = Math.imul(h ^ schema.charCodeAt(i), 0x01000193);
  return `tessera_revocations_${schema.slice(0, 34)}_${(h >>> 0).toString(16).padStart(8, '0')}`;
}

/** Migration `i` (0-based) for `schema`. */
export function migrationSql(i: number, schema: string): string {
  return (MIGRATIONS[i] as string).replace(/\bS\./g, qualify(schema)).replace(/\bC_CHANNEL\b/g, revocationChannel(schema));
}

/** The statements the store runs, schema-qualified once at construction. */
export function statements(schema: string) {
  const s = qualify(schema);
  return {
    createFamily: `SELECT ${s}create_family($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
    // The fast path of migration 9's rotate (a self-contained token, no opaque record either side)
    // sent as the statement itself rather than through the function: one statement for PostgreSQL
    // to set up instead of three (the SELECT over the function, the function's own UPDATE, and
    // PL/pgSQL around it). The same UPDATE and WHERE, repeated here because a migration's text
    // never changes and `rotate` stays for the previous version's instances; no row:
    // `rotateChecked`, as rotate does. Everything else goes to `rotateChecked` directly.
    rotateFast: `UPDATE ${s}families f SET current = $3, previous = $7, rotated_at = $1,
        replay = CASE WHEN $8::bigint > 0 THEN $9 ELSE '' END,
        expires_at = greatest(f.expires_at, least($4::bigint, f.absolute_expires_at) + $2::bigint, $5::bigint + $2::bigint),
        last_used_at = $1, user_agent = coalesce($11, f.user_agent), address = coalesce($12, f.address),
        client_id = coalesce(f.client_id, ${s}client_of(f.claims)), jkt = coalesce(f.jkt, ${s}jkt_of(f.claims))
      WHERE f.id = $6 AND f.current = $7 AND NOT f.revoked AND $1 < f.absolute_expires_at
        AND NOT EXISTS (SELECT 1 FROM ${s}user_epochs e WHERE e.sub = f.sub AND f.created_at <= e.not_before)
        AND ($10 = '' OR coalesce(f.client_id, ${s}client_of(f.claims)) IN ('', $10))
        AND ($13::text IS NULL OR coalesce(f.jkt, ${s}jkt_of(f.claims)) IN ('', $13))
        AND ($14::text IS NULL OR ${s}scope_within($14, f.scope))
      RETURNING f.id AS o_family, f.sub AS o_sub, f.scope AS o_scope, f.claims AS o_claims,
        f.created_at AS o_created, f.absolute_expires_at AS o_absolute`,
    rotateChecked: `SELECT * FROM ${s}rotate_checked($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
    familyOwner: `SELECT sub FROM ${s}families WHERE id = $1`,
    // The session listing: the user's families by families_by_sub, live ones only (is_revoked's
    // rule with the epoch read once; not past the absolute expiry nor the record's).
    listFamilies: `SELECT f.id, f.created_at, f.last_used_at, f.absolute_expires_at, f.expires_at, f.claims, f.user_agent,
      f.address, f.grant_type FROM ${s}families f WHERE f.sub = $1 AND NOT f.revoked AND f.absolute_expires_at > $2 AND f.expires_at > $2
      AND f.created_at > coalesce((SELECT e.not_before FROM ${s}user_epochs e WHERE e.sub = $1), -1)`,
    // Every user's live families, by families_by_expiry: listFamilies' rule without the user.
    countActive: `SELECT count(*) AS n FROM ${s}families f WHERE f.expires_at > $1 AND NOT f.revoked
      AND f.absolute_expires_at > $1 AND f.created_at > coalesce((SELECT e.not_before FROM ${s}user_epochs e WHERE e.sub = f.sub), -1)`,
    checkAccess: `SELECT * FROM ${s}check_access($1, $2, $3, $4, $5, $6)`,
    inspectRefresh: `SELECT * FROM ${s}inspect_refresh($1, $2, $3, $4)`,
    revokeAccess: `SELECT ${s}revoke_access($1, $2, $3, $4) AS event`,
    revokeFamily: `SELECT ${s}revoke_family_event($1, $2, $3) AS event`,
    revokeUser: `SELECT ${s}revoke_user($1, $2, $3) AS event`,
    // The revocations in force, for a new listener's snapshot (feed.ts): encodeEvent's form.
    snapshot: `SELECT 'j|' || expires_at || '|0|' || jti AS event FROM ${s}denylist WHERE expires_at > $1
      UNION ALL SELECT 'f|' || expires_at || '|0|' || id FROM ${s}families WHERE revoked AND expires_at > $1
      UNION ALL SELECT 'u|' || expires_at || '|' || not_before || '|' || sub FROM ${s}user_epochs WHERE expires_at > $1`,
    purgeBatch: `SELECT ${s}purge_batch($1, $2) AS n`,
    count: `SELECT (SELECT count(*) FROM ${s}families) + (SELECT count(*) FROM ${s}refresh_tokens)
      + (SELECT count(*) FROM ${s}access_tokens) + (SELECT count(*) FROM ${s}denylist)
      + (SELECT count(*) FROM ${s}user_epochs) + (SELECT count(*) FROM ${s}once_records) AS n`,
    // A live holder of (kind, id) keeps it (no row returned); an expired one is replaced.
    putOnce: `INSERT INTO ${s}once_records AS o (kind, id, value, expires_at) VALUES ($1, $2, $3, $4)
      ON CONFLICT (kind, id) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at
      WHERE o.expires_at <= $5 RETURNING 1 AS stored`,
    consumeOnce: `DELETE FROM ${s}once_records WHERE kind = $1 AND id = $2 RETURNING value, expires_at`,
    createUser: `INSERT INTO ${s}users (username, id, password_hash, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
    getUser: `SELECT username, id, password_hash, created_at FROM ${s}users WHERE username = $1`,
    // Rehash at login (users.ts): the stored hash with the configured scrypt cost.
    updatePasswordHash: `UPDATE ${s}users SET password_hash = $2 WHERE username = $1 RETURNING id`,
    // Registered clients (src/oauth-clients). ON CONFLICT DO NOTHING: of concurrent registrations of one id
    // exactly one inserts (and returns its row). Ordered by code point, as the other stores.
    createClient: `INSERT INTO ${s}clients (client_id, client_type, secret_hash, introspect, created_at, settings)
      VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING client_id`,
    getClient: `SELECT client_id, client_type, secret_hash, introspect, created_at, settings FROM ${s}clients WHERE client_id = $1`,
    listClients: `SELECT client_id, client_type, secret_hash, introspect, created_at, settings FROM ${s}clients
      ORDER BY client_id COLLATE "C"`,
    // The removal is notified in its own statement (delivered at commit): client caches drop the record.
    removeClient: `WITH d AS (DELETE FROM ${s}clients WHERE client_id = $1 RETURNING client_id)
      SELECT client_id, pg_notify('${revocationChannel(schema)}', 'c|' || $2::bigint || '|0|' || client_id) AS notified FROM d`,
    ping: 'SELECT 1',
  } as const;
}

export type StatementName = keyof ReturnType<typeof statements>;
