import { spawnSync } from 'child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join, relative } from 'path';
import { parseAllDocuments } from 'yaml';
import { expectSoundManifests, Manifest, one, withoutQueue } from './helpers';

// The README's namespace overlay, run with kubectl's built-in kustomize over the quick start's output.
test('a kustomize namespace overlay puts the whole release in one namespace, RBAC included', () => {
  const overlay = mkdtempSync(join(tmpdir(), 'overlay-'));
  try {
    const dist = join(__dirname, '..', 'examples', 'laravel', 'dist', 'laravel.k8s.yaml');
    writeFileSync(join(overlay, 'kustomization.yaml'), `namespace: shop-prod\nresources:\n  - ${relative(overlay, dist)}\n`);
    const r = spawnSync('kubectl', ['kustomize', '--load-restrictor=LoadRestrictionsNone', overlay], { encoding: 'utf-8' });
    if (r.error) throw new Error(`kubectl is required: ${r.error.message}`);
    expect(r.stderr).toBe('');
    const objects = parseAllDocuments(r.stdout).map((d) => d.toJS() as Manifest);
    expect(objects.length).toBeGreaterThanOrEqual(7);
    for (const o of objects) expect(`${o.kind}/${o.metadata.namespace}`).toBe(`${o.kind}/shop-prod`);
    // A ServiceAccount subject without a namespace means the RoleBinding's own: still right after the overlay.
    expect(one(withoutQueue(objects), 'RoleBinding').subjects[0].namespace ?? 'shop-prod').toBe('shop-prod');
    expectSoundManifests(objects);
  } finally {
    rmSync(overlay, { recursive: true, force: true });
  }
});
