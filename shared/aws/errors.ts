/**
 * A network failure reaching a site (the link is down), as opposed to a bug, a refused
 * request, or a site that answers but is busy (see isTransient).
 */
export function isUnreachable(e: unknown): boolean {
  const err = e as { name?: string; code?: string; cause?: unknown };
  const codes = ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'UND_ERR_SOCKET'];
  if (err?.code && codes.includes(err.code)) return true;
  return err?.cause !== undefined && err.cause !== e && isUnreachable(err.cause);
}

const THROTTLING = [
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'RequestThrottled',
  'RequestLimitExceeded',
  'TooManyRequestsException',
  'ProvisionedThroughputExceededException',
  'InternalError',
  'ServiceUnavailable',
];

/**
 * A site that answered but could not serve the request this time: throttling (429, 503
 * SlowDown), a server error (500, 502, 504) or a timeout. Retrying after a while mends it, so it
 * never pauses a group by itself; only a lasting run of them counts as an outage.
 */
export function isTransient(e: unknown): boolean {
  const err = e as { name?: string; code?: string; $metadata?: { httpStatusCode?: number }; cause?: unknown };
  const status = err?.$metadata?.httpStatusCode;
  if (status === 429 || (status !== undefined && status >= 500 && status <= 599)) return true;
  if (err?.name && THROTTLING.includes(err.name)) return true;
  if (err?.name === 'TimeoutError' || err?.name === 'RequestTimeout' || err?.code === 'ETIMEDOUT')
    return true;
  return err?.cause !== undefined && err.cause !== e && isTransient(err.cause);
}
