/**
 * Registered OAuth clients (RFC 6749 §2): the record every store keeps and the
 * directory contract. Types only, so the stores can implement it without
 * depending on anything above them.
 *
 * @module
 */

/** RFC 6749 §2.1: a confidential client can keep a secret, a public one (a browser app, a CLI) cannot. */
export type ClientType = 'public' | 'confidential';

/** A registered client as stored. */
export interface ClientRecord {
  /** RFC 6749 §2.2 client identifier. */
  clientId: string;
  clientType: ClientType;
  /**
   * Confidential clients only: the secret's verifier (`sha256$<base64url>`),
   * never the secret itself (see src/oauth-clients/secrets.ts). `''` for public clients.
   */
  secretHash: string;
  /** May call the introspection endpoint (RFC 7662 §2.1: a protected resource). */
  introspect: boolean;
  /** Milliseconds since the epoch. */
  createdAt: number;
}

/** Where clients live: every store (memory, SQLite, Redis, Redis Cluster, PostgreSQL) implements it. */
export interface ClientDirectory {
  /** Adds a client; false when the id is taken (atomic). */
  createClient(client: ClientRecord): Promise<boolean>;
  getClient(clientId: string): Promise<ClientRecord | null>;
  /** Every client, ordered by id. */
  listClients(): Promise<ClientRecord[]>;
  /** True when a client was removed. */
  removeClient(clientId: string): Promise<boolean>;
}

/** True when `store` implements {@link ClientDirectory} (a store written before clients existed does not). */
export function isClientDirectory(store: unknown): store is ClientDirectory {
  const s = store as Partial<ClientDirectory> | null;
  return (
    typeof s === 'object' &&
    s !== null &&
    typeof s.createClient === 'function' &&
    typeof s.getClient === 'function' &&
    typeof s.listClients === 'function' &&
    typeof s.removeClient === 'function'
  );
}
