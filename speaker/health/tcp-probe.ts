/**
 * The TCP health probe, for nodes without kube-proxy health (e.g. single-process mode): a node is
 * healthy when its NodePort accepts a connection within the timeout. The socket is closed at once;
 * no byte is sent.
 */
import { connect } from 'node:net';
import { connectErrorOutcome, type ProbeOutcome } from './probe-outcome.ts';

/** Where a TCP probe goes. `address` is a bare IPv4 or IPv6 address (no brackets). */
export interface TcpProbeTarget {
  readonly address: string;
  readonly port: number;
}

/** Probe once: connect, then destroy. Never rejects; an abort destroys the socket at once. */
export function probeTcp(
  target: TcpProbeTarget,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<ProbeOutcome> {
  return new Promise<ProbeOutcome>((resolve) => {
    let settled = false;
    const finish = (outcome: ProbeOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket?.destroy();
      resolve(outcome);
    };
    const onAbort = (): void => finish({ result: 'error', reason: 'aborted' });
    let socket: ReturnType<typeof connect> | undefined;
    const timer = setTimeout(
      () => finish({ result: 'timeout', reason: `no connect within ${timeoutMs} ms` }),
      timeoutMs,
    );
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    socket = connect({ host: target.address, port: target.port });
    socket.once('connect', () => finish({ result: 'success', reason: 'connected' }));
    socket.on('error', (err) => finish(connectErrorOutcome(err)));
  });
}
