/**
 * What this machine allows the benchmark: how many CPUs, and how many connections a proxy can hold
 * under the open-file limit (a proxied connection costs the proxy two descriptors).
 */
import { availableParallelism, cpus } from 'node:os';
import { readOpenFileLimits } from '../shared/open-files.ts';
import { connectionCap } from '../speaker/descriptor-budget.ts';

/** The connection count the `idle` and `scale` scenarios aim for. */
export const TARGET_CONNECTIONS = 10_000;
/**
 * Descriptors a speaker already has open when it sizes its connection cap (runtime, logs, the table
 * watch); generous, so the benchmark never asks for more than the speaker's `auto` cap admits.
 */
const OPEN_AT_START = 64;

/** The hard open-file limit children inherit (they raise their soft limit to it); null if unlimited. */
export function nofileHardLimit(): number | null {
  return readOpenFileLimits().hard;
}

/**
 * Most connections a proxy can hold at once here: 10,000, or fewer where the open-file limit cannot
 * cover two descriptors per connection plus the speaker's reserve (a container's hard limit of
 * 20,000 allows 9,904), the same sum as the speaker's own `--max-connections auto`.
 */
export function proxiedConnectionCap(nofile: number | null): number {
  if (nofile === null) return TARGET_CONNECTIONS;
  const cap = connectionCap('auto', nofile, OPEN_AT_START);
  return Math.max(1, Math.min(TARGET_CONNECTIONS, cap.max ?? 1));
}

/** CPUs this process may run on. */
export function cpuCount(): number {
  return availableParallelism();
}

/** The processor's marketing name, as the kernel reports it. */
export function cpuModel(): string {
  return cpus()[0]?.model.trim() ?? 'unknown';
}
