/** jest globalTeardown of the e2e suite: prints the timings the tests recorded, then stops the control plane. */
import * as fs from 'fs';
import * as path from 'path';
import { takeCluster } from './state';

export default async function globalTeardown(): Promise<void> {
  const infoFile = process.env.E2E_CLUSTER_JSON;
  const timings = infoFile ? path.join(path.dirname(infoFile), 'timings.txt') : undefined;
  if (timings && fs.existsSync(timings)) {
    process.stderr.write(`\ne2e timings (printed, never asserted):\n${fs.readFileSync(timings, 'utf-8')}`);
  }
  const cluster = takeCluster();
  if (cluster) {
    cluster.down();
    process.stderr.write(`e2e: control plane stopped; logs and audit log kept in ${cluster.dir}\n`);
  }
}
