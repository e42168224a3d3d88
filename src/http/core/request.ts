/**
 * The framework-neutral request and response of the auth handlers, and the
 * request rules every adapter applies the same way:
 *
 * - bodies are `application/x-www-form-urlencoded` (RFC 6749 §4.3.2, RFC 7009
 *   §2.1, RFC 7662 §2.1) or `application/json`; anything else is 415, a body
 *   over {@link BODY_LIMIT_BYTES} is 413;
 * - a JSON body with a duplicate member name is refused (strict-json.ts), as is
 *   one that names `__proto__` or `constructor.prototype` (prototype poisoning);
 * - parameters are exact strings: no number-to-string coercion, and a form
 *   parameter sent twice is not a string (RFC 6749 §3.1: "parameters MUST NOT
 *   be included more than once"), so it is refused like a wrong type.
 *
 * The Fastify adapter enforces the same rules with Fastify's parsers and the
 * route schemas (schemas.ts builds them from the rules of endpoints.ts, and they
 * feed the OpenAPI document); Express and Hono call {@link parseBody} and {@link checkParams}. The conformance suite
 * (test/conformance) holds the three to one behaviour.
 *
 * @module
 */
import { badRequest, HttpError } from './errors.js';
import { BODY_LIMIT_BYTES } from './limits.js';
import { findDuplicateKey } from './strict-json.js';

