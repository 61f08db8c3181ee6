// Bundles the browser script (uPlot and the page's own code) and the styles at build time into
// src/assets.generated.json, so the dashboard serves them itself: no CDN, the page works offline.
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(root, 'package.json'));

const result = await build({
  entryPoints: [join(root, 'src/client/main.ts')],
  bundle: true,
  minify: true,
  format: 'iife',
  target: 'es2020',
  write: false,
  legalComments: 'eof',
});
const js = result.outputFiles[0].text;
const css =
  readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8') +
  '\n' +
  readFileSync(join(root, 'src/client/style.css'), 'utf8');
const hash = (text) => createHash('sha256').update(text).digest('hex').slice(0, 12);

// JSON rather than TypeScript, so that neither the linter nor the formatter walks a minified bundle.
const out = `${JSON.stringify({ js, css, hashes: { js: hash(js), css: hash(css) } }, null, 2)}\n`;
const target = join(root, 'src/assets.generated.json');
let previous = '';
try {
  previous = readFileSync(target, 'utf8');
} catch {}
if (previous !== out) writeFileSync(target, out);
