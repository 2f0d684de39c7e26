/**
 * The speaker's active health checker: one probe loop per distinct target, rise/fall thresholds,
 * jittered scheduling and passive ejection. It runs once per speaker on the main thread and tells
 * the data plane about every state change through `onChange`.
 */
import type { Registry } from 'prom-client';
import type { Logger } from '../../shared/log.ts';
import { HealthMetrics } from './health-metrics.ts';
import type { HealthChange, HealthSource, HealthState, HealthTarget } from './health-target.ts';
import { afterProbe, EJECTED_STREAK, type HealthStreak, UNKNOWN_STREAK } from './health-thresholds.ts';
import { probeHttp } from './http-probe.ts';
import { connectErrorOutcome, type ProbeOutcome } from './probe-outcome.ts';
import { firstProbeDelay, nextProbeDelay, recheckDelay } from './probe-schedule.ts';
import { probeTcp } from './tcp-probe.ts';

/** What the health checker needs from its surroundings; `random` and `now` are for tests. */
export interface HealthCheckerOptions {
  readonly logger: Logger;
  /** Registry for the checker's metrics; none are recorded without one. */
  readonly registry?: Registry;
  /** Source of jitter in [0, 1); defaults to `Math.random`. */
  readonly random?: () => number;
  /** Monotonic clock in milliseconds, for probe durations; defaults to `performance.now`. */
  readonly now?: () => number;
}

/** One target's probe loop. Exactly one of `timer` and `inFlight` is set while the loop runs. */
interface ProbeLoop {
  target: HealthTarget;
  streak: HealthStreak;
  timer: NodeJS.Timeout | null;
  /** When the pending timer fires, on the `now` clock. */
  dueAt: number;
  inFlight: AbortController | null;
  /** Bumped by a passive failure, so a probe that started before it cannot count towards `rise`. */
  epoch: number;
  /** A passive failure arrived during a probe: re-probe promptly once it ends. */
  recheck: boolean;
}

/** Active and passive health of every probe target the speaker's table names. */
export class HealthChecker implements HealthSource {
  readonly #log: Logger;
  readonly #metrics: HealthMetrics;
  readonly #random: () => number;
  readonly #now: () => number;
  readonly #loops = new Map<string, ProbeLoop>();
  readonly #listeners: ((change: HealthChange) => void)[] = [];
  #snapshot: ReadonlyMap<string, HealthState> | null = null;
  #closed = false;

  constructor(opts: HealthCheckerOptions) {
    this.#log = opts.logger;
    this.#metrics = new HealthMetrics(opts.registry);
    this.#random = opts.random ?? Math.random;
    this.#now = opts.now ?? (() => performance.now());
  }

