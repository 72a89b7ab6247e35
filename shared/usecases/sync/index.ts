export { advanceSync, driveSync } from './driver';
export {
  inRecoveryPoint,
  lastRecoveryPoint,
  manifestKey,
  rpIdOf,
  type StepResult,
  type StoredChangeBatch,
} from './job';
export { abortSync, getSync, type SyncView, startSync } from './start';
