/**
 * Domain errors carry the HTTP status and kebab-case code of the API contract, so the
 * adapters (HTTP handler, CLI) map them without knowing the use case that threw.
 */
export class DomainError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 409 | 422 | 503,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

export const badInput = (message: string, code = 'bad-input') => new DomainError(400, code, message);
export const notFound = (what: string, id: string) =>
  new DomainError(404, `${what}-not-found`, `${what} ${id} does not exist`);
export const conflict = (message: string, code = 'conflict') => new DomainError(409, code, message);
