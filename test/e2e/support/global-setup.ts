/**
 * jest globalSetup of the e2e suite: builds the control plane (a no-op once
 * built), starts one in a fresh `test/e2e/.run/e2e-*` folder, and hands its
 * `cluster.json` to the tests through `E2E_CLUSTER_JSON` (the suite runs in
 * band, in this process). globalTeardown stops it; so do a signal and the
 * process's exit, if the run never gets that far.
 *
 * `E2E_REUSE_CLUSTER=DIR` uses a control plane already started with
 * `cluster.sh up DIR` instead, and leaves it running.
 */
import * as fs from 'fs';
import * as path from 'path';
import { buildControlPlane, upCluster } from './harness';
import { setCluster } from './state';

export default async function globalSetup(): Promise<void> {
  const started = Date.now();
  const reuse = process.env.E2E_REUSE_CLUSTER;
  if (reuse) {
    const infoFile = path.resolve(reuse, 'cluster.json');
    if (!fs.existsSync(infoFile)) throw new Error(`E2E_REUSE_CLUSTER=${reuse}: no cluster.json there; run test/e2e/cluster/cluster.sh up ${reuse} first`);
    process.env.E2E_CLUSTER_JSON = infoFile;
    process.stderr.write(`\ne2e: reusing the control plane in ${reuse}\n`);
    return;
  }
  process.stderr.write('\n');
  buildControlPlane();
  const built = Date.now();
  const cluster = upCluster('e2e');
  setCluster(cluster);
  process.env.E2E_CLUSTER_JSON = cluster.infoFile;
  process.stderr.write(`e2e: build.sh ${((built - started) / 1000).toFixed(1)}s, cluster.sh up ${((Date.now() - built) / 1000).toFixed(1)}s; `
    + `control plane ${cluster.info.E2E_K8S_VERSION} in ${cluster.dir}\n`);
}
