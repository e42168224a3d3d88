/** Moved to core/strict-json.ts (framework-neutral); kept here for existing imports. @module */
export * from './core/strict-json.js';
