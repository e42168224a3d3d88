/**
 * The TokenStore contract (placeholder: the refresh-engine work defines it fully).
 *
 * @module
 */
export interface TokenStore {
  readonly kind: 'memory' | 'sqlite' | 'redis';
  ping(): Promise<void>;
  close(): Promise<void>;
}
