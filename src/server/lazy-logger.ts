/**
 * A request logger made on first use.
 *
 * Fastify gives every request a child logger (`logger.child({ reqId })`). With
 * pino and redaction configured, making one serialises the bindings through the
 * redaction rules: about 2 µs per request in the bench/ profiles of `GET /me`,
 * paid by every request although at the default level (`warn`) almost none logs
 * anything. {@link lazyChildLoggerFactory} hands out this wrapper instead; the
 * real child is made with the same parent, bindings and options the first time a
 * line is written at an enabled level (or the level is read from it), so the
 * output is the same.
 *
 * @module
 */
import type { FastifyBaseLogger } from 'fastify';

type Bindings = Parameters<FastifyBaseLogger['child']>[0];
type ChildLoggerOptions = NonNullable<Parameters<FastifyBaseLogger['child']>[1]>;
type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
type AnyLogFn = (...args: unknown[]) => void;

function write(logger: FastifyBaseLogger, level: Level, args: unknown[]): void {
  (logger[level] as AnyLogFn).apply(logger, args);
}

export class LazyChildLogger implements FastifyBaseLogger {
  readonly #parent: FastifyBaseLogger;
  readonly #bindings: Bindings;
  readonly #options: ChildLoggerOptions | undefined;
  #child: FastifyBaseLogger | undefined;

  constructor(parent: FastifyBaseLogger, bindings: Bindings, options?: ChildLoggerOptions) {
    this.#parent = parent;
    this.#bindings = bindings;
    this.#options = options;
  }

  /** The real child logger, made now if it was not yet. */
  get real(): FastifyBaseLogger {
    this.#child ??= this.#parent.child(this.#bindings, this.#options);
    return this.#child;
  }

  get level(): string {
    return this.#child?.level ?? this.#options?.level ?? this.#parent.level;
  }

  set level(level: string) {
    this.real.level = level;
  }

  /**
   * Whether a line at `level` would be written. Without a child yet, the child
   * would have the parent's level (no level option), so the parent answers.
   */
  #enabled(level: Level): boolean {
    if (this.#child !== undefined || this.#options?.level !== undefined) return true;
    const parent = this.#parent as FastifyBaseLogger & { isLevelEnabled?: (level: string) => boolean };
    return typeof parent.isLevelEnabled === 'function' ? parent.isLevelEnabled(level) : true;
  }

  fatal(...args: unknown[]): void {
    if (this.#enabled('fatal')) write(this.real, 'fatal', args);
  }
  error(...args: unknown[]): void {
    if (this.#enabled('error')) write(this.real, 'error', args);
  }
  warn(...args: unknown[]): void {
    if (this.#enabled('warn')) write(this.real, 'warn', args);
  }
  info(...args: unknown[]): void {
    if (this.#enabled('info')) write(this.real, 'info', args);
  }
  debug(...args: unknown[]): void {
    if (this.#enabled('debug')) write(this.real, 'debug', args);
  }
  trace(...args: unknown[]): void {
    if (this.#enabled('trace')) write(this.real, 'trace', args);
  }
  silent(): void {}

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.real.child(bindings, options);
  }
}

/** Fastify `childLoggerFactory`: a {@link LazyChildLogger} per request. */
export function lazyChildLoggerFactory(
  logger: FastifyBaseLogger,
  bindings: Bindings,
  options: ChildLoggerOptions,
): FastifyBaseLogger {
  return new LazyChildLogger(logger, bindings, options);
}
