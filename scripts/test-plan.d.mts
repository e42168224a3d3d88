export const SLOW_FIRST: readonly string[];
export function runOrder(files: readonly string[]): string[];
export function distStale(root: string): string | undefined;
