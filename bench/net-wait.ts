/** Waiting for a freshly started server to accept TCP connections. */
import { connect } from 'node:net';
import type { Child } from './processes.ts';

/** Interval between connection attempts while a server starts. */
const POLL_MS = 50;

function tryConnect(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host, port });
    const finish = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => finish(false));
    sock.once('connect', () => finish(true));
    sock.once('error', () => finish(false));
  });
}

/**
 * Resolve once `host:port` accepts a connection. Rejects when `child` (the server being waited for)
 * exits first, or after `timeoutMs`, with the child's last output in the message.
 */
export async function waitForPort(
  host: string,
  port: number,
  child: Child | null,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child?.hasExited) throw new Error(child.describeExit());
    if (await tryConnect(host, port, 1000)) return;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  throw new Error(
    `${host}:${port} did not accept a connection within ${timeoutMs} ms${child ? `; ${child.describeExit()}` : ''}`,
  );
}
