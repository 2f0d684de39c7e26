/**
 * Where a speaker's table comes from, decided once from the command line: a table file, or the
 * cluster store with this node's name, announcement mode and lease timing. Every problem names the
 * flag, the value and the fix.
 */

import { parseDuration } from '../shared/duration.ts';
import type { Problem, Result } from '../shared/errors.ts';
import { problemOf } from '../shared/errors.ts';
import type { CodeIn } from '../shared/problems.ts';
import type { AnnounceMode } from './announce/announcer.ts';
import {
  addressLifetimeS,
  KERNEL_REMOVAL_SLACK_MS,
  LEASE_DEFAULTS,
  type LeaseTiming,
  leaseTimingProblems,
} from './ownership/lease.ts';
import { DEFAULT_HANDOVER_DELAY_MS } from './ownership/ownership-loop.ts';

/** The flags this decision reads, as yargs gives them (every one optional). */
export interface SpeakerSourceFlags {
  readonly table?: string | undefined;
  readonly redisUrl?: string | undefined;
  readonly redisSentinels?: string | undefined;
  readonly nodeName?: string | undefined;
  readonly nodeAddress?: string | undefined;
  readonly announce?: string | undefined;
  readonly interface?: string | undefined;
  readonly leaseTtl?: string | undefined;
  readonly leaseRenew?: string | undefined;
  readonly handoverDelay?: string | undefined;
  readonly retainOnStoreLoss?: string | undefined;
}

/** A speaker in a cluster: table, leases and heartbeats in the store. */
export interface StoreSource {
  readonly kind: 'store';
  readonly node: string;
  /** The address to register; null: found from the interface. */
  readonly nodeAddress: string | null;
  readonly announce: AnnounceMode;
  /** The interface VIPs are added to (l2), or null. */
  readonly interface: string | null;
  readonly timing: LeaseTiming;
  /** How long a node that (re)joined must be live before a holder hands it a VIP it prefers. */
  readonly handoverDelayMs: number;
  /** How long a VIP is kept suspended while the store is away: 0 never, Infinity always. */
  readonly retainOnStoreLossMs: number;
}

/** Where the table comes from. */
export type SpeakerSource = { readonly kind: 'file'; readonly path: string } | StoreSource;

const MODES: readonly AnnounceMode[] = ['l2', 'none', 'local'];
/** Flags that mean something only with the store. */
const STORE_ONLY = [
  'node-name',
  'node-address',
  'announce',
  'interface',
  'lease-ttl',
  'lease-renew',
  'handover-delay',
  'retain-on-store-loss',
] as const;

function problem(flag: string, value: unknown, code: CodeIn<'flag'>, message: string): Problem {
  return problemOf(`flag.${code}`, 'switchyard speaker', `--${flag}`, value, message);
}

function given(v: string | undefined): v is string {
  return v !== undefined && v !== '';
}

