/*
 * The unit tests' jest config (package.json, from .projenrc.ts) as Stryker runs
 * it: without coverage and JUnit reports, transpiling only (the TypeScript
 * checker type-checks each mutant), and with the goldens off (setup.js), so
 * that a mutant counts as killed only by a test that asserts behaviour.
 */
const base = require('../../package.json').jest;

module.exports = {
  ...base,
  rootDir: '../..',
  collectCoverage: false,
  reporters: ['default'],
  transform: { '^.+\\.[t]sx?$': ['ts-jest', { tsconfig: 'test/tsconfig.json', isolatedModules: true }] },
  setupFiles: ['<rootDir>/test/mutation/setup.js'],
  // An absolute path: Stryker resolves it itself, without jest's <rootDir>.
  testEnvironment: require('path').join(__dirname, 'environment.js'),
};
