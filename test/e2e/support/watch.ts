/** An admin watch of the API, with the time each event arrived. */
import * as fs from 'fs';
import * as https from 'https';
import * as path from 'path';
import { cluster, now } from './cluster';
import { waitFor } from './kubectl';

export interface WatchEvent { readonly type: string; readonly at: number; readonly object: any }

/**
 * An admin watch, in this process, on the objects of one resource in a
 * namespace (`jobs`, `pods`...) that match a field or label selector: records
 * every event, and when each condition first shows status True, to the
 * sub-millisecond, on the clock of `now()`.
 */
export class ApiWatch {
  /** A watch on the one Job named `job`. */
  public static job(namespace: string, job: string): Promise<ApiWatch> {
    return ApiWatch.open(namespace, 'apis/batch/v1', 'jobs', { fieldSelector: `metadata.name=${job}` });
  }

  /** A watch on the pods that match `labelSelector`. */
  public static pods(namespace: string, labelSelector: string): Promise<ApiWatch> {
    return ApiWatch.open(namespace, 'api/v1', 'pods', { labelSelector });
  }

  /** Opens the watch; resolves once the API server has answered (the watch is established). */
  public static open(namespace: string, group: string, resource: string, params: { [key: string]: string }): Promise<ApiWatch> {
    return new Promise((resolve, reject) => {
      const c = cluster();
      const pki = path.join(c.E2E_CLUSTER_DIR, 'pki');
      const url = new URL(`${c.E2E_APISERVER}/${group}/namespaces/${namespace}/${resource}`);
      url.searchParams.set('watch', 'true');
      for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
      const w = new ApiWatch(`${resource} ${JSON.stringify(params)} in ${namespace}`);
      // Bounded: the API server must answer within 30 s (the watch itself may then stay idle for long).
      const timer = setTimeout(() => {
        req.destroy();
        reject(new Error(`watch ${w.what}: no answer from the API server within 30s`));
      }, 30_000);
      const req = https.request(url, {
        method: 'GET',
        ca: fs.readFileSync(c.E2E_CA_FILE),
        cert: fs.readFileSync(path.join(pki, 'admin.crt')),
        key: fs.readFileSync(path.join(pki, 'admin.key')),
      }, (res) => {
        clearTimeout(timer);
        if (res.statusCode !== 200) {
          reject(new Error(`watch ${w.what}: HTTP ${res.statusCode}`));
          res.resume();
          return;
        }
        res.setEncoding('utf-8');
        res.on('data', (chunk: string) => w.feed(chunk));
        res.on('end', () => { w.ended = true; });
        resolve(w);
      });
      req.on('error', (e) => {
        clearTimeout(timer);
        if (!w.closed) reject(e);
      });
      req.end();
      w.req = req;
      watches.add(w);
    });
  }

  public readonly events: WatchEvent[] = [];
  /** Epoch ms at which each condition type was first seen True (on any of the objects). */
  public readonly firstTrue: { [type: string]: number } = {};
  public ended = false;
  private closed = false;
  private buffer = '';
  private req?: ReturnType<typeof https.request>;

  private constructor(public readonly what: string) {}

  private feed(chunk: string): void {
    const at = now();
    this.buffer += chunk;
    let i: number;
    while ((i = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, i);
      this.buffer = this.buffer.slice(i + 1);
      if (!line.trim()) continue;
      const e = JSON.parse(line);
      this.events.push({ type: e.type, at, object: e.object });
      for (const cond of e.object?.status?.conditions ?? []) {
        if (cond.status === 'True' && this.firstTrue[cond.type] === undefined) this.firstTrue[cond.type] = at;
      }
    }
  }

  /** Waits until condition `type` has shown True; returns when it was first seen. */
  public async until(type: string, timeoutMs: number): Promise<number> {
    return waitFor(() => this.firstTrue[type], timeoutMs, `condition ${type}=True on ${this.what}`, 20);
  }

  /** When each object (by name) was first seen, and when it was deleted. */
  public lifetimes(): Map<string, { added: number; deleted?: number; object: any }> {
    const seen = new Map<string, { added: number; deleted?: number; object: any }>();
    for (const e of this.events) {
      const name = e.object?.metadata?.name;
      if (!name) continue;
      const entry = seen.get(name) ?? { added: e.at, object: e.object };
      if (e.type === 'DELETED') entry.deleted = e.at;
      entry.object = e.object;
      seen.set(name, entry);
    }
    return seen;
  }

  public close(): void {
    this.closed = true;
    watches.delete(this);
    this.req?.destroy();
  }
}

const watches = new Set<ApiWatch>();

/** Closes every watch still open. */
export function closeWatches(): void {
  for (const w of [...watches]) w.close();
}
