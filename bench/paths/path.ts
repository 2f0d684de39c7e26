/**
 * A path is one way the load can reach the backend: through the Switchyard speaker, through HAProxy,
 * through the naive Node proxy, or directly. Every scenario drives the same load through each.
 */

import type { VipPool } from '../addresses.ts';
import type { CpuPlan } from '../cpu-plan.ts';
import type { ProcessSet } from '../processes.ts';
import type { ToolPaths } from '../tools.ts';

/**
 * Every path, in the order each round runs them. `base` is the speaker of another checkout
 * (`--base-root`), run beside this one's for a base-vs-change comparison in the same rounds.
 */
export const PATH_NAMES = ['switchyard', 'base', 'haproxy', 'naive', 'direct'] as const;

/** The paths a run measures unless `--paths` says otherwise (`base` joins when `--base-root` is given). */
export const DEFAULT_PATHS: readonly PathName[] = ['switchyard', 'haproxy', 'naive', 'direct'];

/** Name of a path. */
export type PathName = (typeof PATH_NAMES)[number];

/** A TCP address. */
export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

/**
 * Proxy settings every proxied path is configured with, so the proxies do equivalent work: the
 * speaker's table and HAProxy's config are both rendered from these.
 */
export const PROXY_SETTINGS = {
  connectTimeoutMs: 2000,
  idleTimeoutMs: 300_000,
  halfClosedTimeoutMs: 60_000,
  connectAttempts: 3,
  healthIntervalMs: 2000,
  healthTimeoutMs: 1000,
  healthRise: 2,
  healthFall: 3,
} as const;

/** What a path is asked to serve. */
export interface PathSetup {
  readonly backend: Endpoint;
  /**
   * Where the proxies' health checks go: HTTP GET /healthz on the backend host at this port, as the
   * speaker probes kube-proxy's /healthz. Kept off the data port so probes never reach iperf3 or
   * the idle sink, and never count as requests.
   */
  readonly health: Endpoint;
  /** Listeners (frontends) in the proxy's config; the load goes to the first. */
  readonly listeners: number;
  /** Speaker data-plane workers (the other paths ignore it). */
  readonly workers: number;
  /** Most connections the proxy must be able to hold. */
  readonly maxConnections: number;
}

/** A started path. */
export interface RunningPath {
  readonly name: PathName;
  /** Where clients connect. */
  readonly front: Endpoint;
  /** The proxy's PID, whose process tree is measured; null for `direct`. */
  readonly pid: number | null;
  /** Stop the proxy (by its PID) and wait for it. */
  stop(): Promise<void>;
}

/** What a path needs to start. */
export interface PathEnv {
  readonly procs: ProcessSet;
  readonly plan: CpuPlan;
  readonly tools: ToolPaths;
  readonly vips: VipPool;
  /** Scratch folder for configs and tables. */
  readonly dir: string;
  /** The repository root (for the bench scripts). */
  readonly repoRoot: string;
  /** The checkout whose `bin/switchyard.mjs` is the speaker under test. */
  readonly speakerRoot: string;
  /** The checkout whose speaker is the `base` path; null when there is none. */
  readonly baseRoot: string | null;
  /** The Node 24 binary that runs the harness. */
  readonly node: string;
}

/** One way through. */
export interface BenchPath {
  readonly name: PathName;
  /** Null when this path can run here, else why not (shown in the report instead of figures). */
  check(env: PathEnv): Promise<string | null>;
  /** Start serving `setup`; resolves once the front accepts connections. */
  start(env: PathEnv, setup: PathSetup): Promise<RunningPath>;
}
