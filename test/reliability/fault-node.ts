/**
 * A backend "node" that can be switched into the ways real nodes fail: its NodePort (an echo server
 * that answers with the node's name) and its kube-proxy-style health endpoint (HTTP 200 on
 * /healthz) either work, accept and reset, accept and never answer, or blackhole SYNs (the listening
 * sockets are replaced by ones with a full accept queue in a blocked thread, so SYNs go unanswered).
 * The health endpoint can also fail on its own (HTTP 503) while the NodePort works.
 */
import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { Worker } from 'node:worker_threads';
import { loopbackAddress, within } from '../speaker/loopback.ts';

/** How the node behaves. */
export type NodeMode = 'ok' | 'health-503' | 'accept-reset' | 'accept-silent' | 'blackhole' | 'refuse';

/** Longest time a blackhole thread stays blocked, whatever the test does. */
const BLACKHOLE_MAX_MS = 120_000;

/** One switchable node. */
export class FaultNode {
  readonly name: string;
  readonly address: string;
  dataPort = 0;
  healthPort = 0;
  mode: NodeMode = 'ok';
  /** Connections the NodePort answered since start. */
  served = 0;
  #data: Server | null = null;
  #health: Server | null = null;
  readonly #sockets = new Set<Socket>();
  #blackhole: { worker: Worker; gate: Int32Array; fillers: Socket[] } | null = null;

  private constructor(name: string) {
    this.name = name;
    this.address = loopbackAddress();
  }

  /** Start a node in mode `ok`; `healthPort` 0 picks one (nodes of a test share one, as kube-proxy's). */
  static async start(name: string, healthPort = 0): Promise<FaultNode> {
    const n = new FaultNode(name);
    n.dataPort = await n.#listen('data', 0);
    n.healthPort = await n.#listen('health', healthPort);
    return n;
  }

  /** The node's backend entry for a table. */
  backend(): { node: string; address: string; nodePort: number } {
    return { node: this.name, address: this.address, nodePort: this.dataPort };
  }

  async #listen(kind: 'data' | 'health', port: number): Promise<number> {
    const server = createServer((s) => this.#onSocket(kind, s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: this.address, port, backlog: 1024 }, resolve);
    });
    if (kind === 'data') this.#data = server;
    else this.#health = server;
    return (server.address() as AddressInfo).port;
  }

  #onSocket(kind: 'data' | 'health', s: Socket): void {
    s.on('error', () => {});
    this.#sockets.add(s);
    s.once('close', () => this.#sockets.delete(s));
    const mode = this.mode;
    if (mode === 'accept-reset') {
      s.resetAndDestroy();
      return;
    }
    if (mode === 'accept-silent') {
      s.resume();
      return;
    }
    if (kind === 'health') {
      const status = mode === 'health-503' ? '503 Service Unavailable' : '200 OK';
      s.once('data', () => s.end(`HTTP/1.1 ${status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`));
      return;
    }
    this.served++;
    s.on('data', () => s.write(this.name));
    s.on('end', () => s.end());
  }

  /** Switch the node's behaviour for new connections (and, for `refuse`/`blackhole`, its sockets). */
  async setMode(mode: NodeMode): Promise<void> {
    if (this.mode === 'blackhole' || this.mode === 'refuse') await this.#reopen();
    this.mode = mode;
    if (mode === 'refuse' || mode === 'blackhole') {
      await this.#closeServers();
      if (mode === 'blackhole') await this.#startBlackhole();
    }
  }

  async #closeServers(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await Promise.all(
      [this.#data, this.#health].map(
        (srv) => new Promise<void>((resolve) => (srv ? srv.close(() => resolve()) : resolve())),
      ),
    );
    this.#data = null;
    this.#health = null;
  }

  async #reopen(): Promise<void> {
    await this.#stopBlackhole();
    await this.#listen('data', this.dataPort);
    await this.#listen('health', this.healthPort);
  }

  async #startBlackhole(): Promise<void> {
    const gate = new Int32Array(new SharedArrayBuffer(4));
    const ports = [this.dataPort, this.healthPort];
    const worker = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       const net = require('node:net');
       let pending = workerData.ports.length;
       for (const port of workerData.ports) {
         net.createServer(() => {}).listen({ host: workerData.address, port, backlog: 1 }, () => {
           if (--pending === 0) {
             parentPort.postMessage('listening');
             // Block in the same turn, so this thread accepts nothing from now on, however starved
             // of CPU it is; the message is delivered all the same.
             Atomics.wait(workerData.gate, 0, 0, workerData.maxMs);
           }
         });
       }`,
      { eval: true, workerData: { address: this.address, ports, gate, maxMs: BLACKHOLE_MAX_MS } },
    );
    const fillers: Socket[] = [];
    // Recorded first, so that close() releases the thread whatever happens below.
    this.#blackhole = { worker, gate, fillers };
    // Posted just before the thread blocked: from here on its listeners accept nothing.
    await within(5000, 'the blackhole to listen', once(worker, 'message'));
    // Backlog 1 holds two finished handshakes; fill it so later SYNs are dropped. Probes of the
    // speaker may fill it first, and then a filler never connects: the fillers are waited for only
    // so long (not a fixed sleep, which a loaded machine outlasts); the check below is what counts.
    for (const port of ports) {
      for (let i = 0; i < 2; i++) {
        const s = connect({ host: this.address, port });
        s.on('error', () => {});
        fillers.push(s);
      }
    }
    let fillTimer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(fillers.map((s) => new Promise((r) => s.once('connect', r)))),
      new Promise((r) => {
        fillTimer = setTimeout(r, 1000);
      }),
    ]);
    clearTimeout(fillTimer);
    for (const port of ports) {
      const check = connect({ host: this.address, port });
      check.on('error', () => {});
      fillers.push(check);
      const connected = await Promise.race([
        once(check, 'connect').then(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), 300)),
      ]);
      if (connected) throw new Error(`the blackhole on port ${port} still completes handshakes`);
    }
  }

  async #stopBlackhole(): Promise<void> {
    const b = this.#blackhole;
    if (!b) return;
    this.#blackhole = null;
    for (const s of b.fillers) s.destroy();
    Atomics.store(b.gate, 0, 1);
    Atomics.notify(b.gate, 0);
    await b.worker.terminate();
  }

  /** Stop everything the node runs. */
  async close(): Promise<void> {
    await this.#stopBlackhole();
    await this.#closeServers();
  }
}
