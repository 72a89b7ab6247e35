import type { Command } from 'commander';
import { ApiClient, seg, type VolumeView } from '../api-client';
import { leaf, sizeArg } from '../command';
import { CliError } from '../errors';
import { emit, fields, formatBytes, type JsonFlag, run, table } from '../output';

/**
 * The data plane (AWS SDK clients, the gateway) of write, read and checksum: loaded when one
 * of them runs, so that `volmirror --help` and the API-only commands do not parse it.
 */
const dataPlane = () => Promise.all([import('../data-plane'), import('../transfer')]);

export function describeVolume(v: VolumeView): string {
  return fields([
    ['id', v.id],
    ['name', v.name],
    ['site', v.site],
    ['size', `${formatBytes(v.sizeBytes)} (${v.sizeBytes} bytes)`],
    ['chunk size', formatBytes(v.chunkSizeBytes)],
    ['group', v.groupId],
    ['role', v.role],
    ['location', `s3://${v.location.bucket}/${v.location.prefix} (${v.location.region})`],
    ['created', v.createdAt],
  ]);
}

export function registerVolume(program: Command): void {
  const volume = program.command('volume').description('block volumes: create, list, write, read, checksum');

  leaf(volume, 'create <name>', 'create a volume at a site (sparse: nothing is stored until written)')
    .requiredOption('--site <site>', 'site that holds the volume, e.g. east')
    .requiredOption('--size <size>', 'size: bytes or a unit, e.g. 256MiB, 1GiB', sizeArg)
    .option('--chunk-size <size>', 'chunk size: a power of two from 64KiB to 64MiB (default 1MiB)', sizeArg)
    .action(
      run(async (name: string, o: JsonFlag & { site: string; size: number; chunkSize?: number }) => {
        const v = await ApiClient.fromLocal().post<VolumeView>('/volumes', {
          name,
          site: o.site,
          sizeBytes: o.size,
          ...(o.chunkSize !== undefined && { chunkSizeBytes: o.chunkSize }),
        });
        emit(o, v, () => `created volume ${v.id} (${v.name}, ${v.site}, ${formatBytes(v.sizeBytes)})`);
      }),
    );

  leaf(volume, 'list', 'list volumes').action(
    run(async (o: JsonFlag) => {
      const volumes = await ApiClient.fromLocal().get<VolumeView[]>('/volumes');
      emit(o, volumes, () =>
        volumes.length === 0
          ? 'no volumes (create one with `volmirror volume create`)'
          : table(
              ['ID', 'NAME', 'SITE', 'SIZE', 'CHUNK', 'GROUP', 'ROLE'],
              volumes.map((v) => [
                v.id,
                v.name,
                v.site,
                formatBytes(v.sizeBytes),
                formatBytes(v.chunkSizeBytes),
                v.groupId ?? '-',
                v.role ?? '-',
              ]),
            ),
      );
    }),
  );

  leaf(volume, 'show <volume>', 'show a volume (id or name) and where its chunks live').action(
    run(async (ref: string, o: JsonFlag) => {
      const api = ApiClient.fromLocal();
      const v = await api.get<VolumeView>(`/volumes/${seg(await api.volumeId(ref))}`);
      emit(o, v, () => describeVolume(v));
    }),
  );

  leaf(volume, 'delete <volume>', 'delete a volume and its chunks (refused while it is in a pair)').action(
    run(async (ref: string, o: JsonFlag) => {
      const api = ApiClient.fromLocal();
      const id = await api.volumeId(ref);
      await api.delete(`/volumes/${seg(id)}`);
      emit(o, { id, deleted: true }, () => `deleted volume ${id}`);
    }),
  );

  leaf(
    volume,
    'write <volume>',
    "write a file into a volume through a gateway (takes the group's write lease)",
  )
    .requiredOption('--file <file>', 'file to write; `-` reads stdin')
    .option('--offset <offset>', 'byte offset in the volume (bytes or a unit, e.g. 1MiB)', sizeArg, 0)
    .action(
      run(async (ref: string, o: JsonFlag & { file: string; offset: number }) => {
        const [{ resolveVolume, withDeps }, { writeFileToVolume }] = await dataPlane();
        const r = await withDeps(async (deps) =>
          writeFileToVolume(deps, await resolveVolume(deps, ref), o.file, o.offset, o),
        );
        emit(
          o,
          r,
          () =>
            `wrote ${formatBytes(r.bytes)} to ${r.volumeId} at offset ${r.offset} (${r.chunkWrites} chunk writes${r.groupId ? `, group ${r.groupId}` : ''})`,
        );
      }),
    );

  leaf(
    volume,
    'read <volume>',
    'read a volume into a file: the live primary, or any volume at a recovery point',
  )
    .requiredOption('--out <file>', 'file to write; `-` writes the bytes to stdout')
    .option('--recovery-point <rp>', 'read the image of this committed recovery point')
    .option('--offset <offset>', 'first byte to read (bytes or a unit)', sizeArg)
    .option('--length <length>', 'bytes to read (default: to the end of the volume)', sizeArg)
    .action(
      run(
        async (
          ref: string,
          o: JsonFlag & { out: string; recoveryPoint?: string; offset?: number; length?: number },
        ) => {
          if (o.out === '-' && o.json) {
            throw new CliError('--out - sends the volume bytes to stdout, so it cannot be used with --json');
          }
          const [{ resolveVolume, withDeps }, { readVolumeToFile }] = await dataPlane();
          const r = await withDeps(async (deps) =>
            readVolumeToFile(
              deps,
              await resolveVolume(deps, ref),
              o.out,
              { recoveryPointId: o.recoveryPoint, offset: o.offset, length: o.length },
              o,
            ),
          );
          if (o.out === '-') return;
          emit(
            o,
            r,
            () =>
              `read ${formatBytes(r.bytes)} of ${r.volumeId}${r.recoveryPointId ? ` at ${r.recoveryPointId}` : ''} into ${r.out} (sha256 ${r.sha256})`,
          );
        },
      ),
    );

  leaf(volume, 'checksum <volume>', 'SHA-256 of the whole volume content (zeros where sparse)')
    .option('--recovery-point <rp>', 'checksum the image of this committed recovery point')
    .action(
      run(async (ref: string, o: JsonFlag & { recoveryPoint?: string }) => {
        const [{ resolveVolume, withDeps }, { hashVolume }] = await dataPlane();
        const r = await withDeps(async (deps) =>
          hashVolume(deps, await resolveVolume(deps, ref), o.recoveryPoint, o),
        );
        emit(o, r, () => `${r.sha256}  ${r.volumeId}${r.recoveryPointId ? `@${r.recoveryPointId}` : ''}`);
      }),
    );
}
