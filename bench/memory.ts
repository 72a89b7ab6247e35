import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { Emulator } from '../local/emulator';

const HERE = dirname(fileURLToPath(import.meta.url));

/**
 * The manifest merge of a commit on a volume of `chunks` chunks with `changed` of them copied:
 * the previous manifest streamed from S3, merged with the copied chunks and written as parts,
 * in a child process of its own; its peak RSS against an idle child's (runtime and SDK).
 */
export async function manifestMemory(chunks: number, changed: number) {
  const emu = await Emulator.start('memory');
  try {
    const s3 = new S3Client({
      region: 'us-east-1',
      endpoint: emu.url,
      forcePathStyle: true,
      credentials: { accessKeyId: 'volmirrorlocal', secretAccessKey: 'volmirrorlocal' },
    });
    await s3.send(new CreateBucketCommand({ Bucket: 'memory' }));
    s3.destroy();
    const child = (mode: string) =>
      JSON.parse(
        execFileSync(
          process.execPath,
          [
            '--import',
            'tsx',
            join(HERE, 'memory-child.ts'),
            emu.url,
            'memory',
            mode,
            String(chunks),
            String(changed),
          ],
          { encoding: 'utf8', maxBuffer: 1 << 20 },
        ).trim(),
      ) as { ms: number; maxRssMiB: number };
    const idle = child('idle');
    const seed = child('seed');
    const merge = child('merge');
    return {
      volume: `${chunks.toLocaleString('en-US')} chunks (sparse volume, manifest of every chunk), ${changed.toLocaleString('en-US')} changed`,
      'merge + write of the new manifest (s)': merge.ms / 1000,
      'peak RSS of the merge process (MiB)': merge.maxRssMiB,
      'peak RSS of an idle process, same modules (MiB)': idle.maxRssMiB,
      'writing the previous manifest (s) / peak RSS (MiB)': `${seed.ms / 1000} / ${seed.maxRssMiB}`,
    };
  } finally {
    await emu.stop();
  }
}
