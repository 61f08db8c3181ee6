#!/usr/bin/env node
// The `bus-dashboard` binary: `bus dashboard` under its own name, for `npx bus-dashboard --database-url …`.
import { runCli } from './cli-program.js';

process.exitCode = await runCli(['dashboard', ...process.argv.slice(2)]);
