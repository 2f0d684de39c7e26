/** The result of one active probe, shared by the HTTP and TCP probes and the health checker. */
import { isLocalErrorCode } from '../local-errors.ts';

/**
 * How a probe ended. `success`: the node answered as healthy; `failure`: it answered, but not healthy
 * (HTTP status other than 200); `timeout`: no complete answer within the timeout; `error`: the
 * connection failed (refused, reset, unreachable); `local`: the probe could not start because this
 * process is out of descriptors, ports or memory, which says nothing of the node and changes no
 * state. Bounded set: used as a metric label.
 */
export type ProbeResult = 'success' | 'failure' | 'timeout' | 'error' | 'local';

/** One probe's result and a short reason for logs, e.g. `HTTP 503` or `ECONNREFUSED`. */
export interface ProbeOutcome {
  readonly result: ProbeResult;
  readonly reason: string;
}

/** A failed connection: `local` for a shortage of this process's own, else `error`, with its reason. */
export function connectErrorOutcome(err: unknown): ProbeOutcome {
  const reason = connectErrorReason(err);
  return { result: isLocalErrorCode(reason) ? 'local' : 'error', reason };
}

/** The reason for a failed connection: the system error code where there is one. */
export function connectErrorReason(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return typeof code === 'string' ? code : err.message;
  }
  return String(err);
}
