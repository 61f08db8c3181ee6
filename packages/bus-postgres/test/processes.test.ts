import { processSuite } from './processes-suite.js';

processSuite('direct');
