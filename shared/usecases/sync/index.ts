export { advanceSync, driveSync } from './driver';
export {
  CHUNKS_PER_TASK,
  inRecoveryPoint,
  lastRecoveryPoint,
  manifestKey,
  rpIdOf,
  type StepResult,
  type StoredChangeBatch,
} from './job';
export { abortSync, getSync, type SyncView, startSync } from './start';