/** Where a handler may log (pino's call shape; Fastify's `request.log` is one). Never given a token. */
export interface CoreLogger {
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

/** A request as the handlers see it, whatever the framework. Header names are lower case. */
export interface AuthRequest {
  method: string;
  path: string;
  headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The parsed parameters ({} for a request without a body). */
  body: Record<string, unknown>;
  /**
   * The parsed query string (RFC 3986 §3.4, decoded as a form: {@link parseQuery}); a name
   * sent twice is an array. `{}` without one.
   */
  query: Readonly<Record<string, string | string[]>>;
  /** The client address (after the adapter's trusted-proxy rules): the guessing limiter's key. */
  ip: string;
  /** Request cookies (only read in cookie mode). */
  cookies: Readonly<Record<string, string | undefined>>;
  log?: CoreLogger;
  /** The framework's request id, when it keeps one (security events carry it). */
  id?: string;
}

export interface CookieOptions {
  httpOnly: boolean;
  secure: boolean;
  /** `lax` only for the hosted sign-in's cookies, which must ride along on a cross-site navigation. */
  sameSite: 'strict' | 'lax';
  path: string;
  /** Seconds; 0 with `clear`. */
  maxAge?: number;
}

/** A cookie to set, or (with `clear`) to expire. */
export interface CookieOp {
  name: string;
  value: string;
  options: CookieOptions;
  clear?: boolean;
}

/** An answer as the handlers give it; the adapter writes it. */
export interface AuthResponse {
  status: number;
  headers: Record<string, string>;
  /** A JSON value; `undefined` or `null`: no body. */
  body?: unknown;
  cookies?: CookieOp[];
}

/**
 * RFC 6749 §5.1: token responses (and introspection answers, and errors) are not for caches:
 * `Cache-Control: no-store` and, as §5.1 asks, `Pragma: no-cache` for HTTP/1.0 caches.
 */
export const NO_STORE_HEADERS: Readonly<Record<string, string>> = {
  'cache-control': 'no-store',
  pragma: 'no-cache',
};

/**
 * `GET /me`, an answer about who holds a token (RFC 6750 §5.3): `Cache-Control: no-store`,
 * which every HTTP/1.1 cache obeys. RFC 6749 §5.1's `Pragma` is asked of token responses only,
 * and RFC 9111 §5.4 deprecates it; on the route every authenticated client calls, it is one
 * header more for Node to check and write per request.
 */
export const PRINCIPAL_HEADERS: Readonly<Record<string, string>> = { 'cache-control': 'no-store' };

const UNSUPPORTED = 'Unsupported content type; send application/x-www-form-urlencoded or application/json';

/** 415 with the fixed description of every adapter. */
export function unsupportedMediaType(): HttpError {
  return new HttpError(415, 'invalid_request', UNSUPPORTED);
}

/** 413 with the fixed description of every adapter. */
export function bodyTooLarge(): HttpError {
  return new HttpError(413, 'invalid_request', 'The request body is too large');
}

/** The media type of a Content-Type value, lower case, without parameters. */
function mediaType(contentType: string): string {
  const semi = contentType.indexOf(';');
  return (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
}

/** True when a parsed JSON value has a `__proto__` member or a `constructor` with a `prototype` (secure-json-parse's rule). */
function poisoned(value: unknown, depth = 0): boolean {
  if (typeof value !== 'object' || value === null || depth > 64) return false;
  if (Array.isArray(value)) return value.some((v) => poisoned(v, depth + 1));
  for (const key of Object.keys(value)) {
    const v = (value as Record<string, unknown>)[key];
    if (key === '__proto__') return true;
    if (key === 'constructor' && typeof v === 'object' && v !== null && Object.hasOwn(v, 'prototype')) return true;
    if (poisoned(v, depth + 1)) return true;
  }
  return false;
}

/**
 * Form decoding (WHATWG URL "application/x-www-form-urlencoded parser", as
 * URLSearchParams does it): a name seen twice becomes an array, which
 * {@link checkParams} refuses for the names a route reads.
 */
function parseForm(text: string): Record<string, unknown> {
  const out: Record<string, unknown> = Object.create(null);
  for (const [name, value] of new URLSearchParams(text)) {
    const seen = out[name];
    if (seen === undefined) out[name] = value;
    else if (Array.isArray(seen)) seen.push(value);
    else out[name] = [seen, value];
  }
  return out;
}

/**
 * The parameters of a request body. `raw` is the body as received (`undefined`
 * or empty: none); `contentType` its header. Throws an {@link HttpError}
 * (400, 413, 415) for a body the contract refuses.
 */
export function parseBody(contentType: string | undefined, raw: string | Uint8Array | undefined): Record<string, unknown> {
  const size = raw === undefined ? 0 : typeof raw === 'string' ? Buffer.byteLength(raw) : raw.byteLength;
  if (size > BODY_LIMIT_BYTES) throw bodyTooLarge();
  if (contentType === undefined || contentType === '') {
    // No body and no type: an empty parameter set (curl -X POST, a cookie-only refresh).
    if (size === 0) return {};
    throw unsupportedMediaType();
  }
  const text = raw === undefined ? '' : typeof raw === 'string' ? raw : Buffer.from(raw).toString('utf8');
  switch (mediaType(contentType)) {
    case 'application/x-www-form-urlencoded':
      return parseForm(text);
    case 'application/json': {
      if (text === '') throw badRequest('The JSON request body is empty');
      // JSON.parse keeps the last of two equal names; another parser may keep the first (strict-json.ts).
      if (findDuplicateKey(text) !== undefined) throw badRequest('The JSON body has a duplicate member name');
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        throw badRequest('The request body is not valid JSON');
      }
      if (poisoned(value)) throw badRequest('The request is invalid');
      if (typeof value !== 'object' || value === null || Array.isArray(value))
        throw badRequest('Invalid request: body must be object');
      return value as Record<string, unknown>;
    }
    case 'text/plain':
      // Fastify parses text/plain into a string, which no route's schema accepts.
      throw badRequest('Invalid request: body must be object');
    default:
      throw unsupportedMediaType();
  }
}

/** One parameter's rule: a string of at most `max` characters, at least `min` when present. */
export interface ParamRule {
  max: number;
  min?: number;
  required?: boolean;
  /** What the parameter is, for the OpenAPI document. */
  description?: string;
}

export type ParamRules = Readonly<Record<string, ParamRule>>;

const NO_QUERY: Readonly<Record<string, string | string[]>> = Object.freeze(Object.create(null));

/**
 * The query of a request target (a path, or an absolute URL): the part after `?` up to a
 * `#`, decoded as `application/x-www-form-urlencoded` (WHATWG URL, as URLSearchParams
 * does it); a name seen twice becomes an array, as in a form body.
 */
export function parseQuery(target: string): Readonly<Record<string, string | string[]>> {
  const q = target.indexOf('?');
  if (q < 0) return NO_QUERY;
  const hash = target.indexOf('#', q);
  const text = target.slice(q + 1, hash < 0 ? undefined : hash);
  return text === '' ? NO_QUERY : (parseForm(text) as Record<string, string | string[]>);
}

/**
 * Checks the parameters a route reads: exact strings within their limits (others are
 * ignored, RFC 6749 §3.2). The messages are Ajv's, as the Fastify routes give them.
 */
export function checkParams(body: Record<string, unknown>, rules: ParamRules): void {
  for (const name in rules) {
    const rule = rules[name] as ParamRule;
    const v = body[name];
    if (v === undefined) {
      if (rule.required) throw badRequest(`Invalid request: body must have required property '${name}'`);
      continue;
    }
    if (typeof v !== 'string') throw badRequest(`Invalid request: body/${name} must be string`);
    if (v.length > rule.max) throw badRequest(`Invalid request: body/${name} must NOT have more than ${rule.max} characters`);
    if (rule.min !== undefined && v.length < rule.min) {
      throw badRequest(`Invalid request: body/${name} must NOT have fewer than ${rule.min} characters`);
    }
  }
}

/** The value of a `Cookie` header as a map (RFC 6265 §5.4); a value that does not decode is kept as sent. */
export function parseCookieHeader(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = Object.create(null);
  if (!header) return out;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    if (!name || name in out) continue;
    let value = part.slice(eq + 1).trim();
    if (value.length > 1 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    try {
      out[name] = decodeURIComponent(value);
    } catch {
      out[name] = value;
    }
  }
  return out;
}

/** A `Set-Cookie` value for an op, in the attribute order of the `cookie` package (what @fastify/cookie sends). */
export function serializeCookie(op: CookieOp): string {
  const o = op.options;
  let s = `${op.name}=${op.clear ? '' : encodeURIComponent(op.value)}`;
  s += `; Max-Age=${op.clear ? 0 : Math.floor(o.maxAge ?? 0)}`;
  s += `; Path=${o.path}`;
  if (op.clear) s += '; Expires=Thu, 01 Jan 1970 00:00:00 GMT';
  if (o.httpOnly) s += '; HttpOnly';
  if (o.secure) s += '; Secure';
  s += o.sameSite === 'lax' ? '; SameSite=Lax' : '; SameSite=Strict';
  return s;
}

/** The device of a request, for the session a sign-in or refresh records: its `User-Agent` and address. */
export function deviceOf(req: AuthRequest): { userAgent?: string; address: string } {
  const ua = req.headers['user-agent'];
  return typeof ua === 'string' ? { userAgent: ua, address: req.ip } : { address: req.ip };
}
