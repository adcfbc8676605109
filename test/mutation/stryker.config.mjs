// @ts-check
/*
 * Mutation testing of src/ (see CONTRIBUTING.md, "Mutation testing"): run it
 * with `npm run test:mutation` (all of src/) or `npm run test:mutation -- --quick`
 * (the lines changed since main), through test/mutation/run.sh. Paths are
 * relative to the repository root, where the script runs Stryker.
 */
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  mutate: ['src/**/*.ts', '!src/index.ts'],
  testRunner: 'jest',
  // The unit tests with the goldens off: a mutant counts as killed only by a test that asserts behaviour.
  jest: { projectType: 'custom', configFile: 'test/mutation/jest.config.js', enableFindRelatedTests: true },
  checkers: ['typescript'],
  tsconfigFile: 'tsconfig.json',
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  coverageAnalysis: 'perTest',
  // Two cores; `--concurrency 1` beside other builds.
  concurrency: 2,
  timeoutMS: 20000,
  // `break`: the run fails under 95% (mutation score for covered code, as `thresholds` count it).
  thresholds: { high: 95, low: 90, break: 95 },
  reporters: ['clear-text', 'progress-append-only', 'json', 'html'],
  clearTextReporter: { allowColor: false, logTests: false, reportTests: false, reportMutants: true, reportScoreTable: true },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  incrementalFile: 'reports/mutation/incremental.json',
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
  ignorePatterns: ['/lib', '/dist', '/coverage', '/test-reports', '/reports', '/.jsii', '/test/e2e/.bin', '/test/e2e/.run', '/test/lint/.tools',
    '/test/mutation/.node', '/test/.samples-*', '/.stryker-tmp'],
};