/** Decide the table source, or say what is wrong with the flags. */
export function speakerSourceFrom(f: SpeakerSourceFlags): Result<SpeakerSource> {
  const hasTable = given(f.table);
  const hasStore = given(f.redisUrl) || given(f.redisSentinels);
  if (hasTable === hasStore) {
    return {
      ok: false,
      problems: [
        problem(
          'table',
          f.table,
          'table-source',
          hasTable
            ? 'give either --table (a file) or --redis-url/--redis-sentinels (the cluster store), not both'
            : 'give --table FILE to serve a file, or --redis-url URL (or --redis-sentinels) to join a cluster',
        ),
      ],
    };
  }
  if (hasTable) {
    const byFlag: Record<(typeof STORE_ONLY)[number], string | undefined> = {
      'node-name': f.nodeName,
      'node-address': f.nodeAddress,
      announce: f.announce,
      interface: f.interface,
      'lease-ttl': f.leaseTtl,
      'lease-renew': f.leaseRenew,
      'handover-delay': f.handoverDelay,
      'retain-on-store-loss': f.retainOnStoreLoss,
    };
    const stray = STORE_ONLY.filter((flag) => byFlag[flag] !== undefined);
    if (stray.length > 0) {
      return {
        ok: false,
        problems: stray.map((flag) =>
          problem(
            flag,
            byFlag[flag],
            'store-only',
            'applies only with --redis-url; a --table speaker owns no VIPs',
          ),
        ),
      };
    }
    return { ok: true, value: { kind: 'file', path: f.table! } };
  }

  const problems: Problem[] = [];
  if (!given(f.nodeName)) {
    problems.push(
      problem(
        'node-name',
        f.nodeName,
        'node-name',
        'name this node as Kubernetes does (the DaemonSet passes spec.nodeName)',
      ),
    );
  }
  const announce = (f.announce ?? 'l2') as AnnounceMode;
  if (!MODES.includes(announce)) {
    problems.push(problem('announce', f.announce, 'announce', 'must be l2, none or local'));
  }
  const iface = given(f.interface) ? f.interface : null;
  if (announce === 'l2' && iface === null) {
    problems.push(
      problem(
        'interface',
        f.interface,
        'interface',
        'l2 mode adds VIPs to an interface: name the one facing the clients, e.g. eth0',
      ),
    );
  }
  const ttl = parseDuration(f.leaseTtl ?? LEASE_DEFAULTS.ttlMs);
  const renew = parseDuration(f.leaseRenew ?? LEASE_DEFAULTS.renewMs);
  if (ttl === null)
    problems.push(problem('lease-ttl', f.leaseTtl, 'duration', 'must be a duration such as "2s"'));
  if (renew === null)
    problems.push(problem('lease-renew', f.leaseRenew, 'duration', 'must be a duration such as "500ms"'));
  let timing: LeaseTiming = LEASE_DEFAULTS;
  if (ttl !== null && renew !== null) {
    // The fence margin scales down with short TTLs so that short test timings stay valid.
    timing = {
      ttlMs: ttl,
      renewMs: renew,
      marginMs: Math.min(LEASE_DEFAULTS.marginMs, Math.floor(ttl / 10)),
    };
    for (const p of leaseTimingProblems(timing)) {
      const flag = p.field === 'ttlMs' ? 'lease-ttl' : 'lease-renew';
      const value = p.field === 'ttlMs' ? f.leaseTtl : f.leaseRenew;
      problems.push(
        problem(
          flag,
          value ?? p.value,
          'lease-timing',
          `${p.message} (TTL ${ttl} ms, renew ${renew} ms, margin ${timing.marginMs} ms)`,
        ),
      );
    }
    if (announce === 'l2' && problems.length === 0 && addressLifetimeS(timing) < 1) {
      problems.push(
        problem(
          'lease-ttl',
          f.leaseTtl ?? `${ttl}ms`,
          'lease-timing',
          `l2 mode gives VIP addresses a kernel lifetime of whole seconds that must end before the lease can: the TTL must be at least 1 s + renew + margin + ${KERNEL_REMOVAL_SLACK_MS} ms (TTL ${ttl} ms, renew ${renew} ms, margin ${timing.marginMs} ms)`,
        ),
      );
    }
  }
  const handoverDelayMs = parseDuration(f.handoverDelay ?? DEFAULT_HANDOVER_DELAY_MS);
  if (handoverDelayMs === null) {
    problems.push(
      problem('handover-delay', f.handoverDelay, 'duration', 'must be a duration such as "3s" or "10m"'),
    );
  }
  const retain = f.retainOnStoreLoss ?? 'always';
  const retainOnStoreLossMs =
    retain === 'always' ? Number.POSITIVE_INFINITY : retain === 'off' ? 0 : parseDuration(retain);
  if (retainOnStoreLossMs === null) {
    problems.push(
      problem(
        'retain-on-store-loss',
        f.retainOnStoreLoss,
        'retain',
        'must be "always", "off" or a duration such as "5m"',
      ),
    );
  }
  if (problems.length > 0) return { ok: false, problems };
  return {
    ok: true,
    value: {
      kind: 'store',
      node: f.nodeName!,
      nodeAddress: given(f.nodeAddress) ? f.nodeAddress : null,
      announce,
      interface: iface,
      timing,
      handoverDelayMs: handoverDelayMs!,
      retainOnStoreLossMs: retainOnStoreLossMs!,
    },
  };
}
