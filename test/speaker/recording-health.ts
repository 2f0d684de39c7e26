/**
 * A recording fake of the health checker's interface: tests set target states by hand and see
 * which targets were set and which passive failures the data plane reported.
 */
import type {
  HealthChange,
  HealthSource,
  HealthState,
  HealthTarget,
} from '../../speaker/health/health-target.ts';

/** HealthSource whose states the test controls; passive failures make a target unhealthy. */
export class RecordingHealth implements HealthSource {
  readonly failures: string[] = [];
  targets: readonly HealthTarget[] = [];
  closed = false;
  readonly #states = new Map<string, HealthState>();
  readonly #listeners: ((c: HealthChange) => void)[] = [];

  setTargets(targets: readonly HealthTarget[]): void {
    this.targets = targets;
  }

  state(key: string): HealthState {
    return this.#states.get(key) ?? 'unknown';
  }

  snapshot(): ReadonlyMap<string, HealthState> {
    return new Map(this.#states);
  }

  reportConnectFailure(key: string): void {
    this.failures.push(key);
    this.set(key, 'unhealthy');
  }

  onChange(listener: (change: HealthChange) => void): void {
    this.#listeners.push(listener);
  }

  close(): void {
    this.closed = true;
  }

  /** Test control: change a target's state and tell the listeners. */
  set(key: string, state: HealthState): void {
    if (this.#states.get(key) === state) return;
    this.#states.set(key, state);
    for (const l of this.#listeners) l({ key, state });
  }
}
