// jest globalSetup: the tests' temporary files (cdk8s's Testing.app() makes a cdk8s.outdir.* folder for
// each app and never removes it) go under one folder of this run, which tmpdir.teardown.js removes.
const fs = require('fs');
const os = require('os');
const path = require('path');

module.exports = () => {
  // The first run's tmpdir: jest may run again in this process (Stryker's test runner runs it once per
  // mutant), and os.tmpdir() then names the folder the last run's teardown removed.
  const base = (process.env.CDK8S_MIGRATED_APP_TEST_BASE_TMPDIR ??= os.tmpdir());
  const dir = fs.mkdtempSync(path.join(base, 'cdk8s-migrated-app-test-'));
  process.env.CDK8S_MIGRATED_APP_TEST_TMPDIR = dir;
  // Read by os.tmpdir() in the test workers, which jest starts after this.
  process.env.TMPDIR = dir;
};
