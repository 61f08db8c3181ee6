// The store contract, version 2: one file per operation's types. Driver authors import it from
// `bus-core/driver`; the main entry re-exports only what users see (the store type, inspection rows).
export type {
  CancelParams,
  PauseParams,
  RecordWorkerParams,
  RedriveParams,
  RunNowParams,
  StoreAdmin,
} from './admin.js';
export type { ClaimedEvent, ClaimParams } from './claim.js';
export type {
  ClaimCandidate,
  LeasedCandidate,
  LimitedClaimSteps,
  LimitsRow,
  RecentStarts,
  RunningCount,
  SetLimitsParams,
  StoredLimits,
} from './flow.js';
export type { InsertParams, NewEventRow } from './insert.js';
export type {
  ArchivedEventRow,
  ArchiveStatus,
  EventRow,
  ListArchiveParams,
  ListEventsParams,
  ListWorkersParams,
  LiveState,
  PauseRow,
  QueueCounts,
  RowFilter,
  StoreInspection,
  WorkerRow,
} from './inspect.js';
export type { CheckLeasesParams, ExtendLeasesParams, HeldEvent, ReleaseParams } from './leases.js';
export { CONTRACT_LIMITS, isRowId } from './limits.js';
export type { ListenParams, Subscription } from './listen.js';
export type { PruneParams } from './prune.js';
export type { ExpiredEvent, ListExpiredParams, RescueDecision, RescueParams } from './rescue.js';
export type {
  DeclaredSchedule,
  RecordTickParams,
  ScheduleRow,
  SetSchedulePausedParams,
  StoreSchedules,
  SyncSchedulesParams,
} from './schedules.js';
export type {
  CancelledOutcome,
  CompletedOutcome,
  FailedOutcome,
  RetryOutcome,
  SettleOutcome,
  SettleParams,
  SettleResult,
  SnoozeOutcome,
} from './settle.js';
export type { QueueStore, StoreCapabilities, StoreTx, TxOf } from './store.js';
export type {
  InsertUniqueParams,
  PruneKeysParams,
  RowUniqueness,
  StoreUnique,
  UniqueInsertResult,
  UniqueNewEventRow,
} from './unique.js';
