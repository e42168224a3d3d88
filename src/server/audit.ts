/**
 * The audit trail of the reference server (`TESSERA_AUDIT=stdout|PATH|off`): one JSON
 * object per line per security event (http/core/events.ts), with `time` (RFC 3339, UTC,
 * milliseconds), `event`, and where known `user_id`, `username`, `client_id`,
 * `session_id`, `address`, `user_agent`, `request_id`, and the event's own members
 * (`result`, `grant`, `reason`, `kind`, ...). docs/operations.md has the schema.
 *
 * Never a token, a password or a secret: events carry none (events.ts), and the line is
 * built from an allow-list of members, so a member added to an event later stays out of
 * the trail until it is listed here.
 *
 * - `stdout`: interleaved with the pino log lines, and told apart by `"stream":"audit"`
 *   (pino lines have `level`, audit lines never do).
 * - `PATH`: appended to, created with mode 0600; reopened on SIGHUP, so logrotate (or
 *   any tool that renames the file, then signals) starts a new file without a restart.
 *
 * A file line is one write(2) on an O_APPEND descriptor (never split or interleaved with
 * another writer's); a stdout line is one write of the stream, as pino's lines are.
 *
 * @module
 */
import { chmodSync, closeSync, openSync, writeSync } from 'node:fs';
import { ConfigError } from '../errors.js';
import type { AuthEvent, AuthEventSink } from '../http/core/events.js';

/** The members an audit line may have, in the order written. */
export const AUDIT_FIELDS = [
  'time',
  'event',
  'result',
  'grant',
  'reason',
  'kind',
  'scope',
  'ended',
  'user_id',
  'username',
  'client_id',
  'session_id',
  'address',
  'user_agent',
  'request_id',
] as const;

export type AuditTarget = { kind: 'off' } | { kind: 'stdout' } | { kind: 'file'; path: string };

/** `TESSERA_AUDIT`: `off` (or unset, or empty), `stdout`, or a file path. */
export function parseAuditTarget(value: string | undefined): AuditTarget {
  const v = (value ?? '').trim();
  if (v === '' || v.toLowerCase() === 'off') return { kind: 'off' };
  if (v.toLowerCase() === 'stdout') return { kind: 'stdout' };
  return { kind: 'file', path: v };
}

/** One audit line (with its newline) of an event. */
export function auditLine(event: AuthEvent, now: number, extra?: Record<string, string>): string {
  const src = event as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = { ...extra, time: new Date(now).toISOString() };
  for (const k of AUDIT_FIELDS) {
    if (k === 'time') continue;
    const v = src[k];
    if (v !== undefined) out[k] = v;
  }
  return `${JSON.stringify(out)}\n`;
}

export interface AuditTrail extends AuthEventSink {
  /** Reopens the file (after the operator's tool moved it away). No-op for stdout. */
  reopen(): void;
  close(): void;
}

export interface AuditOptions {
  /** Milliseconds since the epoch. Default Date.now. */
  clock?: () => number;
  /** Where `stdout` lines go. Default process.stdout. */
  stdout?: { write(s: string): unknown };
  /** Called with a one-line message when a write or a reopen fails (the request is answered anyway). */
  onError?: (message: string) => void;
}

/** The sink of a target; `undefined` for `off`. A file that cannot be opened throws (start-up refuses). */
export function createAuditTrail(target: AuditTarget, options: AuditOptions = {}): AuditTrail | undefined {
  const clock = options.clock ?? Date.now;
  if (target.kind === 'off') return undefined;
  if (target.kind === 'stdout') {
    const out = options.stdout ?? process.stdout;
    const stream = { stream: 'audit' };
    return {
      emit: (e) => void out.write(auditLine(e, clock(), stream)),
      reopen() {},
      close() {},
    };
  }
  const open = (): number => {
    const fd = openSync(target.path, 'a', 0o600);
    // The mode above went through the umask only when the file was created; an existing one keeps its own.
    try {
      chmodSync(target.path, 0o600);
    } catch {
      // Not ours to change (another owner): the operator's choice stands.
    }
    return fd;
  };
  let fd: number | undefined;
  try {
    fd = open();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    throw new ConfigError(
      `TESSERA_AUDIT: cannot open "${target.path}" for appending (${code}); create its directory or pick another path`,
    );
  }
  let failing = false;
  return {
    emit(e) {
      if (fd === undefined) return;
      try {
        // One write per line on an O_APPEND descriptor: lines of concurrent writers never interleave.
        writeSync(fd, auditLine(e, clock()));
        failing = false;
      } catch (err) {
        if (!failing) options.onError?.(`tessera: cannot write the audit trail to ${target.path}: ${(err as Error).message}`);
        failing = true;
      }
    },
    reopen() {
      try {
        const next = open();
        if (fd !== undefined) closeSync(fd);
        fd = next;
      } catch (err) {
        options.onError?.(`tessera: cannot reopen the audit trail ${target.path}: ${(err as Error).message}`);
      }
    },
    close() {
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
    },
  };
}
