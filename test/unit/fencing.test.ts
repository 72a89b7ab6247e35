import { describe, expect, it } from 'vitest';
import { canTakeOver, fencing, trackingTimeoutMs } from '../../shared/domain/fencing';

describe('fencing timings', () => {
  it.each([1, 2, 3, 10, 30])(
    'lease %d s: the takeover delay is at least the margin, both within the lease',
    (s) => {
      const f = fencing(s);
      expect(f.leaseMs).toBe(s * 1000);
      expect(f.marginMs).toBeGreaterThan(0);
      expect(f.takeoverDelayMs).toBeGreaterThanOrEqual(f.marginMs);
      expect(f.marginMs + f.takeoverDelayMs).toBeLessThan(f.leaseMs);
    },
  );

  it('a lease that was not released is taken over only after expiresAt + takeoverDelay', () => {
    const f = fencing(10);
    const lease = { expiresAt: 50_000 };
    expect(canTakeOver(undefined, 0, f)).toBe(true);
    expect(canTakeOver(lease, 49_999, f)).toBe(false);
    expect(canTakeOver(lease, 50_000 + f.takeoverDelayMs, f)).toBe(false);
    expect(canTakeOver(lease, 50_001 + f.takeoverDelayMs, f)).toBe(true);
  });

  it('the tracking timeout is configurable and has a default', () => {
    expect(trackingTimeoutMs({ trackingTimeoutSeconds: 2 })).toBe(2000);
    expect(trackingTimeoutMs({})).toBeGreaterThan(0);
  });
});
