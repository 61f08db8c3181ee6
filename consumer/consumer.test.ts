import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_MYSQL_URL, TEST_POSTGRES_URL } from '../test-support/databases.js';

// The consumer test (issue 9): the packages as a user gets them from npm. Every package is packed
// with `pnpm pack`, the tarballs are installed with npm into scratch apps in a fresh temporary
// folder (no workspace links, no overrides), and each app compiles with plain tsc and runs against
// real PostgreSQL and MariaDB. The apps' sources are in fixtures/; their package.json files are
// written here, with exact versions. Set CONSUMER_KEEP=1 to keep the scratch folder for a look.

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..');
const fixtures = join(here, 'fixtures');

const PACKAGES = ['bus-core', 'bus-postgres', 'bus-mysql', 'bus-testing', 'bus-dashboard'] as const;
type PackageName = (typeof PACKAGES)[number];

// Exact versions for everything the scratch apps install (vitest's vite is left to npm: the
// current major is the point of that app).
const VERSIONS = {
  typescript: '5.9.3',
  '@types/node': '20.19.43',
  'drizzle-orm': '0.45.2',
  'drizzle-kit': '0.31.8',
  postgres: '3.4.9',
  mysql2: '3.24.6',
  vitest: '4.1.12',
  esbuild: '0.28.2',
  publint: '0.3.25',
  '@arethetypeswrong/cli': '0.18.5',
};

const PG_URL = TEST_POSTGRES_URL;
const MYSQL_URL = TEST_MYSQL_URL;

type Kind = 'postgres' | 'mysql';
const KINDS: Kind[] = ['postgres', 'mysql'];
const LABEL: Record<Kind, string> = { postgres: 'PostgreSQL', mysql: 'MariaDB/MySQL' };

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** The environment of a user's shell: nothing of pnpm's script environment or of this vitest run. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const keepNpmConfig = new Set(['registry', 'userconfig', 'globalconfig', 'cache', 'cafile', 'strict_ssl']);
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    const lower = key.toLowerCase();
    if (lower.startsWith('npm_config_') && !keepNpmConfig.has(lower.slice('npm_config_'.length))) continue;
    if (lower.startsWith('npm_package_') || lower.startsWith('npm_lifecycle_') || lower === 'npm_command')
      continue;
    // NODE_PATH: pnpm's bin shims point it into the workspace's node_modules/.pnpm, where
    // require() would find packages (vitest!) the scratch app does not have.
    if (key === 'NODE_PATH' || key === 'NODE_OPTIONS') continue;
    if (key.startsWith('VITEST') || key === 'TEST' || key === 'NODE_ENV') continue;
    if (key.startsWith('PNPM_') || key === 'INIT_CWD') continue;
    env[key] = value;
  }
  return { ...env, FORCE_COLOR: '0', NO_COLOR: '1', ...extra };
}

