/** Linux capability checks, so a speaker without NET_ADMIN/NET_RAW refuses to start with a clear line. */
import { readFileSync } from 'node:fs';

/** Capability numbers from linux/capability.h that the speaker cares about. */
export const CAP = { NET_BIND_SERVICE: 10, NET_ADMIN: 12, NET_RAW: 13 } as const;

/** The effective capability set of this process, from /proc/self/status (0n where unreadable). */
export function effectiveCapabilities(statusText?: string): bigint {
  let text = statusText;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/status', 'utf8');
    } catch {
      return 0n;
    }
  }
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(text);
  return m ? BigInt(`0x${m[1]}`) : 0n;
}

/** Names of the capabilities in `wanted` that `effective` lacks. */
export function missingCapabilities(
  wanted: readonly (keyof typeof CAP)[],
  effective = effectiveCapabilities(),
): string[] {
  return wanted.filter((name) => (effective & (1n << BigInt(CAP[name]))) === 0n).map((n) => `CAP_${n}`);
}
