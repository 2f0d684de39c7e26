/**
 * What a listener picks from when every backend fails its health checks. Health checks can fail
 * while the NodePorts work: kube-proxy's /healthz fails on every node during an API-server outage, a
 * firewall or a wrong port can cut the health endpoint alone. Refusing every client then turns a
 * health-check problem into an outage, so a listener fails open, as cloud load balancers do: it
 * picks among the backends whose NodePort has not failed a connect lately. Only when those are gone
 * too does it refuse, so a cluster that is really down is still refused at once, not sprayed; a
 * backend that failed is tried again by one connection after FAIL_OPEN_RETRY_MS.
 */
import type { BackendSlot } from '../balance/picker.ts';

/** How long a backend whose connect failed stays out of a failing-open choice. */
export const FAIL_OPEN_RETRY_MS = 5000;

/** Connect failures of one listener's backends in one thread, and the choice they lead to. */
export class FailOpen {
  /** When each backend last failed a connect, on the `performance.now()` clock. */
  readonly #failedAt = new Map<BackendSlot, number>();
  #active = false;
  /** When the earliest failure of the current failing-open choice expires. */
  #nextExpiry = Number.POSITIVE_INFINITY;

  /** Whether the last choice failed open (no backend passes its health checks). */
  get active(): boolean {
    return this.#active;
  }

  /** A connect to `slot` failed at `now`. */
  connectFailed(slot: BackendSlot, now: number): void {
    this.#failedAt.set(slot, now);
  }

  /**
   * The backends to pick from: those that pass their health checks; when none does, those without
   * a connect failure in the last FAIL_OPEN_RETRY_MS since they last passed (possibly none).
   */
  choose(slots: readonly BackendSlot[], healthy: (s: BackendSlot) => boolean, now: number): BackendSlot[] {
    for (const [slot, at] of this.#failedAt) if (now - at >= FAIL_OPEN_RETRY_MS) this.#failedAt.delete(slot);
    const eligible = slots.filter(healthy);
    // A backend that passes its checks again has shown that its failure is over.
    for (const s of eligible) this.#failedAt.delete(s);
    if (eligible.length > 0 || slots.length === 0) {
      this.#active = false;
      this.#nextExpiry = Number.POSITIVE_INFINITY;
      return eligible;
    }
    this.#active = true;
    let next = Number.POSITIVE_INFINITY;
    const open: BackendSlot[] = [];
    for (const s of slots) {
      const at = this.#failedAt.get(s);
      if (at === undefined) open.push(s);
      else next = Math.min(next, at + FAIL_OPEN_RETRY_MS);
    }
    this.#nextExpiry = next;
    return open;
  }

  /** Whether a failure left out of the current failing-open choice has expired (choose again). */
  due(now: number): boolean {
    return this.#active && now >= this.#nextExpiry;
  }
}
