// Copies every example file into the docs code block marked with its path, e.g.
//   <!-- examples/src/emit.ts -->
//   ```ts
//   …the content of examples/src/emit.ts…
//   ```
// Run `pnpm --filter bus-examples docs:sync` after changing an example;
// test/docs-samples.test.ts fails while a block and its file differ.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const BLOCK = /(<!-- (examples\/[\w./-]+) -->\n```[\w-]*\n)([\s\S]*?)(\n?```)/g;

const pages = [
  join(root, 'README.md'),
  ...readdirSync(join(root, 'docs'), { recursive: true })
    .map(String)
    .filter((name) => name.endsWith('.md'))
    .map((name) => join(root, 'docs', name)),
];

let changed = 0;
for (const page of pages) {
  const text = readFileSync(page, 'utf8');
  const synced = text.replace(BLOCK, (_match, head, path, _code, tail) => {
    const content = readFileSync(join(root, path), 'utf8').replace(/\n+$/, '');
    return `${head}${content}${tail.startsWith('\n') ? tail : `\n${tail}`}`;
  });
  if (synced !== text) {
    writeFileSync(page, synced);
    changed++;
    console.log(`updated ${page.slice(root.length + 1)}`);
  }
}
console.log(changed === 0 ? 'docs already match the examples' : `${changed} page(s) updated`);
