// Read by `golden` and `typeCheck` in test/helpers.ts: the snapshot, the examples' dist/ check and the
// docs samples' type check are skipped.
process.env.CDK8S_MIGRATED_APP_MUTATION = '1';
