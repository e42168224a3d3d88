/** Moved to core/metadata.ts (framework-neutral); kept here for existing imports. @module */
export * from './core/metadata.js';
