/**
 * Writes the API's OpenAPI 3.1 document, made from the router's schemas, to docs/openapi.json.
 *   npm run openapi          writes it
 *   npm run openapi:check    fails if the checked-in file is not what the schemas make
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { openApiDocument } from '../shared/api/openapi';
import { ROUTES } from '../shared/api/router';

const path = fileURLToPath(new URL('../docs/openapi.json', import.meta.url));

/** The file's exact text: what GET /openapi.json serves, pretty-printed. */
export const openApiText = (): string => `${JSON.stringify(openApiDocument(ROUTES), null, 2)}\n`;

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const want = openApiText();
  if (process.argv.includes('--check')) {
    let have = '';
    try {
      have = readFileSync(path, 'utf8');
    } catch {
      // missing: reported as out of date below
    }
    if (have !== want) {
      console.error(
        'docs/openapi.json is not what the API schemas make: run `npm run openapi` and commit it',
      );
      process.exit(1);
    }
    console.log('docs/openapi.json is current');
  } else {
    writeFileSync(path, want);
    console.log(`wrote docs/openapi.json (${Object.keys(openApiDocument(ROUTES).paths ?? {}).length} paths)`);
  }
}