/** Runs a command to its end (or kills it at `timeoutMs`); never rejects. */
function sh(
  command: string,
  args: string[],
  options: { cwd: string; env?: Record<string, string>; timeoutMs?: number },
): Promise<Run> {
  const started = Date.now();
  return new Promise((done) => {
    const child = spawn(command, args, { cwd: options.cwd, env: cleanEnv(options.env), stdio: 'pipe' });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const timer = setTimeout(() => {
      stderr += `\n[consumer test] killed after ${options.timeoutMs} ms`;
      child.kill('SIGKILL');
    }, options.timeoutMs ?? 120_000);
    child.on('error', (error) => {
      stderr += `\n[consumer test] ${command} could not start: ${error.message}`;
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      done({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/** The command and its output, for assertion messages. */
function show(what: string, run: Run): string {
  const out = `${run.stdout}\n${run.stderr}`.trim();
  const text = out.length > 6_000 ? `${out.slice(0, 3_000)}\n…\n${out.slice(-3_000)}` : out;
  return `${what} exited ${run.code ?? run.signal} after ${run.ms} ms:\n${text}`;
}

function expectOk(what: string, run: Run): void {
  expect(run.code, show(what, run)).toBe(0);
}

/** The `RESULT {json}` line a fixture script prints last. */
function resultOf(what: string, run: Run): any {
  const line = run.stdout
    .split('\n')
    .reverse()
    .find((l) => l.startsWith('RESULT '));
  if (line === undefined) throw new Error(`no RESULT line; ${show(what, run)}`);
  return JSON.parse(line.slice('RESULT '.length));
}

function writeJson(file: string, value: unknown): void {
  writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
}

// ---------------------------------------------------------------------------------------------
// Scratch folder, tarballs, apps

let scratch = '';
let tarballs: Record<PackageName, string>;
const apps = { esm: '', cjs: '', vitest: '', tools: '' };
const databases: Record<Kind, string[]> = { postgres: [], mysql: [] };
const installs: Record<string, Run> = {};
const runId = `${process.pid.toString(36)}${randomBytes(3).toString('hex')}`;
let dbCounter = 0;

function busDeps(names: readonly PackageName[]): Record<string, string> {
  return Object.fromEntries(names.map((name) => [name, `file:${tarballs[name]}`]));
}

function pinned(...names: (keyof typeof VERSIONS)[]): Record<string, string> {
  return Object.fromEntries(names.map((name) => [name, VERSIONS[name]]));
}

function makeApp(name: 'esm' | 'cjs'): string {
  const dir = join(scratch, `app-${name}`);
  mkdirSync(dir, { recursive: true });
  cpSync(join(fixtures, 'app'), dir, { recursive: true });
  writeJson(join(dir, 'package.json'), {
    name: `bus-consumer-${name}`,
    version: '0.0.0',
    private: true,
    ...(name === 'esm' ? { type: 'module' } : { type: 'commonjs' }),
    dependencies: {
      ...busDeps(PACKAGES),
      ...pinned('drizzle-orm', 'postgres', 'mysql2'),
    },
    devDependencies: pinned('typescript', '@types/node', 'drizzle-kit'),
  });
  const module =
    name === 'esm'
      ? { module: 'NodeNext', moduleResolution: 'NodeNext' }
      : { module: 'commonjs', moduleResolution: 'node10' };
  writeJson(join(dir, 'tsconfig.json'), {
    compilerOptions: {
      target: 'ES2022',
      ...module,
      lib: ['ES2022'],
      types: ['node'],
      strict: true,
      esModuleInterop: true,
      // What a Drizzle user has: drizzle-orm's .d.ts do not compile without it (gel, sqlite…).
      // Our own .d.ts are checked without it below.
      skipLibCheck: true,
      rootDir: 'src',
      outDir: 'dist',
    },
    include: ['src'],
  });
  return dir;
}

function checkDist(): void {
  const missing: string[] = [];
  for (const name of PACKAGES) {
    const pkg = JSON.parse(readFileSync(join(repo, 'packages', name, 'package.json'), 'utf8'));
    for (const entry of Object.values(pkg.exports) as Record<string, Record<string, string>>[]) {
      for (const condition of ['import', 'require'] as const) {
        for (const file of Object.values(entry[condition] ?? {})) {
          if (!existsSync(join(repo, 'packages', name, file))) missing.push(`packages/${name}/${file}`);
        }
      }
    }
  }
  if (missing.length > 0) {
    throw new Error(
      `the consumer test packs the built packages, but dist is missing (run \`pnpm build\` first): ${missing.join(', ')}`,
    );
  }
}

async function pack(): Promise<void> {
  const dest = join(scratch, 'tarballs');
  mkdirSync(dest);
  const runs = await Promise.all(
    PACKAGES.map((name) =>
      sh('pnpm', ['pack', '--pack-destination', dest], {
        cwd: join(repo, 'packages', name),
        timeoutMs: 60_000,
      }),
    ),
  );
  runs.forEach((run, i) => {
    if (run.code !== 0) throw new Error(show(`pnpm pack ${PACKAGES[i]}`, run));
  });
  const files = readdirSync(dest);
  tarballs = Object.fromEntries(
    PACKAGES.map((name) => {
      const file = files.find((f) => new RegExp(`^${name}-\\d.*\\.tgz$`).test(f));
      if (file === undefined) throw new Error(`pnpm pack wrote no tarball for ${name} in ${dest}: ${files}`);
      return [name, join(dest, file)];
    }),
  ) as Record<PackageName, string>;
}

async function npmInstall(dir: string): Promise<void> {
  const run = await sh('npm', ['install', '--no-audit', '--no-fund'], { cwd: dir, timeoutMs: 300_000 });
  installs[dir] = run;
  if (run.code !== 0) throw new Error(show(`npm install in ${dir}`, run));
}

beforeAll(async () => {
  checkDist();
  scratch = mkdtempSync(join(tmpdir(), 'bus-consumer-'));
  await pack();

  apps.esm = makeApp('esm');
  apps.cjs = makeApp('cjs');

  apps.vitest = join(scratch, 'app-vitest');
  cpSync(join(fixtures, 'vitest-app'), apps.vitest, { recursive: true });
  writeJson(join(apps.vitest, 'package.json'), {
    name: 'bus-consumer-vitest',
    version: '0.0.0',
    private: true,
    type: 'module',
    scripts: { test: 'vitest run' },
    dependencies: busDeps(['bus-core', 'bus-testing']),
    devDependencies: pinned('vitest', 'esbuild'),
  });

  apps.tools = join(scratch, 'tools');
  mkdirSync(apps.tools);
  writeJson(join(apps.tools, 'package.json'), {
    name: 'bus-consumer-tools',
    version: '0.0.0',
    private: true,
    devDependencies: pinned('publint', '@arethetypeswrong/cli'),
  });

  await Promise.all([apps.esm, apps.cjs, apps.vitest, apps.tools].map(npmInstall));
});

afterAll(async () => {
  const admin = apps.esm === '' ? undefined : join(apps.esm, 'admin.cjs');
  for (const kind of KINDS) {
    if (admin === undefined || databases[kind].length === 0) continue;
    const run = await sh('node', [admin, 'drop', kind, ...databases[kind]], {
      cwd: apps.esm,
      env: adminEnv(),
      timeoutMs: 60_000,
    });
    if (run.code !== 0) console.warn(show(`dropping the consumer test's ${kind} databases`, run));
  }
  if (scratch !== '' && process.env.CONSUMER_KEEP !== '1') rmSync(scratch, { recursive: true, force: true });
  else if (scratch !== '') console.info(`consumer test: scratch folder kept at ${scratch}`);
}, 120_000);

// ---------------------------------------------------------------------------------------------
// Databases: a fresh database per check, dropped in afterAll

function adminEnv(): Record<string, string> {
  return { CONSUMER_PG_URL: PG_URL, CONSUMER_MYSQL_URL: MYSQL_URL };
}

function urlOf(kind: Kind, database: string): string {
  const url = new URL(kind === 'postgres' ? PG_URL : MYSQL_URL);
  url.pathname = `/${database}`;
  return url.toString();
}

/** Creates a fresh, empty database and returns its URL; fails the test if the server is unreachable. */
async function freshDatabase(kind: Kind): Promise<string> {
  const name = `bus_consumer_${runId}_${++dbCounter}`;
  databases[kind].push(name);
  const run = await sh('node', [join(apps.esm, 'admin.cjs'), 'create', kind, name], {
    cwd: apps.esm,
    env: adminEnv(),
    timeoutMs: 60_000,
  });
  expect(
    run.code,
    show(
      `creating ${LABEL[kind]} database ${name} (server ${kind === 'postgres' ? PG_URL : MYSQL_URL})`,
      run,
    ),
  ).toBe(0);
  return urlOf(kind, name);
}

function node(app: string, script: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  return sh('node', [join('dist', script), ...args], { cwd: app, env, timeoutMs: 90_000 });
}

const drizzleKit = (app: string) => join(app, 'node_modules', '.bin', 'drizzle-kit');

/** `drizzle-kit generate` then `drizzle-kit migrate` in `dir` against `url`; both must exit 0. */
async function kitGenerateAndMigrate(dir: string, url: string, config?: string): Promise<void> {
  const configArgs = config === undefined ? [] : ['--config', config];
  const env = { DATABASE_URL: url };
  const generate = await sh(drizzleKit(apps.esm), ['generate', ...configArgs], { cwd: dir, env });
  expectOk(`drizzle-kit generate (in ${dir})`, generate);
  const migrate = await sh(drizzleKit(apps.esm), ['migrate', ...configArgs], { cwd: dir, env });
  expectOk(`drizzle-kit migrate (in ${dir}, ${url})`, migrate);
  // drizzle-kit has printed errors and still exited 0 in some versions: look for them too.
  expect(`${migrate.stdout}\n${migrate.stderr}`, show('drizzle-kit migrate', migrate)).not.toMatch(
    /\berror\b/i,
  );
}

/** Runs fixtures/app/src/run-handlers.ts and checks that every handler ran once and the bus shut down. */
async function runHandlers(app: string, kind: Kind, url: string): Promise<any> {
  const run = await node(app, 'run-handlers.js', [kind], { CONSUMER_DB_URL: url });
  const result = resultOf(`run-handlers ${kind}`, run);
  expect(result.crashed, show(`run-handlers ${kind}`, run)).toBeUndefined();
  expectOk(`run-handlers ${kind}`, run);
  expect(result, show(`run-handlers ${kind}`, run)).toMatchObject({
    published: 3,
    ran: { decorated: [1], 'decorated-factory': [1], registered: [1] },
    appliedAgain: [],
    terminated: true,
    liveRowsLeft: 0,
    limits: [['consumer', { concurrency: 2, keyConcurrency: 1 }]],
  });
  return result;
}

// ---------------------------------------------------------------------------------------------

describe('the packages as a user installs them (pnpm pack + npm install)', () => {
  it('packs every package with no workspace: ranges and installs the packed bus-core everywhere', () => {
    for (const name of PACKAGES) {
      const manifest = readFileSync(join(apps.esm, 'node_modules', name, 'package.json'), 'utf8');
      expect(manifest, `${name}'s packed package.json`).not.toContain('workspace:');
    }
    for (const app of [apps.esm, apps.cjs, apps.vitest]) {
      const lock = JSON.parse(readFileSync(join(app, 'package-lock.json'), 'utf8'));
      const copies = Object.entries(lock.packages as Record<string, { resolved?: string }>).filter(
        ([path]) => path === 'node_modules/bus-core' || path.endsWith('/node_modules/bus-core'),
      );
      // One copy, the tarball: never a bus-core of the same name from the registry.
      expect(
        copies.map(([path, entry]) => [path, entry.resolved]),
        `${app}/package-lock.json`,
      ).toEqual([['node_modules/bus-core', `file:${relativeTo(app, tarballs['bus-core'])}`]]);
    }
  });

  describe.each([
    ['ESM (NodeNext)', 'esm'],
    ['CommonJS (node10)', 'cjs'],
  ] as const)('%s app', (_label, which) => {
    const app = () => apps[which];

    it('compiles with plain tsc 5.9.3 (root entries, /schema subpaths, bus-testing/conformance types)', async () => {
      // One tsc run (it is the slowest step): the app's tsconfig has skipLibCheck as Drizzle users
      // do, but it runs without it so the bus packages' own .d.ts are checked too. Errors in other
      // packages' .d.ts (drizzle-orm's gel/sqlite typings) are theirs; every other error fails.
      const run = await sh(
        join(app(), 'node_modules', '.bin', 'tsc'),
        ['-p', '.', '--pretty', 'false', '--skipLibCheck', 'false'],
        { cwd: app() },
      );
      const errors = `${run.stdout}\n${run.stderr}`.split('\n').filter((line) => /error TS\d+/.test(line));
      const ours = errors.filter(
        (line) => !/^node_modules\//.test(line) || /^node_modules\/bus-[\w-]+\//.test(line),
      );
      expect(ours, `tsc -p ${app()}: errors in the app or in the bus packages' .d.ts`).toEqual([]);
      expect(run.code === 0 || errors.length > 0, show(`tsc -p ${app()}`, run)).toBe(true);
      expect(existsSync(join(app(), 'dist', 'run-handlers.js')), 'tsc emitted dist/run-handlers.js').toBe(
        true,
      );
    });

    it('loads every entry point at run time', async () => {
      const run = await node(app(), 'imports.js', []);
      expectOk('node dist/imports.js', run);
      const { checks } = resultOf('imports', run);
      expect(checks).toEqual({
        createBus: 'function',
        busEventHandler: 'function',
        isBusError: 'function',
        driverIsRowId: 'function',
        driverResolveTableNames: 'function',
        postgresStore: 'function',
        postgresMigrate: 'function',
        postgresSchemaBusEvents: 'object',
        mysqlStore: 'function',
        mysqlMigrate: 'function',
        mysqlSchemaBusEvents: 'object',
      });
    });

    it.each(
      KINDS,
    )('runs decorated and bus.register handlers on %s (migrate, publish, workers, shutdown)', async (kind) => {
      const url = await freshDatabase(kind);
      const result = await runHandlers(app(), kind, url);
      expect(result.applied.length).toBeGreaterThan(0);
    });

    it.each(KINDS)('mounts bus-dashboard in a node:http app on %s and runs the bus CLI', async (kind) => {
      const url = await freshDatabase(kind);
      const run = await node(app(), 'dashboard.js', [kind], { CONSUMER_DB_URL: url });
      const result = resultOf(`dashboard ${kind}`, run);
      expect(result.crashed, show(`dashboard ${kind}`, run)).toBeUndefined();
      expectOk(`dashboard ${kind}`, run);
      expect(result).toEqual({
        refused: 401,
        status: 200,
        queuesScreen: true,
        queues: [],
        help: 'Usage: bus [options] [command]',
      });
    });

    it('imports bus-testing (root entry) without vitest installed, and runs the memory store', async () => {
      expect(
        existsSync(join(app(), 'node_modules', 'vitest')),
        'vitest must not be installed in this app',
      ).toBe(false);
      const run = await node(app(), 'testing-no-vitest.js', []);
      const result = resultOf('testing-no-vitest', run);
      expect(result.crashed, show('testing-no-vitest', run)).toBeUndefined();
      expectOk('testing-no-vitest', run);
      expect(result).toEqual({ handled: [7], states: ['completed'] });
    });
  });

  it.each(
    KINDS,
  )('bus.init() on %s without the bus tables rejects with BusError SCHEMA_MISSING naming the migration', async (kind) => {
    const url = await freshDatabase(kind);
    const run = await node(apps.esm, 'init-missing.js', [kind], { CONSUMER_DB_URL: url });
    const result = resultOf(`init-missing ${kind}`, run);
    expect(result.crashed, show(`init-missing ${kind}`, run)).toBeUndefined();
    expect(result.resolved, 'bus.init() resolved on a database without bus_events').toBe(false);
    expect(result.error).toMatchObject({ isBusError: true, code: 'SCHEMA_MISSING' });
    expect(result.error.message).toMatch(/migrate/);
  });

  it.each(
    KINDS,
  )('migrate() on %s tables that drizzle-kit created adopts them or throws a BusError', async (kind) => {
    const url = await freshDatabase(kind);
    const dir = join(apps.esm, `kit-package-schema-${kind}`);
    mkdirSync(dir);
    writeFileSync(
      join(dir, 'schema.ts'),
      `export { busEvents, busEventsArchive, busEventsPauses, busEventsWorkers } from '${kind === 'postgres' ? 'bus-postgres' : 'bus-mysql'}/schema';\n`,
    );
    writeFileSync(
      join(dir, 'drizzle.config.ts'),
      [
        "import { defineConfig } from 'drizzle-kit';",
        '',
        'export default defineConfig({',
        `  dialect: '${kind === 'postgres' ? 'postgresql' : 'mysql'}',`,
        "  schema: './schema.ts',",
        "  out: './drizzle',",
        '  dbCredentials: { url: process.env.DATABASE_URL! },',
        '});',
        '',
      ].join('\n'),
    );
    await kitGenerateAndMigrate(dir, url);
    const run = await node(apps.esm, 'migrate-after-kit.js', [kind], { CONSUMER_DB_URL: url });
    const result = resultOf(`migrate-after-kit ${kind}`, run);
    expect(result.crashed, show(`migrate-after-kit ${kind}`, run)).toBeUndefined();
    if (!result.resolved) {
      expect(result.error, `migrate() threw a non-BusError: ${JSON.stringify(result.error)}`).toMatchObject({
        isBusError: true,
      });
    } else {
      // It adopted drizzle-kit's tables: the bus must then run on them.
      const after = await runHandlers(apps.esm, kind, url);
      expect(after.applied, 'migrate() applied nothing more on the adopted tables').toEqual([]);
    }
  });

  it.each([
    ['docs/postgres.md', 'postgres'],
    ['docs/mysql.md', 'mysql'],
  ] as const)('drizzle-kit generate + migrate the schema sample of %s', async (page, kind) => {
    const sample = docsSchemaSample(page, kind);
    const dir = join(apps.esm, `kit-docs-${kind}`);
    for (const file of [sample.config, sample.schema]) {
      mkdirSync(dirname(join(dir, file)), { recursive: true });
      cpSync(join(repo, 'examples', file), join(dir, file));
    }
    const url = await freshDatabase(kind);
    await kitGenerateAndMigrate(dir, url, sample.config);
  });

  it('vitest 4.1 on the current vite runs a decorated handler test and the conformance suite from the tarball', async () => {
    const vite = JSON.parse(readFileSync(join(apps.vitest, 'node_modules', 'vite', 'package.json'), 'utf8'));
    const vitest = JSON.parse(
      readFileSync(join(apps.vitest, 'node_modules', 'vitest', 'package.json'), 'utf8'),
    );
    expect(vitest.version).toBe(VERSIONS.vitest);
    expect(Number(vite.version.split('.')[0]), `vite ${vite.version}`).toBeGreaterThanOrEqual(8);
    const run = await sh(join(apps.vitest, 'node_modules', '.bin', 'vitest'), ['run'], { cwd: apps.vitest });
    expectOk(`vitest run (vitest ${vitest.version}, vite ${vite.version})`, run);
    expect(run.stdout, show('vitest run', run)).toMatch(/Test Files\s+2 passed \(2\)/);
  });

  it.each(PACKAGES)('publint finds no error in %s', async (name) => {
    const run = await sh(join(apps.tools, 'node_modules', '.bin', 'publint'), ['run', tarballs[name]], {
      cwd: apps.tools,
    });
    expectOk(`publint run ${tarballs[name]}`, run);
  });

  it.each(PACKAGES)('attw --pack finds no problem in %s', async (name) => {
    const run = await sh(
      join(apps.tools, 'node_modules', '.bin', 'attw'),
      ['--pack', join(repo, 'packages', name), '--no-color', '--no-emoji'],
      { cwd: apps.tools },
    );
    expectOk(`attw --pack packages/${name}`, run);
  });
});

function relativeTo(from: string, to: string): string {
  const a = resolve(from).split('/');
  const b = resolve(to).split('/');
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  return [...a.slice(i).map(() => '..'), ...b.slice(i)].join('/');
}

/**
 * The drizzle-kit config and schema a docs page shows, as files under examples/ (a block under a
 * `<!-- examples/… -->` marker is a copy of that file; see examples/test/docs-samples.test.ts).
 * The config is the page's marked drizzle config (or the examples' config of that dialect when the
 * page marks none) and the schema is the file that config names; every marked block of the page
 * that defines tables must be that schema, so the test runs what the page shows.
 */
function docsSchemaSample(page: string, kind: Kind): { config: string; schema: string } {
  const lines = readFileSync(join(repo, page), 'utf8').split('\n');
  const marked = lines
    .map((line) => /^<!-- examples\/([\w./-]+) -->$/.exec(line)?.[1])
    .filter((file): file is string => file !== undefined);
  const config =
    marked.find((file) => /(^|\/)drizzle[\w-]*\.config\.ts$/.test(file)) ??
    (kind === 'postgres' ? 'drizzle.config.ts' : 'drizzle-mysql.config.ts');
  const configText = readFileSync(join(repo, 'examples', config), 'utf8');
  const schemaPath = /schema:\s*'([^']+)'/.exec(configText)?.[1];
  if (schemaPath === undefined) throw new Error(`examples/${config} names no schema`);
  const schema = join(dirname(config), schemaPath).replace(/^\.\//, '');
  const tableMaker =
    kind === 'postgres'
      ? /\bpgTable\(|from 'bus-postgres\/schema'/
      : /\bmysqlTable\(|from 'bus-mysql\/schema'/;
  const tableFiles = marked.filter(
    (file) => file !== config && tableMaker.test(readFileSync(join(repo, 'examples', file), 'utf8')),
  );
  for (const file of tableFiles) {
    expect(
      file,
      `${page} shows tables from examples/${file}, but examples/${config} migrates ${schema}`,
    ).toBe(schema);
  }
  return { config, schema };
}
