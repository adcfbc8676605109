// Read by `golden` in test/helpers.ts: the snapshot and the examples' dist/ check are skipped.
process.env.CDK8S_MIGRATED_APP_GOLDENS = 'off';
