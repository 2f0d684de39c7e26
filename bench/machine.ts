/**
 * What this machine allows the benchmark: how many CPUs, and how many connections a proxy can hold
 * under the open-file limit (a proxied connection costs the proxy two descriptors).
 */
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';

/** The connection count the `idle` and `scale` scenarios aim for. */
export const TARGET_CONNECTIONS = 10_000;
/** Descriptors a proxy needs besides its connections: listeners, logs, health probes, the event loop. */
const DESCRIPTOR_RESERVE = 100;

/** Parse the hard "Max open files" limit out of `/proc/<pid>/limits`; null when unlimited or absent. */
export function parseNofileLimit(limitsText: string): number | null {
  const m = /^Max open files\s+(\S+)\s+(\S+)\s+files/m.exec(limitsText);
  if (!m || m[2] === 'unlimited') return null;
  const n = Number(m[2]);
  return Number.isInteger(n) && n > 0 ? n : null;
}

/** The hard open-file limit children inherit (they raise their soft limit to it); null if unlimited. */
export function nofileHardLimit(): number | null {
  try {
    return parseNofileLimit(readFileSync('/proc/self/limits', 'utf8'));
  } catch {
    return null;
  }
}

/**
 * Most connections a proxy can hold at once here: 10,000, or fewer where the open-file limit cannot
 * cover two descriptors per connection (a container's hard limit of 20,000 allows 9,950).
 */
export function proxiedConnectionCap(nofile: number | null): number {
  if (nofile === null) return TARGET_CONNECTIONS;
  return Math.max(1, Math.min(TARGET_CONNECTIONS, Math.floor((nofile - DESCRIPTOR_RESERVE) / 2)));
}

/** CPUs this process may run on. */
export function cpuCount(): number {
  return availableParallelism();
}

/** The processor's marketing name, as the kernel reports it. */
export function cpuModel(): string {
  return cpus()[0]?.model.trim() ?? 'unknown';
}
