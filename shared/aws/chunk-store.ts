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
import { formatManifestLine, parseManifestLine } from '../domain/manifest';
import type { ChunkRef } from '../domain/model';

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

  async putChunk(volumeId: string, index: number, data: Uint8Array): Promise<string> {
    const out = await this.s3.send(
      new PutObjectCommand({ Bucket: this.bucket, Key: chunkKey(volumeId, index), Body: data }),
    );
    if (!out.VersionId) throw new Error(`bucket ${this.bucket} is not versioned`);
    return out.VersionId;
  }

  /** A chunk's bytes at a version, or its latest; undefined when it never existed (sparse). */
  async getChunk(volumeId: string, index: number, versionId?: string): Promise<Uint8Array | undefined> {
    try {
      const out = await this.s3.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: chunkKey(volumeId, index), VersionId: versionId }),
      );
      return await (out.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray();
    } catch (e) {
      if (!versionId && (e instanceof NoSuchKey || (e as Error).name === 'NoSuchKey')) return undefined;
      throw e;
    }
  }

  /** The latest version of every existing chunk of a volume, in chunk order, a page at a time. */
  async *listChunks(volumeId: string): AsyncGenerator<ChunkRef> {
    for await (const page of this.versionPages(chunkPrefix(volumeId))) {
      for (const v of page.Versions ?? []) {
        if (v.IsLatest && v.Key && v.VersionId) yield [indexOfChunkKey(v.Key), v.VersionId];
      }
    }
  }

  /** Pages of ListObjectVersions under a prefix, in key order. */
  private async *versionPages(prefix: string): AsyncGenerator<ListObjectVersionsCommandOutput> {
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
    const out = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
    const lines = createInterface({ input: out.Body as Readable, crlfDelay: Number.POSITIVE_INFINITY });
    for await (const line of lines) {
      if (line) yield parseManifestLine(line);
    }
  }

  /** Writes a manifest from a sorted stream of entries; returns how many chunks it holds. */
  async writeManifest(key: string, entries: AsyncIterable<ChunkRef>): Promise<number> {
    const parts: string[] = [];
    for await (const entry of entries) parts.push(formatManifestLine(entry));
    await this.s3.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: Buffer.from(parts.join('')),
        ContentType: 'text/plain',
      }),
    );
    return parts.length;
  }

  /** Removes every version under a prefix: a deleted volume leaves nothing behind. */
  async deleteEverything(prefix: string): Promise<void> {
    for await (const page of this.versionPages(prefix)) {
      const objects = [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])].map((v) => ({
        key: v.Key ?? '',
        versionId: v.VersionId,
      }));
      await this.deleteVersions(objects);
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

  /**
   * putChunk for a writer under a lease: the request (and any SDK retry) is aborted when
   * `signal` fires, so it cannot outlive the lease.
   */
  async putChunkFenced(
    volumeId: string,
    index: number,
    data: Uint8Array,
    signal: AbortSignal,
  ): Promise<string> {
    const out = await this.s3.send(
      new PutObjectCommand({ Bucket: this.bucket, Key: chunkKey(volumeId, index), Body: data }),
      { abortSignal: signal },
    );
    if (!out.VersionId) throw new Error(`bucket ${this.bucket} is not versioned`);
    return out.VersionId;
  }

  /** getChunk (latest version) for a writer under a lease, aborted when `signal` fires. */
  async getChunkFenced(
    volumeId: string,
    index: number,
    signal: AbortSignal,
  ): Promise<Uint8Array | undefined> {
    try {
      const out = await this.s3.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: chunkKey(volumeId, index) }),
        { abortSignal: signal },
      );
      return await (out.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray();
    } catch (e) {
      if (e instanceof NoSuchKey || (e as Error).name === 'NoSuchKey') return undefined;
      throw e;
    }
  }

  /**
   * A scan manifest written under a lease: the listing (latest version of every chunk of the
   * volume) and the manifest PUT are all aborted when `signal` fires. Returns the chunk count.
   */
  async writeScanManifestFenced(key: string, volumeId: string, signal: AbortSignal): Promise<number> {
    const parts: string[] = [];
    let keyMarker: string | undefined;
    let versionMarker: string | undefined;
    do {
      const out = await this.s3.send(
        new ListObjectVersionsCommand({
          Bucket: this.bucket,
          Prefix: chunkPrefix(volumeId),
          KeyMarker: keyMarker,
          VersionIdMarker: versionMarker,
        }),
        { abortSignal: signal },
      );
      for (const v of out.Versions ?? []) {
        if (v.IsLatest && v.Key && v.VersionId)
          parts.push(formatManifestLine([indexOfChunkKey(v.Key), v.VersionId]));
      }
      keyMarker = out.IsTruncated ? out.NextKeyMarker : undefined;
      versionMarker = out.IsTruncated ? out.NextVersionIdMarker : undefined;
    } while (keyMarker);
    await this.s3.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: Buffer.from(parts.join('')),
        ContentType: 'text/plain',
      }),
      { abortSignal: signal },
    );
    return parts.length;
  }
}
