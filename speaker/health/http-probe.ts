/**
 * The HTTP health probe: `GET path` on a node's health port, healthy only on status 200. This is what
 * kube-proxy answers on `/healthz` (port 10256) and on a `Local` Service's healthCheckNodePort, where
 * it says 503 on nodes without a local endpoint.
 */
import { request } from 'node:http';
import { connectErrorOutcome, type ProbeOutcome } from './probe-outcome.ts';

/** Bytes of response body read before the probe stops listening; health bodies are tiny. */
export const HTTP_BODY_CAP_BYTES = 4096;

const USER_AGENT = 'switchyard-health/1';

/** Where an HTTP probe goes. `address` is a bare IPv4 or IPv6 address (no brackets). */
export interface HttpProbeTarget {
  readonly address: string;
  readonly port: number;
  readonly path: string;
}

/**
 * Probe once. The timeout covers connect, headers and body; the connection is never reused (no
 * agent, `Connection: close`) so a probe sees the node as a new client would. Never rejects; an
 * abort (the target was removed or the checker closed) destroys the socket at once.
 */
export function probeHttp(
  target: HttpProbeTarget,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<ProbeOutcome> {
  return new Promise<ProbeOutcome>((resolve) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    let req: ReturnType<typeof request> | undefined;
    const finish = (outcome: ProbeOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      req?.destroy();
      resolve(outcome);
    };
    const onAbort = (): void => finish({ result: 'error', reason: 'aborted' });
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    timer = setTimeout(
      () => finish({ result: 'timeout', reason: `no answer within ${timeoutMs} ms` }),
      timeoutMs,
    );
    try {
      req = request({
        hostname: target.address,
        port: target.port,
        path: target.path,
        method: 'GET',
        agent: false,
        headers: { connection: 'close', 'user-agent': USER_AGENT, accept: '*/*' },
      });
    } catch (err) {
      // A path with characters HTTP cannot carry; the table parser should have refused it.
      return finish(connectErrorOutcome(err));
    }
    req.on('error', (err) => finish(connectErrorOutcome(err)));
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      const outcome: ProbeOutcome =
        status === 200
          ? { result: 'success', reason: 'HTTP 200' }
          : { result: 'failure', reason: `HTTP ${status}` };
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        // Enough read: the status decides; a node that streams a body must not hold the probe.
        if (bytes > HTTP_BODY_CAP_BYTES) finish(outcome);
      });
      res.on('end', () => finish(outcome));
      // The socket is destroyed under the response when the probe finishes first; nothing to report.
      res.on('error', () => finish(outcome));
    });
    req.end();
  });
}
