/*
 * The test environment of the mutation runs, which Stryker wraps with its own
 * (StrykerJS 10.0.0, jest-runner mixin-jest-environment.cjs). With "perTest"
 * coverage analysis, Stryker counts a mutant that runs outside a test (in a
 * describe() body, a beforeAll(), at import) as static, and runs every test for
 * it. Many of these test files build their objects once per describe(), so
 * nearly every mutant would be static, and a full run would take hours. This
 * environment gives the mutants that a test file covers outside its tests to
 * each test of that file instead: those are the tests that can see them.
 */
const NodeEnvironment = require('jest-environment-node').TestEnvironment;

const fullName = (block) => (block.parent ? `${fullName(block.parent)} ${block.name}`.trimStart() : '');

class FileScopedCoverage extends NodeEnvironment {
  #before = {};
  #tests = [];

  /** Stryker's instrumenter context, shared with the test process; only the dry run collects coverage. */
  #coverage() {
    const context = this.global[this.global.__strykerGlobalNamespace__ ?? '__stryker__'];
    return context?.mutantCoverage;
  }

  async handleTestEvent(event) {
    if (event.name === 'setup') {
      this.#before = { ...this.#coverage()?.static };
    } else if (event.name === 'test_start') {
      this.#tests.push(`${fullName(event.test.parent)} ${event.test.name}`.trimStart());
    } else if (event.name === 'run_finish') {
      const coverage = this.#coverage();
      if (!coverage || this.#tests.length === 0) return;
      for (const [id, count] of Object.entries(coverage.static)) {
        const here = count - (this.#before[id] ?? 0);
        if (here <= 0) continue;
        for (const test of this.#tests) {
          const perTest = (coverage.perTest[test] ??= {});
          perTest[id] = (perTest[id] ?? 0) + here;
        }
        if (count === here) delete coverage.static[id];
        else coverage.static[id] = count - here;
      }
    }
  }
}

module.exports = FileScopedCoverage;
