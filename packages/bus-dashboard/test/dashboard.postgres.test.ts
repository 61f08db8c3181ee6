import { dashboardSuite } from './dashboard-suite.js';

dashboardSuite('postgres');
