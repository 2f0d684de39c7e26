/**
 * Loopback fixtures for the data-plane tests: random 127.x addresses (so parallel test files and
 * other people's runs do not collide), backends that record what they receive, clients, a
 * "blackhole" backend whose SYNs go unanswered, and tables built through the real parser.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { Worker } from 'node:worker_threads';
import type { ForwardingTable, Listener } from '../../shared/model.ts';
import { parseTable } from '../../shared/table-parse.ts';
import { within } from '../harness/wait.ts';

let counter = 0;
const base = 10 + Math.floor(Math.random() * 200);

/** A fresh 127.x.y.z address for one fixture; no two calls in a process return the same one. */
export function loopbackAddress(): string {
  counter++;
  return `127.${base}.${Math.floor(Math.random() * 250) + 1}.${(counter % 250) + 1}`;
}

// Re-exported for the data-plane tests and fixtures that import them from here.
export { freePort } from '../harness/ports.ts';
export { within };

/** A backend "node": a TCP server on a loopback address that keeps its accepted sockets. */
export interface Backend {
  readonly address: string;
  readonly port: number;
  readonly server: Server;
  readonly sockets: Socket[];
  /** Resolves with the next accepted socket. */
  nextSocket(): Promise<Socket>;
  close(): Promise<void>;
}

/** Start a backend; `onSocket` decides what it does with each connection (default: echo). */
export async function startBackend(
  opts: { address?: string; port?: number; onSocket?: (s: Socket) => void } = {},
): Promise<Backend> {
  const address = opts.address ?? loopbackAddress();
  const sockets: Socket[] = [];
  const waiting: ((s: Socket) => void)[] = [];
  const server = createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => {});
    sockets.push(s);
    (opts.onSocket ?? ((x: Socket) => x.pipe(x)))(s);
    waiting.shift()?.(s);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: address, port: opts.port ?? 0 }, resolve);
  });
  return {
    address,
    port: (server.address() as AddressInfo).port,
    server,
    sockets,
    nextSocket: () => new Promise((resolve) => waiting.push(resolve)),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Connect a client, resolved once connected; half-open clients stay writable after a FIN. */
export async function connectClient(
  host: string,
  port: number,
  opts: { halfOpen?: boolean } = {},
): Promise<Socket> {
  const s = connect({ host, port, allowHalfOpen: opts.halfOpen ?? false });
  await once(s, 'connect');
  return s;
}

/** How a client connection ended. */
export interface Ending {
  readonly data: Buffer;
  /** The error code if the connection was reset (ECONNRESET), else null. */
  readonly error: string | null;
}

/** Collect everything a socket receives until it closes. */
export function collect(s: Socket): Promise<Ending> {
  const chunks: Buffer[] = [];
  let error: string | null = null;
  s.on('data', (d: Buffer) => chunks.push(d));
  s.on('error', (e: NodeJS.ErrnoException) => {
    error = e.code ?? e.message;
  });
  return new Promise((resolve) => s.once('close', () => resolve({ data: Buffer.concat(chunks), error })));
}

/** Connect and wait for the connection to end; resolves with what came back. */
export async function roundTrip(host: string, port: number, send: string): Promise<Ending> {
  const s = connect({ host, port });
  s.on('connect', () => s.end(send));
  return collect(s);
}

/** Connect, send nothing, and wait for the connection to end (how a reset is observed cleanly). */
export function silentClient(host: string, port: number): Promise<Ending> {
  return collect(connect({ host, port }));
}

/** A listener document with test-friendly defaults: TCP health checks, short timeouts. */
export function listenerDoc(fields: Record<string, unknown>): Record<string, unknown> {
  return {
    service: 'default/web',
    port: 8080,
    healthCheck: { type: 'tcp' },
    timeouts: { connect: '1s', idle: '30s', halfClosed: '30s', drain: '2s' },
    ...fields,
  };
}

/** Parse a table through the real parser, failing the test on any problem. */
export function table(listeners: Record<string, unknown>[], version = 1): ForwardingTable {
  const r = parseTable({ version, listeners });
  assert.ok(r.ok, r.ok ? '' : JSON.stringify(r.problems));
  return r.value;
}

/** The single listener of a one-listener table. */
export function onlyListener(t: ForwardingTable): Listener {
  assert.equal(t.listeners.length, 1);
  return t.listeners[0]!;
}

/**
 * A backend address whose SYNs go unanswered: a listener with a full accept queue in a thread that
 * is blocked, so connects to it hang until the caller's timeout. Blocked for at most `maxMs`.
 */
export async function startBlackhole(
  maxMs = 15_000,
): Promise<{ address: string; port: number; close(): Promise<void> }> {
  const address = loopbackAddress();
  const gate = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
     const net = require('node:net');
     const s = net.createServer(() => {});
     s.listen({ host: workerData.address, port: 0, backlog: 1 }, () => {
       parentPort.postMessage(s.address().port);
       // Block in the same turn: this thread's loop never runs again, so it accepts nothing, not
       // even when it is starved of CPU. The message is delivered all the same.
       Atomics.wait(workerData.gate, 0, 0, workerData.maxMs);
     });`,
    { eval: true, workerData: { address, gate, maxMs } },
  );
  const [port] = (await once(worker, 'message')) as [number];
  // The worker blocked before its loop could poll again; fill the accept queue (backlog 1 holds
  // two); later SYNs are dropped.
  const fillers: Socket[] = [];
  for (let i = 0; i < 2; i++) {
    const s = connect({ host: address, port });
    s.on('error', () => {});
    await within(2000, 'fill the blackhole accept queue', once(s, 'connect'));
    fillers.push(s);
  }
  return {
    address,
    port,
    close: async () => {
      for (const s of fillers) s.destroy();
      Atomics.store(gate, 0, 1);
      Atomics.notify(gate, 0);
      await worker.terminate();
    },
  };
}