  /** Replace the probed targets: new keys start (first probe soon, jittered), removed keys stop. */
  setTargets(targets: readonly HealthTarget[]): void {
    if (this.#closed) return;
    const wanted = new Map<string, HealthTarget>();
    for (const t of targets) if (!wanted.has(t.key)) wanted.set(t.key, t);
    for (const [key, loop] of this.#loops) if (!wanted.has(key)) this.#remove(loop);
    for (const [key, target] of wanted) {
      const loop = this.#loops.get(key);
      if (loop) this.#update(loop, target);
      else this.#add(target);
    }
  }

  /** Current state of a target; `unknown` for a key that is not probed. */
  state(key: string): HealthState {
    return this.#loops.get(key)?.streak.state ?? 'unknown';
  }

  /** Every target's state; rebuilt only after a change, so repeated calls cost nothing. */
  snapshot(): ReadonlyMap<string, HealthState> {
    if (!this.#snapshot) {
      const m = new Map<string, HealthState>();
      for (const [key, loop] of this.#loops) m.set(key, loop.streak.state);
      this.#snapshot = m;
    }
    return this.#snapshot;
  }

  /** Passive failure: eject the target at once and re-probe it promptly; it must rise again. */
  reportConnectFailure(key: string): void {
    const loop = this.#loops.get(key);
    if (!loop || this.#closed) return;
    loop.epoch++;
    this.#apply(loop, EJECTED_STREAK, 'connect failed');
    if (loop.inFlight) {
      loop.recheck = true;
      return;
    }
    // Many failing connections report the same target; only pull the next probe forward, never back.
    const delay = recheckDelay(loop.target.timing.intervalMs, this.#random());
    if (loop.timer && loop.dueAt <= this.#now() + delay) return;
    this.#schedule(loop, delay);
  }

  /** Register a listener for every state change. */
  onChange(listener: (change: HealthChange) => void): void {
    this.#listeners.push(listener);
  }

  /** Stop every timer and abandon every probe in flight (its socket is destroyed). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const loop of this.#loops.values()) this.#stop(loop);
    this.#loops.clear();
    this.#snapshot = null;
  }

  #add(target: HealthTarget): void {
    const loop: ProbeLoop = {
      target,
      streak: UNKNOWN_STREAK,
      timer: null,
      dueAt: 0,
      inFlight: null,
      epoch: 0,
      recheck: false,
    };
    this.#loops.set(target.key, loop);
    this.#snapshot = null;
    this.#metrics.setState(target.node, target.key, 'unknown');
    this.#schedule(loop, firstProbeDelay(target.timing.intervalMs, this.#random()));
  }

  /** Same key, maybe new timing or node name: keep the state and (unless now too late) the schedule. */
  #update(loop: ProbeLoop, target: HealthTarget): void {
    if (target.node !== loop.target.node) {
      this.#metrics.removeTarget(loop.target.node, loop.target.key);
      this.#metrics.setState(target.node, target.key, loop.streak.state);
    }
    loop.target = target;
    // A shortened interval takes effect now, not after the longer wait already scheduled.
    const latest = this.#now() + nextProbeDelay(target.timing.intervalMs, 1);
    if (loop.timer && loop.dueAt > latest) {
      this.#schedule(loop, nextProbeDelay(target.timing.intervalMs, this.#random()));
    }
  }

  #remove(loop: ProbeLoop): void {
    this.#stop(loop);
    this.#loops.delete(loop.target.key);
    this.#snapshot = null;
    this.#metrics.removeTarget(loop.target.node, loop.target.key);
  }

  #stop(loop: ProbeLoop): void {
    if (loop.timer) clearTimeout(loop.timer);
    loop.timer = null;
    const inFlight = loop.inFlight;
    // Cleared first: the abandoned probe's result is recognised as stale and ignored.
    loop.inFlight = null;
    inFlight?.abort();
  }

  #schedule(loop: ProbeLoop, delayMs: number): void {
    if (loop.timer) clearTimeout(loop.timer);
    loop.dueAt = this.#now() + delayMs;
    loop.timer = setTimeout(() => this.#probe(loop), delayMs);
  }

  #probe(loop: ProbeLoop): void {
    loop.timer = null;
    if (loop.inFlight || this.#closed || this.#loops.get(loop.target.key) !== loop) return;
    const ac = new AbortController();
    loop.inFlight = ac;
    loop.recheck = false;
    const epoch = loop.epoch;
    const { target } = loop;
    const started = this.#now();
    let probe: Promise<ProbeOutcome>;
    try {
      probe =
        target.check.type === 'http'
          ? probeHttp(
              { address: target.address, port: target.port, path: target.check.path },
              target.timing.timeoutMs,
              ac.signal,
            )
          : probeTcp({ address: target.address, port: target.port }, target.timing.timeoutMs, ac.signal);
    } catch (err) {
      probe = Promise.resolve(connectErrorOutcome(err));
    }
    probe
      .then((outcome) => this.#probed(loop, ac, epoch, target, outcome, this.#now() - started))
      .catch((err: unknown) => this.#log.error({ event: 'health-checker-error', target: target.key, err }));
  }

  #probed(
    loop: ProbeLoop,
    ac: AbortController,
    epoch: number,
    target: HealthTarget,
    outcome: ProbeOutcome,
    elapsedMs: number,
  ): void {
    if (loop.inFlight !== ac) return; // removed or closed while the probe ran
    loop.inFlight = null;
    this.#metrics.probed(target.check.type, outcome.result, elapsedMs / 1000);
    if (this.#log.isLevelEnabled('debug')) {
      this.#log.debug({
        event: 'health-probe',
        node: target.node,
        target: target.key,
        result: outcome.result,
        reason: outcome.reason,
        ms: Math.round(elapsedMs),
      });
    }
    // A probe this process could not even start (out of descriptors, ports, memory) is no evidence
    // either way: the streak stays as it was.
    if (epoch === loop.epoch && outcome.result !== 'local') {
      this.#apply(
        loop,
        afterProbe(loop.streak, outcome.result === 'success', loop.target.timing),
        outcome.reason,
      );
    }
    const interval = loop.target.timing.intervalMs;
    this.#schedule(
      loop,
      loop.recheck ? recheckDelay(interval, this.#random()) : nextProbeDelay(interval, this.#random()),
    );
    loop.recheck = false;
  }

  #apply(loop: ProbeLoop, next: HealthStreak, reason: string): void {
    const before = loop.streak.state;
    loop.streak = next;
    if (next.state === before) return;
    const { key, node } = loop.target;
    this.#snapshot = null;
    this.#metrics.setState(node, key, next.state);
    this.#log.info(
      { event: 'backend-health', node, target: key, state: next.state, reason },
      'backend health changed',
    );
    const change: HealthChange = { key, state: next.state };
    for (const listener of this.#listeners) {
      try {
        listener(change);
      } catch (err) {
        // A listener's bug must not stop the other listeners or the probe loop.
        this.#log.error({ event: 'health-listener-error', target: key, err });
      }
    }
  }
}
