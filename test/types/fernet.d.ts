// Minimal types for the `fernet` npm package (devDependency, used by tests and bench only).
declare module 'fernet' {
  export class Secret {
    constructor(secret64: string);
  }
  export interface TokenOptions {
    secret: Secret;
    token?: string;
    ttl?: number;
    time?: string | number | Date;
    iv?: number[];
  }
  export class Token {
    constructor(opts: TokenOptions);
    encode(message: string): string;
    decode(token?: string): string;
  }
  const fernet: { Secret: typeof Secret; Token: typeof Token };
  export default fernet;
}
