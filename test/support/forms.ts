/**
 * What a test needs to play a browser on the hosted pages without one: a cookie jar that
 * reads `Set-Cookie` and writes `Cookie`, the hidden fields of a page's form, a PKCE pair, and
 * the public client `spa` with the authorization requests the code-flow tests make for it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { completeClient } from '../../src/oauth-clients/types.js';

/** Registers the public client `spa` in a store's client directory: redirect URI `cb`, the code and refresh grants, scope `api`. */
export async function registerSpa(store: unknown, cb: string): Promise<void> {
  await (store as { createClient(c: unknown): Promise<boolean> }).createClient({
    ...completeClient({ clientId: 'spa', clientType: 'public', secretHash: '', introspect: false, createdAt: 1 }),
    redirectUris: [cb],
    grantTypes: ['authorization_code', 'refresh_token'],
    scope: 'api',
  });
}

/** `GET /authorize` for `spa` (RFC 6749 §4.1.1): PKCE S256, state `xyz`, and `extra`. */
export function spaAuthorizeQuery(cb: string, challenge: string, extra: Record<string, string> = {}): string {
  return `/authorize?${new URLSearchParams({
    response_type: 'code',
    client_id: 'spa',
    redirect_uri: cb,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state: 'xyz',
    ...extra,
  })}`;
}

/** RFC 7636 §4.1/§4.2: a verifier and its S256 challenge. */
export function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

/** A cookie jar: what `Set-Cookie` says (an expired cookie removed), sent back as `Cookie`. */
export class Jar {
  readonly cookies = new Map<string, string>();

  take(setCookies: readonly string[] | string | undefined): void {
    for (const line of setCookies === undefined ? [] : typeof setCookies === 'string' ? [setCookies] : setCookies) {
      const [pair = '', ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = decodeURIComponent(pair.slice(eq + 1).trim());
      if (attrs.some((a) => /^\s*max-age=0$/i.test(a))) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  header(): Record<string, string> {
    return this.cookies.size ? { cookie: [...this.cookies].map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('; ') } : {};
  }
}

const ENTITIES: Record<string, string> = { '&quot;': '"', '&#39;': "'", '&lt;': '<', '&gt;': '>', '&amp;': '&' };

/** The hidden fields of a page's form, unescaped. */
export function hiddenFields(html: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of html.matchAll(/<input[^>]*type="hidden"[^>]*>/g)) {
    const name = /name="([^"]*)"/.exec(m[0])?.[1];
    const value = /value="([^"]*)"/.exec(m[0])?.[1] ?? '';
    if (name) out[name] = value.replace(/&quot;|&#39;|&lt;|&gt;|&amp;/g, (e) => ENTITIES[e] as string);
  }
  return out;
}
