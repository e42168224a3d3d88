/** Moved to core/client-auth.ts (framework-neutral); kept here for existing imports. @module */
export * from './core/client-auth.js';
