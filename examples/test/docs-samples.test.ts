import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// Every TypeScript sample in docs/ is a file under examples/ that CI type-checks. A sample is
// included by copying the file into a code block right under a marker comment:
//
//   <!-- examples/src/emit.ts -->
//   ```ts
//   …the file's content…
//   ```
//
// This test fails when a block and its file differ (fix: `pnpm --filter bus-examples docs:sync`),
// when a marker names no file, and when a TypeScript block in docs/ has no marker.

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

// Pages whose code blocks are not all examples yet; every other page under docs/ is checked fully.
const UNMARKED_ALLOWED = new Set(['docs/postgres.md', 'docs/mysql.md']);

const TS_FENCE = /^```(ts|typescript|tsx|js|javascript|mjs)\s*$/;

interface Block {
  page: string;
  line: number;
  marker: string | undefined;
  code: string;
}

function pages(): string[] {
  const docs = readdirSync(join(root, 'docs'), { recursive: true })
    .map(String)
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name.replaceAll('\\', '/')}`);
  return ['README.md', ...docs].sort();
}

function blocksOf(page: string): Block[] {
  const lines = readFileSync(join(root, page), 'utf8').split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const fence = /^```([\w-]*)\s*$/.exec(lines[i]!);
    if (fence === null) continue;
    const start = i;
    let end = i + 1;
    while (end < lines.length && lines[end] !== '```') end++;
    const marker = /^<!-- (examples\/[\w./-]+) -->$/.exec(lines[start - 1] ?? '')?.[1];
    if (marker !== undefined || TS_FENCE.test(lines[start]!)) {
      blocks.push({ page, line: start + 1, marker, code: lines.slice(start + 1, end).join('\n') });
    }
    i = end;
  }
  return blocks;
}

function dangling(page: string): string[] {
  const lines = readFileSync(join(root, page), 'utf8').split('\n');
  return lines
    .map((line, i) => ({ line, next: lines[i + 1] ?? '', n: i + 1 }))
    .filter(({ line, next }) => /^<!-- examples\//.test(line) && !next.startsWith('```'))
    .map(({ line, n }) => `${page}:${n} ${line}`);
}

const all = pages().flatMap(blocksOf);
const marked = all.filter((b) => b.marker !== undefined);

describe('docs code samples are the files under examples/', () => {
  it('finds the samples', () => {
    expect(marked.length).toBeGreaterThan(10);
  });

  it('every marker is directly followed by a code block', () => {
    expect(pages().flatMap(dangling)).toEqual([]);
  });

  it.each(marked.map((b) => [`${b.page}:${b.line} ${b.marker}`, b] as const))('%s', (_name, block) => {
    const file = join(root, block.marker!);
    expect(existsSync(file), `${block.marker} does not exist`).toBe(true);
    const content = readFileSync(file, 'utf8').replace(/\n+$/, '');
    expect(
      block.code,
      `run \`pnpm --filter bus-examples docs:sync\` to copy ${block.marker} into ${block.page}`,
    ).toBe(content);
  });

  it('every TypeScript block under docs/ is an example file', () => {
    const unmarked = all
      .filter((b) => b.marker === undefined && b.page.startsWith('docs/') && !UNMARKED_ALLOWED.has(b.page))
      .map((b) => `${b.page}:${b.line}`);
    expect(
      unmarked,
      'put the code in a file under examples/ and a <!-- examples/… --> marker above it',
    ).toEqual([]);
  });
});
