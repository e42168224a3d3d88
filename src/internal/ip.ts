/**
 * Client addresses as text: the parse both the guessing limiter (its per-network keys) and the
 * session listing (the truncated address a session keeps) need.
 *
 * @module
 */

/** Eight 16-bit groups of an IPv6 address (RFC 4291 §2.2), or null. */
export function ipv6Groups(address: string): number[] | null {
  let text = address;
  let tail: number[] = [];
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const o = (v4[1] as string).split('.').map(Number);
    tail = [((o[0] as number) << 8) | (o[1] as number), ((o[2] as number) << 8) | (o[3] as number)];
    text = text.slice(0, -(v4[1] as string).length);
    if (text.endsWith(':') && !text.endsWith('::')) text = text.slice(0, -1);
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const part = (s: string) => (s === '' ? [] : s.split(':').map((g) => Number.parseInt(g, 16)));
  const head = part(halves[0] as string);
  const rest = halves.length === 2 ? part(halves[1] as string) : [];
  const fill = 8 - head.length - rest.length - tail.length;
  if (fill < 0 || (halves.length === 1 && fill !== 0)) return null;
  const groups = [...head, ...new Array(halves.length === 2 ? fill : 0).fill(0), ...rest, ...tail];
  return groups.length === 8 && groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : null;
}

/** The IPv4 address of an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, RFC 4291 §2.5.5.2), or null. */
export function mappedIpv4(groups: readonly number[]): string | null {
  if (!(groups.slice(0, 5).every((x) => x === 0) && groups[5] === 0xffff)) return null;
  const [g6, g7] = [groups[6] as number, groups[7] as number];
  return [g6 >> 8, g6 & 0xff, g7 >> 8, g7 & 0xff].join('.');
}
