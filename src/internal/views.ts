/**
 * Views of the first bytes of a scratch buffer, kept by length. `crypto.hash` and
 * `crypto.verify` take no offset or length, so a message written into a reused buffer
 * is passed as a view of it; a new `subarray` per call costs about as much as the
 * write itself (a typed array allocated through the species constructor), while the
 * messages of one deployment (tokens) come in a handful of lengths.
 *
 * @module
 */

/** How many lengths a view cache keeps before it starts over. */
const MAX_CACHED_VIEWS = 64;

/**
 * `view(n)` is `buffer.subarray(0, n)`, the same object for the same `n`. Bounded; a
 * buffer that grows is a new buffer, with a new cache.
 */
export function prefixViews(buffer: Buffer): (n: number) => Buffer {
  const views = new Map<number, Buffer>();
  return (n) => {
    let v = views.get(n);
    if (v === undefined) {
      if (views.size >= MAX_CACHED_VIEWS) views.clear();
      v = buffer.subarray(0, n);
      views.set(n, v);
    }
    return v;
  };
}
