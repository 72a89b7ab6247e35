#!/usr/bin/env node
// The package.json "bin" entry: the CLI built to JavaScript by scripts/build-cli.mjs
// (`npm run build`; `npm ci` and `npm pack` run it).
import module from 'node:module';

// Node 22.1+ keeps the bundle's compiled code on disk between runs (in the OS temp dir):
// about a third less start-up CPU. Node 20 has no such cache.
module.enableCompileCache?.();

// The project supports Node 20 (see engines); the SDK's multi-line notice about a future
// Node 22 requirement would otherwise land on stderr, where scripts expect one-line reasons.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

try {
  await import('../dist/volmirror.mjs');
} catch (e) {
  if (e?.code === 'ERR_MODULE_NOT_FOUND' && String(e.message).includes('dist/volmirror.mjs')) {
    process.stderr.write('volmirror: the CLI is not built; run: npm run build\n');
    process.exit(1);
  }
  throw e;
}
