#!/usr/bin/env node
// The `bus` binary: see and operate the queues from a terminal (docs/cli.md).
import { runCli } from './cli-program.js';

process.exitCode = await runCli(process.argv.slice(2));
