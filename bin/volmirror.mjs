#!/usr/bin/env node
// The package.json "bin" entry: the CLI is TypeScript, run through tsx's loader so that
// `npx volmirror` needs no build step.
import { register } from 'tsx/esm/api';

// The project targets Node 20 (see DESIGN.md); the SDK's multi-line notice about a future
// Node 22 requirement would otherwise land on stderr, where scripts expect one-line reasons.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

register();
await import('../cli/main.ts');
