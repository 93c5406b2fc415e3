// The source-map test app's entry: `window.app` holds what the test calls. Uncaught errors are
// thrown from a timer, so that they reach the agent's onerror.
import { CheckoutError, applyCoupon, lastTotal, orderTotal } from './checkout';

declare const vigil: { error(e: unknown, options?: { fingerprint?: string[] }): void };

const lines = [{ sku: 'A-1', qty: 2, price: 10 }];

function later(task: () => void): void {
  setTimeout(task, 0);
}

const report = (task: () => void, fingerprint?: string[]): void => {
  try {
    task();
  } catch (e) {
    vigil.error(e, { fingerprint });
  }
};

(window as unknown as { app: Record<string, (fingerprint?: string[]) => void> }).app = {
  readMissing: () => later(() => orderTotal(lines, 2)),
  pathA: () => later(() => lastTotal(lines, true)),
  pathB: () => later(() => lastTotal(lines, false)),
  coupon: () => later(() => applyCoupon('nope', 10)),
  caughtCoupon: (fingerprint) => report(() => applyCoupon('nope', 10), fingerprint),
  caughtMissing: (fingerprint) => report(() => orderTotal(lines, 2), fingerprint),
  wrapped: () =>
    later(() => {
      try {
        orderTotal(lines, 2);
      } catch (e) {
        throw new CheckoutError('checkout failed', { cause: e }); // @expect(wrap): new CheckoutError
      }
    }),
};
