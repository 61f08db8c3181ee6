/**
 * `bus-core/driver`: what a database driver for bus is written against: the store contract
 * (version 2), its limits, and the helpers both bundled drivers share (table names, schema
 * checks, the migration rule, error wrapping). Unstable: it may change in any minor version;
 * users of bus never need it. docs/drivers.md explains it.
 */
export type {
  ArchivedEventRow,
  ArchiveStatus,
  CancelledOutcome,
  CancelParams,
  CheckLeasesParams,
  ClaimCandidate,
  ClaimedEvent,
  ClaimParams,
  CompletedOutcome,
  DeclaredSchedule,
  EventRow,
  ExpiredEvent,
  ExtendLeasesParams,
  FailedOutcome,
  HeldEvent,
  InsertParams,
  InsertUniqueParams,
  LeasedCandidate,
  LimitedClaimSteps,
  LimitsRow,
  ListArchiveParams,
  ListEventsParams,
  ListExpiredParams,
  ListenParams,
  ListWorkersParams,
  LiveState,
  NewEventRow,
  PauseParams,
  PauseRow,
  PruneKeysParams,
  PruneParams,
  QueueCounts,
  QueueStore,
  RecentStarts,
  RecordTickParams,
  RecordWorkerParams,
  RedriveParams,
  ReleaseParams,
  RescueDecision,
  RescueParams,
  RetryOutcome,
  RowFilter,
  RowUniqueness,
  RunNowParams,
  RunningCount,
  ScheduleRow,
  SetLimitsParams,
  SetSchedulePausedParams,
  SettleOutcome,
  SettleParams,
  SettleResult,
  SnoozeOutcome,
  StoreAdmin,
  StoreCapabilities,
  StoredLimits,
  StoreInspection,
  StoreSchedules,
  StoreTx,
  StoreUnique,
  Subscription,
  SyncSchedulesParams,
  TxOf,
  UniqueInsertResult,
  UniqueNewEventRow,
  WorkerRow,
} from './contract/index.js';
export { CONTRACT_LIMITS, isRowId } from './contract/index.js';
export { storeFailure, unwrapDriverError } from './driver/driver-error.js';
export {
  type BundledMigration,
  type MigrationPlan,
  planMigrations,
  renameTables,
} from './driver/migration-plan.js';
export { payloadJsonOf } from './driver/payload-json.js';
export { QueueCountsTally } from './driver/queue-counts.js';
export {
  type ExpectedTable,
  missingFromSchema,
  type SchemaRow,
  schemaMissingError,
} from './driver/schema-diff.js';
export {
  assertIdentifier,
  type BusTableNames,
  DEFAULT_ARCHIVE_TABLE,
  DEFAULT_EVENTS_TABLE,
  DEFAULT_MIGRATIONS_TABLE,
  resolveTableNames,
} from './driver/table-names.js';
export {
  claimInTurnAtOnce,
  claimsInOneStep,
  claimWithinConcurrency,
  claimWithLimits,
  MAX_KEY_SCAN,
  rotatesInOneStep,
  type SeenLimits,
  UNKEYED_SCAN,
} from './flow/limited-claim.js';
export {
  type PreparedOutcomes,
  prepareListParams,
  prepareOutcomes,
  truncateError,
} from './store-params.js';
