/**
 * Every performance tunable in one place, each with the measurement behind its value
 * (`npm run bench`, embedded emulators on a 2-core machine; see bench/README.md).
 */

/**
 * Chunk copies one copy task keeps in flight, and about the chunks recorded per task-item update.
 * Measured on a 1,024-chunk initial sync, one shared S3 service (bench/run.ts rclone section
 * sizes): 4 took 22.3 s in copies and 270 DynamoDB UpdateItems; 16 took 13.1 s and 78. A
 * worker killed mid-slice recopies at most this many chunks, each to the same bytes.
 */
export const COPIES_IN_FLIGHT = 16;

/**
 * HTTP keep-alive and sockets per SDK client. Keep-alive spares a TCP handshake per request
 * (the SDK's default too, kept explicit here). Sockets: a site's S3 client carries every copy
 * in flight, 8 tasks x COPIES_IN_FLIGHT = 128 at medium priority, above the SDK's default of
 * 50. On the emulator 256 sockets against 50 changed nothing measurable (the same 1,024-chunk
 * sync: 14.7 s in copies against 13.1 s, within run-to-run noise; the emulator is the limit),
 * so the value follows from the copies in flight, not from a measured gain.
 */
export const HTTP_KEEP_ALIVE = true;
export const MAX_SOCKETS = 256;
