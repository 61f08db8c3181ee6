import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { transformSync } from 'esbuild';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';

// The decorator must register handlers whatever compiled the user's class: tsc runs class
// decorators before static fields are set (as the standard says), esbuild and tsx after. Each
// compiler's output runs in its own node process against bus-core's built package, as in an app.

const here = dirname(fileURLToPath(import.meta.url));
const fixture = join(here, 'fixtures', 'decorated-handler.ts');
const source = readFileSync(fixture, 'utf8');
// Inside the package, so that `bus-core` resolves to the workspace's built package.
const out = join(here, '.compiled');
const run = promisify(execFile);

const expected = {
  handlers: [
    ['compiled.plain', 2],
    ['compiled.factory', 0],
  ],
  classes: [true, true],
  factory: 'made',
};

async function runModule(name: string, code: string): Promise<unknown> {
  mkdirSync(out, { recursive: true });
  const file = join(out, name);
  writeFileSync(file, code);
  const { stdout } = await run(process.execPath, [file], { timeout: 30_000 });
  return JSON.parse(stdout);
}

afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('a decorated handler registers when compiled by', () => {
  it('tsc (TypeScript 5, target ES2022, standard decorators)', async () => {
    const { outputText } = ts.transpileModule(source, {
      compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext },
    });
    // The check that matters: tsc lowers the decorator itself and sets statics after it runs.
    expect(outputText).toContain('__esDecorate');
    await expect(runModule('tsc.mjs', outputText)).resolves.toEqual(expected);
  });

  it('tsc with useDefineForClassFields off', async () => {
    const { outputText } = ts.transpileModule(source, {
      compilerOptions: {
        target: ts.ScriptTarget.ES2022,
        module: ts.ModuleKind.ESNext,
        useDefineForClassFields: false,
      },
    });
    await expect(runModule('tsc-assign.mjs', outputText)).resolves.toEqual(expected);
  });

  it('esbuild (what tsup and tsx use), target es2022', async () => {
    const { code } = transformSync(source, { loader: 'ts', format: 'esm', target: 'es2022' });
    await expect(runModule('esbuild.mjs', code)).resolves.toEqual(expected);
  });

  it('tsx, run directly from the .ts file', async () => {
    mkdirSync(out, { recursive: true });
    const file = join(out, 'tsx.mts');
    writeFileSync(file, source);
    const { stdout } = await run(process.execPath, ['--import', 'tsx', file], {
      timeout: 30_000,
      cwd: join(here, '..'),
    });
    expect(JSON.parse(stdout)).toEqual(expected);
  });
});
