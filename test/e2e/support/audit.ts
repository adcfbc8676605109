/** The API server's audit log of this run. */
import * as fs from 'fs';
import { cluster } from './cluster';

export interface AuditEvent {
  readonly stage: string;
  readonly verb: string;
  readonly requestURI: string;
  readonly userAgent?: string;
  readonly user: { readonly username: string };
  readonly objectRef?: { readonly resource?: string; readonly subresource?: string; readonly namespace?: string; readonly name?: string };
  readonly responseStatus?: { readonly code?: number };
  readonly requestReceivedTimestamp: string;
  readonly stageTimestamp: string;
  readonly auditID: string;
}

/** The audit log's events so far (JSON lines; a partly written last line is skipped). */
export function readAudit(): AuditEvent[] {
  const text = fs.readFileSync(cluster().E2E_AUDIT_LOG, 'utf-8');
  const events: AuditEvent[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      events.push(JSON.parse(line));
    } catch {
      // the line being written
    }
  }
  return events;
}

/**
 * An RFC 3339 time with fractional seconds (the audit log's microseconds, the
 * container runtime's nanoseconds in `kubectl logs --timestamps`) as epoch ms,
 * with the fraction kept.
 */
export function preciseTime(ts: string): number {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(ts);
  if (!m) return Date.parse(ts);
  return Date.parse(`${m[1]}Z`) + Number(`0.${m[2] ?? '0'}`) * 1000;
}
