// Builds the `volmirror` CLI into one ES module, dist/volmirror.mjs, with every dependency
// bundled: no TypeScript loader at run time, no node_modules to resolve at startup, and a
// packed tarball that installs without fetching anything. Run by `npm run build`, hence by
// `npm ci` and `npm pack` (the `prepare` script).
//
// The bundle must sit one directory below the package root: local/emulator.ts derives the
// package root (package.json, .emulator-venv/, .volmirror/) from its own module URL, which in
// the bundle is dist/volmirror.mjs.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = join(root, 'dist');

const { outputFiles } = await build({
  absWorkingDir: root,
  entryPoints: { volmirror: 'cli/main.ts' },
  outdir,
  outExtension: { '.js': '.mjs' },
  bundle: true,
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
// Each file is replaced in one rename: a CLI started while a build runs (tests run files in
// parallel, and `npm pack` builds) loads either the old bundle or the new one, never half.
mkdirSync(outdir, { recursive: true });
for (const file of outputFiles) {
  const tmp = `${file.path}.${process.pid}.tmp`;
  writeFileSync(tmp, file.contents);
  renameSync(tmp, file.path);
}
