// The source-map test app: see cart.ts for the markers.
import { lineTotal, type Line } from './cart';

export class CheckoutError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'CheckoutError';
  }
}

export function orderTotal(lines: Line[], count: number): number {
  let total = 0;
  for (let i = 0; i < count; i++) {
    total += lineTotal(lines[i]); // @expect(call-line-total): lineTotal(
  }
  return total;
}

// One function, two call sites: errors from either differ only in the line numbers.
export function lastTotal(lines: Line[], early: boolean): number {
  if (early) {
    return lineTotal(lines[lines.length]); // @expect(path-a): lineTotal(
  }
  return lineTotal(lines[lines.length]); // @expect(path-b): lineTotal(
}

export const applyCoupon = (code: string, total: number): number => {
  if (!/^[A-Z]{4}\d$/.test(code)) {
    throw new CheckoutError(`invalid coupon ${code}`); // @expect(coupon): new CheckoutError
  }
  return total * 0.9;
};
