/**
 * Type-level assertions for the type tests: `expectType<T>()(value)` fails to
 * compile unless the value's type is exactly `T` (not merely assignable).
 */
export type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;

export function expectType<Expected>() {
  return <Actual>(_value: Actual & (Equal<Actual, Expected> extends true ? unknown : never)): void => {};
}

/** Compiles only when `T` is `true` (for `Equal<...>` on types without a value). */
export function assertType<T extends true>(): T | undefined {
  return undefined;
}
