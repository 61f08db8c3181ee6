import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

// Users import `bus-testing` in tests run by jest, node:test or mocha, and driver authors run the
// conformance suite under whichever runner they like: neither entry may load vitest (the suite
// takes the runner's functions as an argument). A resolve hook in a fresh node process records
// every module the built entry pulls in.

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
const run = promisify(execFile);

async function loaded(entry: string, format: 'import' | 'require'): Promise<string[]> {
  // Node 20 has no synchronous hooks: list what the entry asks for by watching the loader's
  // resolve step through a tiny ESM loader, and CommonJS through Module._resolveFilename.
  const script =
    format === 'import'
      ? `import { register } from 'node:module';
const seen = [];
const { port1, port2 } = new MessageChannel();
port1.on('message', (m) => seen.push(m));
port1.unref();
register('data:text/javascript,' + encodeURIComponent(\`
let port;
export function initialize(data) { port = data.port; }
export async function resolve(spec, ctx, next) { port.postMessage(spec); return next(spec, ctx); }
\`), import.meta.url, { data: { port: port2 }, transferList: [port2] });
await import(${JSON.stringify(entry)});
await new Promise((r) => setTimeout(r, 50));
console.log(JSON.stringify(seen));`
      : `const Module = require('node:module');
const seen = [];
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) { seen.push(request); return resolve.call(this, request, ...rest); };
require(${JSON.stringify(entry)});
console.log(JSON.stringify(seen));`;
  const args = format === 'import' ? ['--input-type=module', '-e', script] : ['-e', script];
  const { stdout } = await run(process.execPath, args, { cwd: pkg, timeout: 30_000 });
  return JSON.parse(stdout) as string[];
}

const entries = ['bus-testing', 'bus-testing/conformance'] as const;
const cases = entries.flatMap((entry) =>
  (['import', 'require'] as const).map((format) => [entry, format] as const),
);

it.each(cases)('%s does not load vitest (%s)', async (entry, format) => {
  const seen = await loaded(entry, format);
  // The hook works: the entry's own dependency is seen.
  expect(seen).toContain('bus-core');
  expect(seen.filter((s) => s.includes('vitest'))).toEqual([]);
});

it('the watch sees a module that imports vitest', async () => {
  // The same watch on a module that does import vitest, so the tests above can fail.
  expect(await loaded('./test/fixtures/imports-vitest.mjs', 'import')).toContain('vitest/config');
});
