import { describe, expect, it } from 'vitest';
import { isTransient, isUnreachable } from '../../shared/aws/errors';
import { backoffMs } from '../../shared/usecases/transient';

const http = (status: number, name = 'Error') =>
  Object.assign(new Error('x'), { name, $metadata: { httpStatusCode: status } });

describe('status: error classes', () => {
  it.each([
    [http(503, 'SlowDown'), true, false],
    [http(500, 'InternalError'), true, false],
    [http(502), true, false],
    [http(429), true, false],
    [Object.assign(new Error('t'), { name: 'TimeoutError' }), true, false],
    [Object.assign(new Error('r'), { code: 'ECONNREFUSED' }), false, true],
    [
      Object.assign(new Error('w'), { cause: Object.assign(new Error('s'), { code: 'ECONNRESET' }) }),
      false,
      true,
    ],
    [http(403, 'AccessDenied'), false, false],
    [http(404, 'NoSuchVersion'), false, false],
  ])('%s: transient %s, unreachable %s', (e, transient, unreachable) => {
    expect(isTransient(e)).toBe(transient);
    expect(isUnreachable(e)).toBe(unreachable);
  });

  it('backs off exponentially up to a cap, with jitter in the upper half', () => {
    expect(backoffMs(1, () => 0)).toBe(100);
    expect(backoffMs(1, () => 1)).toBe(200);
    expect(backoffMs(3, () => 1)).toBe(800);
    expect(backoffMs(30, () => 1)).toBe(5_000);
    expect(backoffMs(30, () => 0)).toBe(2_500);
  });
});
