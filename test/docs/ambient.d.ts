/**
 * The names the docs' TypeScript fragments leave to their reader (what the
 * surrounding application already has). A block that uses one of them is
 * type-checked against these declarations and not run; a block that uses none
 * is also run (test/docs/docs.test.ts).
 */
declare const tokens: import('tessera-auth').TokenService;
declare const users: import('tessera-auth/fastify/routes').UserService;
declare const clients: import('tessera-auth').ClientService;
declare const app: import('fastify').FastifyInstance;
declare const password: string;
declare function showLogin(reason: string): void;
declare function listOrders(sub: string): Promise<unknown>;
declare function adminPage(): Promise<unknown>;
