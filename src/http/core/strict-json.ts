/**
 * Duplicate member names in a JSON body are refused. RFC 8259 §4 says names
 * "SHOULD be unique" and leaves duplicates to the implementation: `JSON.parse`
 * keeps the last one, other parsers the first. A filter in front of the server
 * that reads the first `refresh_token` would then see another request than the
 * server does, so an ambiguous body is a 400 `invalid_request`, the way a
 * repeated form parameter is (RFC 6749 §3.1).
 *
 * A reviver cannot see duplicates (`JSON.parse` merged them already), so
 * {@link findDuplicateKey} scans the text once with a small tokenizer: it only
 * tracks strings, brackets and which strings are names. It does not validate;
 * the real parse comes after it.
 *
 * @module
 */

/** The first member name that appears twice in one object of `text`, or `undefined`. Linear in the text. */
export function findDuplicateKey(text: string): string | undefined {
  // One set of names per open object; `null` marks an open array.
  const stack: (Set<string> | null)[] = [];
  // Inside an object, a string is a name when it comes after `{` or `,`.
  let expectName = false;
  const n = text.length;
  // The next backslash at or after the current string's start (n: none left). A string with no
  // backslash before its first `"` ends there: found by indexOf (native) instead of a loop over
  // every character, which matters for a body that is mostly one long token (~300 characters).
  let nextBackslash = -1;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const start = i + 1;
      if (nextBackslash < start) {
        nextBackslash = text.indexOf('\\', start);
        if (nextBackslash === -1) nextBackslash = n;
      }
      let end = text.indexOf('"', start);
      if (end === -1) return undefined; // unterminated: the parser refuses it
      const escaped = nextBackslash < end;
      if (escaped) {
        // Escapes inside: walk it, a backslash and the character after it at a time.
        end = start;
        while (end < n) {
          const d = text.charCodeAt(end);
          if (d === 0x5c /* \ */) end += 2;
          else if (d === 0x22) break;
          else end++;
        }
        if (end >= n) return undefined;
      }
      i = end;
      const top = stack[stack.length - 1];
      if (expectName && top) {
        let name = text.slice(start, end);
        if (escaped) {
          try {
            name = JSON.parse(`"${name}"`) as string; // "a" and "\u0061" are one name
          } catch {
            return undefined;
          }
        }
        if (top.has(name)) return name;
        top.add(name);
        expectName = false;
      }
    } else if (c === 0x7b /* { */) {
      stack.push(new Set());
      expectName = true;
    } else if (c === 0x5b /* [ */) {
      stack.push(null);
      expectName = false;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
      expectName = false;
    } else if (c === 0x2c /* , */) {
      expectName = stack[stack.length - 1] != null;
    }
  }
  return undefined;
}
