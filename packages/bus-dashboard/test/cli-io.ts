import { PassThrough } from 'node:stream';
import { runCli } from '../src/cli-program.js';

/** Runs the CLI in this process with captured output and no terminal. */
export async function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (chunk) => {
    out += chunk;
  });
  stderr.on('data', (chunk) => {
    err += chunk;
  });
  const stdin = new PassThrough();
  const code = await runCli(args, { stdout, stderr, stdin, env });
  return { code, stdout: out, stderr: err };
}
