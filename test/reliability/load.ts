/**
 * Client-side load for the reliability suites: sessions that log in, rotate
 * their refresh token and call /me in a loop against one or more servers,
 * keeping an honest ledger of what the server acknowledged.
 *
 * A refresh answered 200 consumed the presented token: it goes on the session's
 * `consumed` list and must never work again. A refresh that got no answer, or
 * a 503, is *uncertain*: the store may or may not have applied it (a reply lost
 * to a crash). The session's next refresh with the same token may then find it
 * consumed (400, reuse): that outcome, and only that one, is forgiven for an
 * uncertain token, and the session logs in again.
 */
import { call, PASSWORD, type Res } from '../support/processes.js';

export interface Sample {
  kind: 'login' | 'refresh' | 'me' | 'logout';
  /** Index of the server (in the `bases` list) that answered. */
  server: number;
  /** 0 for a connection error. */
  status: number;
  retryAfter?: string;
  error?: string;
  body?: string;
  t0: number;
  t1: number;
}

export class Session {
  access = '';
  refresh = '';
  /** The last refresh attempt with `refresh` was not answered 200 or 400: it may have been applied. */
  uncertain = false;
  /** Refresh tokens whose rotation the server acknowledged (200): never to be accepted again. */
  readonly consumed: string[] = [];
  rotations = 0;
  relogins = 0;
  /** Refusals the ledger cannot explain (a 400 on a token that was never uncertain). */
  readonly unexplained: string[] = [];

  readonly username: string;
  readonly password: string;

  constructor(username: string, password = PASSWORD) {
    this.username = username;
    this.password = password;
  }

  async #send(server: number, kind: Sample['kind'], f: () => Promise<Res>, sink?: (s: Sample) => void) {
    const t0 = Date.now();
    let res: Res | undefined;
    let error: string | undefined;
    try {
      res = await f();
    } catch (e) {
      error = (e as Error).message;
    }
    const sample: Sample = { kind, server, status: res?.status ?? 0, t0, t1: Date.now() };
    if (res?.headers['retry-after'] !== undefined) sample.retryAfter = String(res.headers['retry-after']);
    if (error) sample.error = error;
    if (res && res.status >= 400) sample.body = res.text.slice(0, 300);
    sink?.(sample);
    return { res, sample };
  }

  async login(base: string, server = 0, sink?: (s: Sample) => void): Promise<boolean> {
    const { res } = await this.#send(
      server,
      'login',
      () =>
        call(base, 'POST', '/auth/token', { form: { grant_type: 'password', username: this.username, password: this.password } }),
      sink,
    );
    if (res?.status !== 200) return false;
    this.access = res.json.access_token;
    this.refresh = res.json.refresh_token;
    this.uncertain = false;
    return true;
  }

  /** One rotation; updates the ledger. Returns the status (0: no answer). */
  async rotate(base: string, server = 0, sink?: (s: Sample) => void): Promise<number> {
    const presented = this.refresh;
    const { res, sample } = await this.#send(
      server,
      'refresh',
      () => call(base, 'POST', '/auth/refresh', { json: { refresh_token: presented } }),
      sink,
    );
    if (res?.status === 200) {
      this.consumed.push(presented);
      this.access = res.json.access_token;
      this.refresh = res.json.refresh_token;
      this.uncertain = false;
      this.rotations++;
    } else if (res?.status === 400) {
      if (!this.uncertain) this.unexplained.push(`refresh refused: ${sample.body}`);
      // Consumed by a rotation whose answer we lost (or an unexplained refusal): start over.
      this.access = '';
      this.refresh = '';
    } else {
      this.uncertain = true;
    }
    return sample.status;
  }

  async me(base: string, server = 0, sink?: (s: Sample) => void): Promise<number> {
    const token = this.access;
    const { res, sample } = await this.#send(server, 'me', () => call(base, 'GET', '/me', { token }), sink);
    if (res?.status === 401) this.unexplained.push(`/me refused a live access token: ${sample.body}`);
    return sample.status;
  }
}

export interface LoadOptions {
  sessions: Session[];
  bases: string[];
  /** Called with every sample. */
  sink: (s: Sample) => void;
  /** Pause after a 503 or a connection error (ms). Default 20. */
  backoffMs?: number;
}

/**
 * Runs every session in its own loop (log in if needed, rotate, /me), spreading
 * requests over `bases` round-robin, until `stop()`. `pause()` lets every loop
 * finish its current step and wait; `resume()` lets them go on.
 */
export function runLoad(o: LoadOptions) {
  let running = true;
  let paused = false;
  let wake: (() => void) | undefined;
  let resumed = Promise.resolve();
  let idle = 0;
  let onIdle: (() => void) | undefined;
  let turn = 0;
  const backoff = o.backoffMs ?? 20;

  async function loop(s: Session): Promise<void> {
    while (running) {
      if (paused) {
        idle++;
        if (idle === o.sessions.length) onIdle?.();
        await resumed;
        idle--;
        continue;
      }
      const server = turn++ % o.bases.length;
      const base = o.bases[server] as string;
      let status: number;
      if (s.refresh === '') status = (await s.login(base, server, o.sink)) ? 200 : 503;
      else {
        status = await s.rotate(base, server, o.sink);
        if (status === 200) {
          const other = turn++ % o.bases.length;
          status = await s.me(o.bases[other] as string, other, o.sink);
        }
      }
      if (status === 503 || status === 0) await new Promise((r) => setTimeout(r, backoff));
    }
  }

  const done = Promise.all(o.sessions.map((s) => loop(s)));
  return {
    done,
    /** Resolves once every session waits. */
    pause(): Promise<void> {
      paused = true;
      resumed = new Promise<void>((r) => (wake = r));
      if (idle === o.sessions.length) return Promise.resolve();
      return new Promise<void>((r) => (onIdle = r));
    },
    resume(): void {
      paused = false;
      onIdle = undefined;
      wake?.();
    },
    async stop(): Promise<void> {
      running = false;
      this.resume();
      await done;
    },
  };
}
