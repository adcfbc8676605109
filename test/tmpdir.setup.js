// jest globalSetup: the tests' temporary files (cdk8s's Testing.app() makes a cdk8s.outdir.* folder for
// each app and never removes it) go under one folder of this run, which tmpdir.teardown.js removes.
const fs = require('fs');
const os = require('os');
const path = require('path');

module.exports = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdk8s-migrated-app-test-'));
  process.env.CDK8S_MIGRATED_APP_TEST_TMPDIR = dir;
  // Read by os.tmpdir() in the test workers, which jest starts after this.
  process.env.TMPDIR = dir;
};
