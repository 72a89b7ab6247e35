/**
 * The fencing rule's timings, all derived from the lease length L in this one place.
 *
 * A gateway stops issuing requests, and aborts the ones in flight, at
 *   validUntil = (clock read before the acquire/renew request) + L - margin,
 * while the table records expiresAt = that same reading + L. Anyone else takes over a lease
 * that was not released only when now > expiresAt + takeoverDelay.
 */
export interface Fencing {
  leaseMs: number;
  /**
   * Kept back from the lease by the gateway: covers the skew and drift between the gateway's
   * clock and the clock of whoever judges the lease expired (another gateway, a sync).
   */
  marginMs: number;
  /**
   * Waited past expiresAt before a takeover: a request the stale gateway aborted at
   * validUntil may still be in flight on the network or being applied by S3/SQS; this
   * lets it settle (land or be dropped) before a newer writer touches the same chunks.
   * At least the margin, so the skew allowance is never eaten by the settling time.
   */
  takeoverDelayMs: number;
}

export function fencing(leaseSeconds: number): Fencing {
  const leaseMs = leaseSeconds * 1000;
  const marginMs = Math.ceil(leaseMs / 10);
  const takeoverDelayMs = Math.max(marginMs, Math.ceil(leaseMs / 5));
  return { leaseMs, marginMs, takeoverDelayMs };
}

/** True when a lease that was not released may be taken over at `now`. */
export function canTakeOver(lease: { expiresAt: number } | undefined, now: number, f: Fencing): boolean {
  return lease === undefined || now > lease.expiresAt + f.takeoverDelayMs;
}

/**
 * How long a batch that a sealed barrier names may stay unstored before its change tracking
 * counts as lost (a message that went to the dead-letter queue): then the sync scans.
 */
export const DEFAULT_TRACKING_TIMEOUT_SECONDS = 300;

export function trackingTimeoutMs(config: { trackingTimeoutSeconds?: number }): number {
  return (config.trackingTimeoutSeconds ?? DEFAULT_TRACKING_TIMEOUT_SECONDS) * 1000;
}

/** Where a quiesced cut stores a volume's scan manifest (at the primary site). */
export const scanManifestKey = (groupId: string, syncId: string, volumeId: string) =>
  `manifests/${groupId}/scan-${syncId}/${volumeId}.txt`;
