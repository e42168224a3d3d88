/** Moved to core/guessing-limiter.ts (framework-neutral); kept here for existing imports. @module */
export * from './core/guessing-limiter.js';
