/**
 * What a session keeps of the device that used it: the `User-Agent`, bounded, and the client
 * address as `sessionAddress` says (truncated by default: the network, not the host).
 *
 * @module
 */
import { isIPv4, isIPv6 } from 'node:net';
import { ipv6Groups, mappedIpv4 } from '../internal/ip.js';
import type { FamilySummary } from '../stores/types.js';
import type { Session, SessionAddressMode } from './types.js';

/** The longest `User-Agent` a session keeps (characters); a longer one is cut. */
export const MAX_USER_AGENT_LENGTH = 256;
/** The longest address kept (an IPv6 address with a zone is at most 45 + the zone). */
const MAX_ADDRESS_LENGTH = 64;

/** The `User-Agent` as a session keeps it: a string's first 256 characters, control characters dropped. */
export function sessionUserAgent(ua: unknown): string | undefined {
  if (typeof ua !== 'string') return undefined;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is removed
  return ua.replace(/[\u0000-\u001f\u007f]/g, '').slice(0, MAX_USER_AGENT_LENGTH);
}

/**
 * The address as a session keeps it. `truncated`: IPv4 to its /24 (`192.0.2.0`), IPv6 to its /48
 * (`2001:db8:1::`), an IPv4-mapped IPv6 address as IPv4 (RFC 4291 §2.5.5.2); anything that is no
 * IP address is not kept. `full`: the address (zone dropped). `off`: nothing (`''`, which also
 * clears what a session recorded before).
 */
export function sessionAddress(address: unknown, mode: SessionAddressMode): string | undefined {
  if (typeof address !== 'string') return undefined;
  if (mode === 'off') return '';
  const ip = address.trim().toLowerCase().replace(/%.*$/, '');
  let v4: string | null = isIPv4(ip) ? ip : null;
  let groups: number[] | null = null;
  if (v4 === null && isIPv6(ip)) {
    groups = ipv6Groups(ip);
    if (groups !== null) v4 = mappedIpv4(groups);
  }
  if (mode === 'full') return v4 ?? (groups !== null ? ip : '').slice(0, MAX_ADDRESS_LENGTH);
  if (v4 !== null) return `${v4.split('.').slice(0, 3).join('.')}.0`;
  if (groups === null) return '';
  // RFC 5952 §4.2: the zero groups at the end of the /48 fold into the trailing `::`.
  const net = groups.slice(0, 3);
  while (net.length > 0 && net[net.length - 1] === 0) net.pop();
  return `${net.map((g) => g.toString(16)).join(':')}::`;
}

/** How many distinct `User-Agent`s and addresses {@link sessionDeviceFields} remembers. */
const DEVICE_MEMO_SIZE = 1024;

/**
 * `sessionUserAgent` and `sessionAddress` (in `mode`) of each request's device, remembered for
 * the last {@link DEVICE_MEMO_SIZE} distinct values: a refresh records them every time, and the
 * same clients come back with the same strings (the regular expressions and address parsing
 * run once per value, not once per refresh). Forgets everything when full: bounded memory
 * whatever the traffic.
 */
export function sessionDeviceFields(
  mode: SessionAddressMode,
): (d: { userAgent?: unknown; address?: unknown }) => { userAgent?: string; address?: string } {
  const agents = new Map<string, string>();
  const addresses = new Map<string, string>();
  const memo = (map: Map<string, string>, key: string, make: (k: string) => string | undefined): string => {
    let v = map.get(key);
    if (v === undefined) {
      // Both keep any string (an address that is no IP address is kept as '').
      v = make(key) ?? '';
      if (map.size >= DEVICE_MEMO_SIZE) map.clear();
      map.set(key, v);
    }
    return v;
  };
  const addressOf = (a: string) => sessionAddress(a, mode);
  return (d) => {
    const out: { userAgent?: string; address?: string } = {};
    if (typeof d.userAgent === 'string') out.userAgent = memo(agents, d.userAgent, sessionUserAgent);
    if (typeof d.address === 'string') out.address = memo(addresses, d.address, addressOf);
    return out;
  };
}

/**
 * The sessions of a user's live families at `now`, most recently used first (ties by id).
 * A session ends with its newest refresh token: the family record outlives that by the leeway.
 */
export function toSessions(families: readonly FamilySummary[], now: number, leewayMs: number, currentId?: string): Session[] {
  const out: Session[] = [];
  for (const f of families) {
    const expiresAt = Math.min(f.absoluteExpiresAt, f.recordExpiresAt - leewayMs);
    if (expiresAt <= now) continue;
    out.push({
      id: f.familyId,
      clientId: f.clientId,
      createdAt: f.createdAt,
      lastUsedAt: f.lastUsedAt,
      expiresAt,
      userAgent: f.userAgent,
      address: f.address,
      grant: f.grant,
      current: f.familyId === currentId,
    });
  }
  return out.sort((a, b) => b.lastUsedAt - a.lastUsedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** A session as JSON (`GET /auth/sessions`, `tessera session list`): times as RFC 3339 (UTC). */
export interface SessionJson {
  id: string;
  client_id: string;
  created_at: string;
  last_used_at: string;
  expires_at: string;
  user_agent: string;
  address: string;
  current: boolean;
  /** The grant that created the session (`password`, `authorization_code`, ...); null when none was recorded. */
  grant: string | null;
}

export function sessionJson(s: Session): SessionJson {
  return {
    id: s.id,
    client_id: s.clientId,
    created_at: new Date(s.createdAt).toISOString(),
    last_used_at: new Date(s.lastUsedAt).toISOString(),
    expires_at: new Date(s.expiresAt).toISOString(),
    user_agent: s.userAgent,
    address: s.address,
    current: s.current,
    grant: s.grant,
  };
}
