/**
 * One step of the memory section in its own process, so that its peak RSS is its own:
 *   tsx bench/memory-child.ts <endpoint> <bucket> seed|merge|idle <chunks> <changed>
 * prints {"ms": .., "maxRssMiB": ..}.
 */
import { S3Client } from '@aws-sdk/client-s3';
import { ChunkStore } from '../shared/aws/chunk-store';
import { mergeManifests } from '../shared/domain/manifest';
import type { ChunkRef } from '../shared/domain/model';
import { spread } from './workload';

const [endpoint, bucket, mode, chunksArg, changedArg] = process.argv.slice(2);
const chunks = Number(chunksArg);
const changed = Number(changedArg);
const version = (i: number, gen: number) => `v${gen}-${String(i).padStart(10, '0')}-0123456789abcdef`;

async function* previous(): AsyncGenerator<ChunkRef> {
  for (let i = 0; i < chunks; i++) yield [i, version(i, 0)];
}

async function main() {
  const s3 = new S3Client({
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: 'volmirrorlocal', secretAccessKey: 'volmirrorlocal' },
  });
  const store = new ChunkStore(
    { name: 'east', region: 'us-east-1', bucket, changeQueueUrl: '', copyQueueUrl: '', endpoint },
    s3,
  );
  const t = performance.now();
  if (mode === 'seed') await store.writeManifest('manifests/previous', previous());
  if (mode === 'merge') {
    const delta: ChunkRef[] = spread(changed, chunks).map((i) => [i, version(i, 1)]);
    const n = await store.writeManifest(
      'manifests/next',
      mergeManifests(store.readManifest('manifests/previous'), delta),
    );
    if (n !== chunks) throw new Error(`merged manifest holds ${n} chunks, not ${chunks}`);
  }
  const ms = performance.now() - t;
  s3.destroy();
  console.log(
    JSON.stringify({ ms: Math.round(ms), maxRssMiB: Math.round(process.resourceUsage().maxRSS / 1024) }),
  );
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
