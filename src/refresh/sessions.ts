/**
 * What a session keeps of the device that used it: the `User-Agent`, bounded, and the client
 * address as `sessionAddress` says (truncated by default: the network, not the host).
 *
 * @module
 */
import { isIPv4, isIPv6 } from 'node:net';
import { ipv6Groups, mappedIpv4 } from '../internal/ip.js';
import type { SessionAddressMode } from './types.js';

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
 * IP address is not kept. `full`: the address (zone dropped). `off`: nothing.
 */
export function sessionAddress(address: unknown, mode: SessionAddressMode): string | undefined {
  if (typeof address !== 'string' || mode === 'off') return undefined;
  const ip = address.trim().toLowerCase().replace(/%.*$/, '');
  let v4: string | null = isIPv4(ip) ? ip : null;
  let groups: number[] | null = null;
  if (v4 === null && isIPv6(ip)) {
    groups = ipv6Groups(ip);
    if (groups !== null) v4 = mappedIpv4(groups);
  }
  if (mode === 'full') return v4 ?? (groups !== null ? ip : '').slice(0, MAX_ADDRESS_LENGTH);
  if (v4 !== null) return `${v4.split('.').slice(0, 3).join('.')}.0`;
  if (groups !== null)
    return `${groups
      .slice(0, 3)
      .map((g) => g.toString(16))
      .join(':')}::`;
  return '';
}
