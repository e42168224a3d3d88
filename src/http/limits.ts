/** Moved to core/limits.ts (framework-neutral); kept here for existing imports. @module */
export * from './core/limits.js';
