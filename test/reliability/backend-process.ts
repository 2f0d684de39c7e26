/**
 * Echo backends ("nodes") in a child process of their own, so that a test with thousands of
 * connections splits the descriptors between two processes (each is capped by the hard limit) and
 * the backend's work runs beside the test's rather than in its event loop. Stopped by PID.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { within } from '../speaker/loopback.ts';
import { NODE } from './speaker-process.ts';

const SCRIPT = `
const net = require('node:net');
const addresses = JSON.parse(process.argv[1]);
const ports = [];
let pending = addresses.length;
for (const address of addresses) {
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => {});
    s.pipe(s);
  });
  server.listen({ host: address, port: 0, backlog: 4096 }, () => {
    ports.push({ address, port: server.address().port });
    if (--pending === 0) process.stdout.write(JSON.stringify(ports) + '\\n');
  });
}`;

/** A backend process with one echo listener per address. */
export interface BackendProcess {
  readonly child: ChildProcess;
  readonly listeners: readonly { address: string; port: number }[];
  close(): Promise<void>;
}

/** Start echo listeners on `addresses` in a child process with `nofile` descriptors. */
export async function startBackendProcess(
  addresses: readonly string[],
  nofile?: number,
): Promise<BackendProcess> {
  const args = ['-e', SCRIPT, JSON.stringify(addresses)];
  const child =
    nofile !== undefined
      ? spawn('prlimit', [`--nofile=${nofile}:${nofile}`, NODE, ...args], {
          stdio: ['ignore', 'pipe', 'inherit'],
        })
      : spawn(NODE, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await within(20_000, 'the backend process to listen', once(child.stdout!, 'data'))) as [
    Buffer,
  ];
  const listeners = JSON.parse(line.toString()) as { address: string; port: number }[];
  listeners.sort((a, b) => addresses.indexOf(a.address) - addresses.indexOf(b.address));
  return {
    child,
    listeners,
    close: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await within(10_000, 'the backend process to exit', exited);
    },
  };
}
