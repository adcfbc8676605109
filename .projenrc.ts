import { cdk8s, javascript } from 'projen';

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
  release: false,
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
    jestConfig: {
      // The control-plane suite runs with `npm run e2e`, not with the unit tests.
      testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/e2e/'],
      // Examples import the library by its package name, as users do.
      moduleNameMapper: { '^cdk8s-migrated-app$': '<rootDir>/src' },
    },
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

project.gitignore.exclude('/test/e2e/.bin/', '/test/e2e/.run/');

project.synth();
