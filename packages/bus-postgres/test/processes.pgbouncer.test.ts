import { processSuite } from './processes-suite.js';

// The worker processes behind PgBouncer in transaction mode (see processes-suite.ts).
processSuite('pgbouncer');
