/** Manifests synthesized in-process from ../../../src: the e2e app's releases, and small resources for the node. */
import { Chart, Duration, Size, Testing } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { tempDir } from './kubectl';
import { MigratedApplication, MigratedApplicationProps } from '../../../src';
import { one } from '../../manifests';
import type { Manifest } from '../../manifests';

/** Synthesizes what `build` adds to a fresh chart, in-process, from ../../src. */
export function synthChart(build: (chart: Chart) => void): Manifest[] {
  const chart = new Chart(Testing.app({ outdir: tempDir('synth') }), 'e2e'); // nothing is written there: only toJson()
  build(chart);
  return Testing.synth(chart) as Manifest[];
}

/** Small requests, so that many test pods fit the 2-core node (cdk8s-plus's defaults request a whole CPU a container). */
export const SMALL: kplus.ContainerResources = {
  cpu: { request: kplus.Cpu.millis(10) },
  memory: { request: Size.mebibytes(16), limit: Size.mebibytes(64) },
};

/** One MigratedApplication, synthesized; the app and the migration get SMALL resources unless `props` say otherwise. */
export function synthApp(props: MigratedApplicationProps): Manifest[] {
  return synthChart((chart) => new MigratedApplication(chart, props.name ?? 'app', {
    resources: SMALL,
    ...props,
    migration: { resources: SMALL, ...props.migration },
  }));
}

/** Options of `appRelease()`. */
export interface AppReleaseOptions {
  /** The app's name. */
  readonly name?: string;
  /** The migration's active deadline. */
  readonly activeDeadline?: Duration;
  /** The waiter's bound on a missing Job. */
  readonly notFoundTimeout?: Duration;
  /** More props, over these. */
  readonly props?: Partial<MigratedApplicationProps>;
  /** The chart's and the construct's ids, which must not matter. */
  readonly ids?: [string, string];
  /** A contract step: the migration's image with these args after `--version=<version>-contract`. */
  readonly contract?: string[];
  /** How long the app keeps serving after SIGTERM. */
  readonly shutdownDelay?: string;
}

/**
 * Release `version` of the e2e app (`e2e.local/app`, 2 replicas, ready once it
 * answers), migrated by `e2e.local/migrate:<version>` with `migrateArgs`.
 */
export function appRelease(version: string, migrateArgs: string[], options: AppReleaseOptions = {}): Manifest[] {
  const small = { cpu: { request: kplus.Cpu.millis(10) }, memory: { request: Size.mebibytes(16), limit: Size.mebibytes(64) } };
  const activeDeadline = options.activeDeadline ?? Duration.seconds(60);
  const props: MigratedApplicationProps = {
    name: options.name ?? 'shop',
    image: `e2e.local/app:${version}`,
    args: [`--version=${version}`, ...options.shutdownDelay ? [`--shutdown-delay=${options.shutdownDelay}`] : []],
    replicas: 2,
    ports: [{ number: 8080, name: 'http' }],
    readiness: kplus.Probe.fromHttpGet('/healthz', { port: 8080, periodSeconds: Duration.seconds(1), failureThreshold: 1 }),
    resources: small,
    migration: {
      image: `e2e.local/migrate:${version}`,
      args: [`--version=${version}`, ...migrateArgs],
      activeDeadline,
      resources: small,
      waiter: options.notFoundTimeout ? { notFoundTimeout: options.notFoundTimeout } : undefined,
      contract: options.contract ? { args: [`--version=${version}-contract`, ...options.contract] } : undefined,
    },
    progressDeadline: Duration.seconds(activeDeadline.toSeconds() + 30),
    ...options.props,
  };
  const [chartId, id] = options.ids ?? ['e2e', props.name!];
  const chart = new Chart(Testing.app({ outdir: tempDir('synth') }), chartId);
  new MigratedApplication(chart, id, props);
  return Testing.synth(chart) as Manifest[];
}

/** The name of the release's migration Job (not its contract step's). */
export function jobNameOf(objects: Manifest[]): string {
  return one(objects.filter((o) => !o.metadata.name.includes('-contract-')), 'Job').metadata.name;
}
