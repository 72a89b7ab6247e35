import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import {
  BucketAlreadyOwnedByYou,
  CopyObjectCommand,
  CreateBucketCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectVersionsCommand,
  type ListObjectVersionsCommandOutput,
  NoSuchKey,
  PutBucketVersioningCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { type SiteConfig, sameS3Service } from '../config';
import { chunkKey, chunkPrefix, indexOfChunkKey } from '../domain/chunks';
import type { Positioned } from '../domain/cursor';
import { formatRunLine, parseRunLine, type RunEntry } from '../domain/delta';
import {
  formatManifestIndex,
  formatManifestLine,
  MANIFEST_START,
  type ManifestPosition,
  manifestPartKey,
  parseManifestIndex,
  parseManifestLine,
} from '../domain/manifest';
import type { ChunkRef } from '../domain/model';
import { type ChunkHistory, chunkHistoriesOf, type VersionPage } from '../domain/scan-superseded';

/** Entries per manifest part written in one piece: about 2.5 MB of text. */
export const MANIFEST_PART_ENTRIES = 65_536;

/** Chunk objects and manifests of one site's versioned bucket. */
export class ChunkStore {
  constructor(
    readonly site: SiteConfig,
    readonly s3: S3Client,
  ) {}

  get bucket(): string {
    return this.site.bucket;
  }

  async createBucket(): Promise<void> {
    try {
      await this.s3.send(
        new CreateBucketCommand({
          Bucket: this.bucket,
          ...(this.site.region === 'us-east-1'
            ? {}
            : { CreateBucketConfiguration: { LocationConstraint: this.site.region as never } }),
        }),
      );
    } catch (e) {
      if (!(e instanceof BucketAlreadyOwnedByYou) && (e as Error).name !== 'BucketAlreadyExists') throw e;
    }
    await this.s3.send(
      new PutBucketVersioningCommand({ Bucket: this.bucket, VersioningConfiguration: { Status: 'Enabled' } }),
    );
  }

  /** `signal` aborts the request and any SDK retry of it (a writer's lease ending). */
  async putChunk(volumeId: string, index: number, data: Uint8Array, signal?: AbortSignal): Promise<string> {
    const out = await this.s3.send(
      new PutObjectCommand({ Bucket: this.bucket, Key: chunkKey(volumeId, index), Body: data }),
      { abortSignal: signal },
    );
    if (!out.VersionId) throw new Error(`bucket ${this.bucket} is not versioned`);
    return out.VersionId;
  }

  /** A chunk's bytes at a version, or its latest; undefined when it never existed (sparse). */
  async getChunk(
    volumeId: string,
    index: number,
    versionId?: string,
    signal?: AbortSignal,
  ): Promise<Uint8Array | undefined> {
    try {
      const out = await this.s3.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: chunkKey(volumeId, index), VersionId: versionId }),
        { abortSignal: signal },
      );
      return await (out.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray();
    } catch (e) {
      if (!versionId && (e instanceof NoSuchKey || (e as Error).name === 'NoSuchKey')) return undefined;
      throw e;
    }
  }

  /** The latest version of every existing chunk of a volume, in chunk order, a page at a time. */
  async *listChunks(volumeId: string, signal?: AbortSignal): AsyncGenerator<ChunkRef> {
    for await (const page of this.versionPages(chunkPrefix(volumeId), signal)) {
      for (const v of page.Versions ?? []) {
        if (v.IsLatest && v.Key && v.VersionId) yield [indexOfChunkKey(v.Key), v.VersionId];
      }
    }
  }

  /** Every chunk's versions (newest first) and whether it has delete markers, in chunk order. */
  async *chunkHistories(volumeId: string): AsyncGenerator<ChunkHistory> {
    const pages = async function* (store: ChunkStore): AsyncGenerator<VersionPage> {
      for await (const page of store.versionPages(chunkPrefix(volumeId)))
        yield {
          versions: (page.Versions ?? []).flatMap((v) =>
            v.Key && v.VersionId ? [[indexOfChunkKey(v.Key), v.VersionId] as ChunkRef] : [],
          ),
          markers: (page.DeleteMarkers ?? []).flatMap((m) => (m.Key ? [indexOfChunkKey(m.Key)] : [])),
        };
    };
    yield* chunkHistoriesOf(pages(this));
  }

  /** Pages of ListObjectVersions under a prefix, in key order. */
  private async *versionPages(
    prefix: string,
    signal?: AbortSignal,
  ): AsyncGenerator<ListObjectVersionsCommandOutput> {
    let keyMarker: string | undefined;
    let versionMarker: string | undefined;
    do {
      const out = await this.s3.send(
        new ListObjectVersionsCommand({
          Bucket: this.bucket,
          Prefix: prefix,
          KeyMarker: keyMarker,
          VersionIdMarker: versionMarker,
        }),
        { abortSignal: signal },
      );
      yield out;
      keyMarker = out.IsTruncated ? out.NextKeyMarker : undefined;
      versionMarker = out.IsTruncated ? out.NextVersionIdMarker : undefined;
    } while (keyMarker);
  }

  /**
   * Copies one chunk version from `source` into this bucket and returns the new versionId:
   * server-side when both sites share one S3 service, streamed GET -> PUT otherwise.
   */
  async copyChunkFrom(
    source: ChunkStore,
    sourceVolumeId: string,
    targetVolumeId: string,
    index: number,
    versionId: string,
  ): Promise<string> {
    const key = chunkKey(targetVolumeId, index);
    if (sameS3Service(source.site, this.site)) {
      const out = await this.s3.send(
        new CopyObjectCommand({
          Bucket: this.bucket,
          Key: key,
          CopySource: `${source.bucket}/${chunkKey(sourceVolumeId, index)}?versionId=${encodeURIComponent(versionId)}`,
        }),
      );
      if (!out.VersionId) throw new Error(`bucket ${this.bucket} is not versioned`);
      return out.VersionId;
    }
    // A chunk is at most 64 MiB, so one is held in memory per copy in flight.
    const body = await source.getChunk(sourceVolumeId, index, versionId);
    const out = await this.s3.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body }));
    if (!out.VersionId) throw new Error(`bucket ${this.bucket} is not versioned`);
    return out.VersionId;
  }

  /** Streams a manifest's entries; an absent key is an empty manifest. */
  async *readManifest(key: string | undefined): AsyncGenerator<ChunkRef> {
    if (!key) return;
    for await (const { value } of this.readManifestFrom(key, MANIFEST_START)) yield value;
  }

  /** Streams a manifest from a saved position, each entry with the position after it. */
  async *readManifestFrom(
    key: string,
    from: ManifestPosition,
  ): AsyncGenerator<Positioned<ChunkRef, ManifestPosition>> {
    let parts: number | undefined;
    if (from.part === 0) {
      let first = from.offset === 0;
      for await (const { line, next } of this.readLinesFrom(key, from.offset)) {
        if (first) {
          first = false;
          parts = parseManifestIndex(line);
          if (parts !== undefined) break;
        }
        yield { value: parseManifestLine(line), next: { part: 0, offset: next } };
      }
      if (parts === undefined) return;
    } else {
      parts = await this.manifestParts(key);
    }
    for (let part = Math.max(1, from.part); part <= parts; part++) {
      const offset = part === from.part ? from.offset : 0;
      for await (const { line, next } of this.readLinesFrom(manifestPartKey(key, part), offset)) {
        yield { value: parseManifestLine(line), next: { part, offset: next } };
      }
    }
  }

  /** How many parts a manifest has: 0 for a single-object manifest. */
  private async manifestParts(key: string): Promise<number> {
    for await (const { line } of this.readLinesFrom(key, 0)) return parseManifestIndex(line) ?? 0;
    return 0;
  }

  /**
   * Writes a manifest from a sorted stream of entries; returns how many chunks it holds.
   * Memory holds one part: a manifest longer than that is written as parts under an index.
   */
  async writeManifest(key: string, entries: AsyncIterable<ChunkRef>, signal?: AbortSignal): Promise<number> {
    let part: ChunkRef[] = [];
    let parts = 0;
    let total = 0;
    for await (const entry of entries) {
      if (part.length === MANIFEST_PART_ENTRIES) {
        await this.writeManifestPart(key, ++parts, part, signal);
        part = [];
      }
      part.push(entry);
      total++;
    }
    if (parts === 0) {
      await this.writeManifestPart(key, 0, part, signal);
    } else {
      await this.writeManifestPart(key, ++parts, part, signal);
      await this.writeManifestIndex(key, parts, signal);
    }
    return total;
  }

  /** Writes part `part` of a manifest; part 0 is the whole manifest in one object. */
  async writeManifestPart(
    key: string,
    part: number,
    entries: readonly ChunkRef[],
    signal?: AbortSignal,
  ): Promise<void> {
    await this.putText(
      part === 0 ? key : manifestPartKey(key, part),
      entries.map(formatManifestLine).join(''),
      signal,
    );
  }

  async writeManifestIndex(key: string, parts: number, signal?: AbortSignal): Promise<void> {
    await this.putText(key, formatManifestIndex(parts), signal);
  }

  /**
   * Every version and delete marker of a manifest's objects (its key and its parts), the key's
   * own last: deleting them in this order leaves a half-deleted manifest findable by its key.
   * In a versioned bucket a delete without a version id only adds a marker and frees nothing.
   */
  async manifestVersions(key: string): Promise<{ key: string; versionId?: string }[]> {
    const parts: { key: string; versionId?: string }[] = [];
    const index: { key: string; versionId?: string }[] = [];
    for await (const page of this.versionPages(key)) {
      for (const v of [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])]) {
        if (v.Key === key) index.push({ key, versionId: v.VersionId });
        else if (v.Key?.startsWith(`${key}.part-`)) parts.push({ key: v.Key, versionId: v.VersionId });
      }
    }
    return [...parts, ...index];
  }

  /** Stores a run of a sync's collect phase (entries sorted by volume, then chunk). */
  async writeRun(key: string, entries: readonly RunEntry[]): Promise<void> {
    await this.putText(key, entries.map(formatRunLine).join(''));
  }

  /** Streams a run from a byte offset, each entry with the offset after it. */
  async *readRunFrom(key: string, offset: number): AsyncGenerator<Positioned<RunEntry, number>> {
    for await (const { line, next } of this.readLinesFrom(key, offset))
      yield { value: parseRunLine(line), next };
  }

  private async putText(key: string, text: string, signal?: AbortSignal): Promise<void> {
    await this.s3.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: Buffer.from(text),
        ContentType: 'text/plain',
      }),
      { abortSignal: signal },
    );
  }

  /** Lines of an object from a byte offset; an offset at the end of the object yields nothing. */
  private async *readLinesFrom(key: string, offset: number): AsyncGenerator<{ line: string; next: number }> {
    let body: Readable;
    try {
      const out = await this.s3.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Range: offset > 0 ? `bytes=${offset}-` : undefined,
        }),
      );
      body = out.Body as Readable;
    } catch (e) {
      if (
        (e as Error).name === 'InvalidRange' ||
        (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 416
      )
        return;
      throw e;
    }
    try {
      const lines = createInterface({ input: body, crlfDelay: Number.POSITIVE_INFINITY });
      let at = offset;
      for await (const line of lines) {
        // Lines are ASCII: one byte per character, plus the newline.
        at += line.length + 1;
        if (line) yield { line, next: at };
      }
    } finally {
      body.destroy();
    }
  }

  /**
   * Removes every version under a prefix, a page of the listing at a time, once `consume` has
   * read each key of the page that is current: lists read once and dropped (a run killed midway
   * reads again only the lists it had not removed).
   */
  async consumeEverything(prefix: string, consume: (key: string) => Promise<void>): Promise<void> {
    for await (const page of this.versionPages(prefix)) {
      for (const v of page.Versions ?? []) if (v.IsLatest && v.Key) await consume(v.Key);
      await this.deleteVersions(
        [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])].map((v) => ({
          key: v.Key ?? '',
          versionId: v.VersionId,
        })),
      );
    }
  }

  /** Removes every version under a prefix: a deleted volume leaves nothing behind. */
  deleteEverything(prefix: string): Promise<void> {
    return this.consumeEverything(prefix, async () => undefined);
  }

  /**
   * Removes every version under a prefix except the latest version of each key `keep` accepts:
   * what rewrites, superseded attempts and delete markers left beside the objects still in use.
   */
  async deleteEverythingBut(prefix: string, keep: (key: string) => boolean): Promise<void> {
    for await (const page of this.versionPages(prefix)) {
      const doomed = [
        ...(page.Versions ?? []).filter((v) => !(v.IsLatest && keep(v.Key ?? ''))),
        ...(page.DeleteMarkers ?? []),
      ].map((v) => ({ key: v.Key ?? '', versionId: v.VersionId }));
      await this.deleteVersions(doomed);
    }
  }

  async deleteVersions(objects: { key: string; versionId?: string }[]): Promise<void> {
    if (objects.length === 0) return;
    for (let i = 0; i < objects.length; i += 1000) {
      await this.s3.send(
        new DeleteObjectsCommand({
          Bucket: this.bucket,
          Delete: {
            Quiet: true,
            Objects: objects.slice(i, i + 1000).map((o) => ({ Key: o.key, VersionId: o.versionId })),
          },
        }),
      );
    }
  }
}
