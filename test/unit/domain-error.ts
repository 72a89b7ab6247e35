import { expect } from 'vitest';
import { DomainError } from '../../shared/domain/errors';

/** Runs `fn`, expects it to throw a DomainError with status 400 and the given code, returns it. */
export function expectBadInput(fn: () => unknown, code = 'bad-input'): DomainError {
  let thrown: unknown;
  let returned: unknown;
  try {
    returned = fn();
  } catch (e) {
    thrown = e;
  }
  if (thrown === undefined) {
    throw new Error(
      `expected a DomainError(400, ${code}), but it returned ${typeof returned === 'number' ? String(returned) : JSON.stringify(returned)}`,
    );
  }
  expect(thrown).toBeInstanceOf(DomainError);
  const err = thrown as DomainError;
  expect(err.status).toBe(400);
  expect(err.code).toBe(code);
  return err;
}
