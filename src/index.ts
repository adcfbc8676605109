export { Applier } from './applier';
export * from './application';
export * from './migration';
export { WaiterOptions, DEFAULT_WAITER_IMAGE, WAITER_SCRIPT } from './waiter';
export { Restricted } from './security';
