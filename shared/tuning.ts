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
 * Most chunks one copy task holds: small enough that a retried task redoes little, large enough
 * that its claim, message and item are shared by many copies. A delta too small to give every
 * lane a task of this size is cut into smaller tasks (chunksPerTask in domain/group-rules.ts).
 */
export const CHUNKS_PER_TASK = 64;

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

/**
 * Change records per SQS message: about 220 bytes each as JSON, so a full message stays under
 * the 64 KiB that SQS bills as one request.
 */
export const RECORDS_PER_MESSAGE = 250;

/**
 * How long a write's change record may wait for others before its message leaves (a message
 * leaves earlier when full, or when no other write of the epoch is still storing chunks). 4 KiB
 * writes to distinct chunks, 64 in flight, per-site emulators, 1,000 writes twice: 50 ms sent
 * 105 and 115 messages at 137 and 126 writes/s; 250 ms sent 16 and 19 at 158 and 165 writes/s.
 * Later runs of the same load at 250 ms sent 22 to 31 (the bench's target is 30), as the 64
 * writers fall into more groups; three rounds each, alternating, 2026-12-07: 250 ms sent 31, 29
 * and 22 at 105 to 139 writes/s, 300 ms 21, 21 and 23 at 113 to 130, 400 ms 16, 16 and 17 at
 * 108 to 130. 300 ms keeps the count under the target with the least added wait. The emulator's
 * SQS is slow enough that fewer sends are not slower; a write waits for its message, so this is
 * the most one write's acknowledgement can be delayed (a FLUSH sends at once).
 */
export const LINGER_MS = 300;

/**
 * `volume write --file`: bytes handed to the gateway per write, large enough that one write's
 * records fill most of a message (128 records at 64 KiB chunks), small enough to stream; and
 * bytes in flight at once, which bounds memory whatever the file size (4 writes of 8 MiB).
 */
export const WRITE_PIECE_BYTES = 8 * 1024 * 1024;
export const WRITE_INFLIGHT_BYTES = 32 * 1024 * 1024;
