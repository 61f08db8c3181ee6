export { type CreateAdminOptions, createAdmin, MAX_ADMIN_IDS } from './admin.js';
export type {
  AdminArchiveFilter,
  AdminLiveFilter,
  AdminPage,
  AdminReport,
  AdminTarget,
  AdminWriteOptions,
  BusAdmin,
  FoundRow,
  QueueLimitsOverview,
  QueueOverview,
  ScheduleOverview,
} from './admin-api.js';
export { ARCHIVE_POLICIES, type ArchivePolicy, shouldArchive } from './archive-policy.js';
export {
  Bus,
  type BusInspection,
  type BusOptions,
  createBus,
  type InspectArchiveFilter,
  type InspectEventsFilter,
} from './bus.js';
export { decodePayload, encodePayload, payloadToJson } from './codec.js';
export type {
  ArchivedEventRow,
  ArchiveStatus,
  EventRow,
  LiveState,
  PauseRow,
  QueueCounts,
  QueueStore,
  RowFilter,
  StoreCapabilities,
  TxOf,
} from './contract/index.js';
export {
  PAUSE_POLL_MS,
  type StartWorkersOptions,
  WORKER_HEARTBEAT_MS,
  WorkerController,
} from './controller.js';
export { busEventHandler, type DecoratorOptions } from './decorator.js';
export { BusError, type BusErrorCode, describeError, isBusError } from './errors.js';
export { defineEvent, type EventDefinition, type PayloadOf } from './event.js';
export { FLOW_LIMITS, type QueueLimits, type RateLimit } from './flow/limits.js';
export type { PartitionKeyFunction } from './flow/partition-key.js';
export {
  type ConstructibleHandlerClass,
  defaultBackoff,
  type EventHandler,
  type HandlerClass,
  type HandlerContext,
  type HandlerSettings,
} from './handler.js';
export { cancelRun, discard, isSnooze, Snooze, snooze } from './handler-controls.js';
export { CANCEL_CHECK_MS } from './lease-keeper.js';
export {
  consoleLogger,
  type LogFields,
  type Logger,
  type PinoLike,
  pinoLogger,
  silentLogger,
} from './logger.js';
export type { PublishOptions } from './publish-rows.js';
export { QUEUE_LIMITS, type QueueConfig, validateQueueConfigs } from './queue-config.js';
export { type QueueOverviewParts, queueOverviews } from './queue-overview.js';
export {
  globalRegistry,
  type HandlerFactory,
  type RegisteredHandler,
  type RegisterOptions,
  Registry,
} from './registry.js';
export { DEFAULT_MAX_SNOOZES } from './retry-policy.js';
export { BusSchedules, type ScheduleInfo } from './schedules/api.js';
export {
  defineSchedule,
  type MissedTickPolicy,
  type ScheduleDefinition,
  type ScheduleOptions,
} from './schedules/define.js';
export type { PublishedTick } from './schedules/runner.js';
export { noTelemetry, type SettledInfo, type Telemetry } from './telemetry.js';
export type {
  HandlerUniqueSettings,
  UniqueKeySource,
  UniqueOptions,
  UniqueScope,
} from './unique-key.js';
export type { PublishedRow, UniquePublishResult } from './unique-result.js';
