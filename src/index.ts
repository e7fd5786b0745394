/** Public entry point of the package: embed the aggregator, or publish to one. */
export { buildApp, type App, type AppOptions } from './app.js';
export { loadConfig, ConfigError, DEFAULTS, type Config } from './config.js';
export { runServer } from './run.js';
export type { AcceptedEvent, EventInput, StoredEvent } from './domain/event.js';
export { AppError, type ErrorCode, type ErrorDetail } from './domain/errors.js';
export type {
  Queue,
  QueueReader,
  QueueWriter,
  Delivery,
  Lease,
  QueueStats,
  DeliveryPosition,
  DeliveryPositions,
} from './ports/queue.js';
export type { Backend, BackendSnapshot } from './ports/backend.js';
export type { Composition, ConfigProblem, OpenContext } from './adapters/composition.js';
export { registerComposition } from './adapters/registry.js';
export type {
  Store,
  EventReader,
  EventWriter,
  EventExpirer,
  ExpiryStep,
  StoreCounters,
  ApplyResult,
  AppliedItem,
} from './ports/store.js';
export type { RetentionPolicy } from './domain/retention.js';
export * from './client/index.js';
