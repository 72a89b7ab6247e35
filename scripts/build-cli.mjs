// Builds the `volmirror` CLI into ES modules under dist/ with every dependency bundled: no
// TypeScript loader at run time, no node_modules to resolve at startup, and a packed tarball
// that installs without fetching anything. Run by `npm run build`, hence by `npm ci` and
// `npm pack` (the `prepare` script).
//
// Code splitting: dist/volmirror.mjs holds commander and the command definitions; each
// command's action imports its implementation (AWS SDK, the local stack, the NBD server)
// from a chunk, so `volmirror --help` parses none of it. The build's metafile,
// dist/meta.json, records the import graph (test/unit/cli-lazy.test.ts checks it).
//
// Every file must sit directly in dist/, one directory below the package root:
// local/emulator.ts derives the package root (package.json, .emulator-venv/, .volmirror/)
// from its own module URL, which is whichever chunk of dist/ its code lands in.
import { mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = join(root, 'dist');

const { outputFiles, metafile } = await build({
  absWorkingDir: root,
  entryPoints: { volmirror: 'cli/main.ts' },
  outdir,
  outExtension: { '.js': '.mjs' },
  chunkNames: 'chunk-[hash]',
  bundle: true,
  splitting: true,
  metafile: true,
  platform: 'node',
  format: 'esm',
  // The oldest Node the package supports (engines in package.json).
  target: 'node20',
  minify: true,
  sourcemap: 'linked',
  legalComments: 'none',
  logLevel: 'warning',
  write: false,
  banner: {
    // Bundled CommonJS dependencies (the AWS SDK, commander) call require() for Node's own
    // modules, which an ES module does not have.
    js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
  },
});
// Each file is replaced in one rename, the entry last: a CLI started while a build runs
// (tests run files in parallel, and `npm pack` builds) loads either the old entry or the new
// one, and the new entry's chunks are already in place. Chunk names are content hashes, so a
// rebuild of the same sources rewrites the same files; chunks of an older build are removed
// so that the package carries only what its entry imports.
mkdirSync(outdir, { recursive: true });
const entry = join(outdir, 'volmirror.mjs');
const ordered = [...outputFiles].sort(
  (a, b) => Number(a.path.startsWith(entry)) - Number(b.path.startsWith(entry)),
);
for (const file of ordered) {
  const tmp = `${file.path}.${process.pid}.tmp`;
  writeFileSync(tmp, file.contents);
  renameSync(tmp, file.path);
}
const meta = join(outdir, 'meta.json');
writeFileSync(`${meta}.${process.pid}.tmp`, JSON.stringify(metafile));
renameSync(`${meta}.${process.pid}.tmp`, meta);
const current = new Set(outputFiles.map((f) => basename(f.path)));
for (const name of readdirSync(outdir)) {
  if (name.startsWith('chunk-') && !current.has(name)) rmSync(join(outdir, name), { force: true });
}
