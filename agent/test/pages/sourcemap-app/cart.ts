// The source-map test app (test/sourcemaps.test.mjs), built with esbuild into a minified bundle.
// A comment `@expect(NAME): TEXT` marks the line of a frame the test checks; the frame's
// original column is where TEXT starts on that line (the test computes both from this file).

export interface Line {
  sku: string;
  qty: number;
  price: number;
}

/**
 * A line's total: a missing line (an index past the end) throws a TypeError. V8 reports a property
 * read of undefined at the property's name (`qty`, not `line` or the dot), a call at the callee's
 * name, a `throw new X()` at `new`.
 */
export function lineTotal(line: Line): number {
  const qty = line.qty; // @expect(read-qty): qty;
  return qty * line.price;
}
