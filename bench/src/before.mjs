// Builds bus-core, bus-postgres and bus-mysql as they were at a commit (before flow control, say)
// into a directory outside the work tree, for the bench's `bus-pg-before` / `bus-my-before`:
//
//   node bench/src/before.mjs [COMMIT] [DIR]     (defaults: d7534c1^, /tmp/bus-bench-before)
//   BENCH_BEFORE=DIR node bench/src/main.mjs --only bus-pg-none,bus-pg-before,… --slots 24
//
// The packages come from `git archive` (nothing in the repository changes); their node_modules
// are the work tree's links (same third-party versions), except that each driver's `bus-core`
// points at the old bus-core beside it. Each package is built with its own tsup config.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const commitArg = process.argv[2] ?? 'd7534c1^';
const dir = resolve(process.argv[3] ?? '/tmp/bus-bench-before');
if (dir === repoRoot || dir.startsWith(`${repoRoot}/`)) throw new Error(`${dir} is inside the work tree`);
const PACKAGES = ['bus-core', 'bus-postgres', 'bus-mysql'];

const git = (...args) => execFileSync('git', args, { cwd: repoRoot, encoding: 'utf8' }).trim();
const commit = git('rev-parse', '--verify', `${commitArg}^{commit}`);

rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
const archive = execFileSync(
  'git',
  ['archive', commit, 'tsconfig.base.json', 'package.json', ...PACKAGES.map((p) => `packages/${p}`)],
  { cwd: repoRoot, maxBuffer: 1 << 28 },
);
execFileSync('tar', ['-x', '-C', dir], { input: archive });
// The relative links of the packages' node_modules (../../../node_modules/.pnpm/…) resolve
// through this one to the work tree's store; `bus-core -> ../../bus-core` to the old bus-core.
symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'));
for (const name of PACKAGES) {
  const to = join(dir, 'packages', name, 'node_modules');
  cpSync(join(repoRoot, 'packages', name, 'node_modules'), to, {
    recursive: true,
    verbatimSymlinks: true,
    // Caches a test run left there (.vite, .vite-temp) are not dependencies.
    filter: (source) => !/[/\\]\.vite/.test(source),
  });
  rmSync(join(to, 'bus-testing'), { force: true });
}
const tsup = join(repoRoot, 'node_modules', '.bin', 'tsup');
for (const name of PACKAGES) {
  console.log(`building ${name} at ${commit.slice(0, 7)}`);
  execFileSync(tsup, [], { cwd: join(dir, 'packages', name), stdio: ['ignore', 'ignore', 'inherit'] });
}
const subject = git('log', '-1', '--format=%s', commit);
writeFileSync(
  join(dir, 'before.json'),
  `${JSON.stringify({ commit: commit.slice(0, 7), subject }, null, 2)}\n`,
);
console.log(`built ${dir} at ${commit.slice(0, 7)} (${subject.slice(0, 80)}); run with BENCH_BEFORE=${dir}`);
