// src/kube: the shared controller machinery. Other components import only this file.
export { loadKubeConfig, kubeConfigFromString, type LoadKubeConfigOptions } from './config.js';
export {
  KubeClient,
  resourcePath,
  type KubeObject,
  type ObjectMeta,
  type ListResult,
  type RequestOptions,
  type CallOptions,
  type PatchType,
  type ResourceRef,
} from './client.js';
export {
  KubeApiError,
  KubeUnreachableError,
  KubeAbortedError,
  KubeConfigError,
  statusCodeOf,
  isNotFound,
  isConflict,
  isGone,
  isAlreadyExists,
  isAuthError,
  errorMessage,
} from './errors.js';
export { Informer, keyOf, splitKey, type InformerOptions, type KeyHandler, type ObjectHandlers } from './informer.js';
export {
  WorkQueue,
  ExponentialRateLimiter,
  BucketRateLimiter,
  MaxOfRateLimiter,
  defaultRateLimiter,
  type RateLimiter,
  type WorkQueueOptions,
} from './queue.js';
export { realClock, ManualClock, type Clock, type TimerHandle } from './clock.js';
export {
  Controller,
  TerminalError,
  ReconcileTimeoutError,
  type ControllerOptions,
  type ReconcileContext,
  type ReconcileResult,
  type Reconciler,
  type Outcome,
} from './controller.js';
export { LeaderElector, type LeaderElectorOptions } from './leader.js';
export { EventRecorder, type EventRecorderOptions, type EventType, type RecordOptions } from './events.js';
export {
  apply,
  applyObject,
  deleteObject,
  needsUpdate,
  mergeForUpdate,
  deepEqual,
  NotOwnedError,
  type ApplyResult,
  type ApplyOptions,
  type Applied,
} from './apply.js';
export { kubeMetrics, type KubeMetrics } from './metrics.js';
