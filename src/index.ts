export { Applier, HelmApplierOptions } from './applier';
export { ApplicationMigrationOptions, MigratedApplication, MigratedApplicationProps } from './application';
export { ContractOptions } from './contract';
export { LinterWaiver, LinterWaiverProps } from './exceptions';
export { DatabaseMigration, DatabaseMigrationProps, MigrationConfigFile, MigrationOptions } from './migration';
export { Restricted } from './security';
export { Errors } from './validation';
export { WaiterOptions } from './waiter';
