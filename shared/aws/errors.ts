/** A network failure reaching a site, as opposed to a bug or a refused request. */
export function isUnreachable(e: unknown): boolean {
  const err = e as { name?: string; code?: string; $metadata?: { httpStatusCode?: number }; cause?: unknown };
  const codes = [
    'ECONNREFUSED',
    'ECONNRESET',
    'ETIMEDOUT',
    'EPIPE',
    'EHOSTUNREACH',
    'ENOTFOUND',
    'UND_ERR_SOCKET',
  ];
  if (err?.code && codes.includes(err.code)) return true;
  if (err?.name === 'TimeoutError' || err?.name === 'RequestTimeout') return true;
  if (err?.$metadata?.httpStatusCode === 502 || err?.$metadata?.httpStatusCode === 503) return true;
  return err?.cause !== undefined && err.cause !== e && isUnreachable(err.cause);
}
