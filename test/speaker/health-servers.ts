/**
 * Loopback servers for the health tests: a scripted HTTP health endpoint that counts requests per
 * path, and a TCP server that accepts and never answers. Port 0; the test closes them in after().
 */
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { type AddressInfo, createServer as createTcpServer, type Server, type Socket } from 'node:net';
import type { HealthCheck, HealthTiming } from '../../shared/model.ts';
import { type HealthTarget, healthTargetKey } from '../../speaker/health/health-target.ts';

/** A health endpoint whose n-th answer is `script[n]` (the last entry repeats). */
export interface ScriptedHealthServer {
  readonly port: number;
  /** Paths of the requests received, in order. */
  readonly requests: string[];
  /** `Connection` header of each request. */
  readonly connectionHeaders: (string | undefined)[];
  /** Statuses to answer with; replace to change what comes next. */
  script: number[];
  /** Resolves once `requests.length` reaches `n` (at once if it has). */
  waitForRequests(n: number, path?: string): Promise<void>;
  close(): Promise<void>;
}

/** Start a scripted HTTP health endpoint on `host`. */
export async function startHealthServer(
  host: string,
  script: number[] = [200],
): Promise<ScriptedHealthServer> {
  const waiters: { n: number; path: string | undefined; resolve: () => void }[] = [];
  const count = (path: string | undefined): number =>
    path === undefined ? self.requests.length : self.requests.filter((p) => p === path).length;
  const server: HttpServer = createHttpServer((req, res) => {
    const index = self.requests.length;
    self.requests.push(req.url ?? '');
    self.connectionHeaders.push(req.headers.connection);
    const status = self.script[Math.min(index, self.script.length - 1)] ?? 200;
    res.writeHead(status, { 'content-type': 'text/plain' });
    res.end(status === 200 ? 'ok\n' : 'no local endpoints\n');
    for (const w of [...waiters]) {
      if (count(w.path) >= w.n) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const self: ScriptedHealthServer = {
    port: (server.address() as AddressInfo).port,
    requests: [],
    connectionHeaders: [],
    script,
    waitForRequests(n, path) {
      if (count(path) >= n) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ n, path, resolve }));
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
  return self;
}

/** A TCP server that accepts connections and never sends a byte. */
export interface SilentServer {
  readonly port: number;
  /** Resolves with the next accepted socket (or the first one not yet taken). */
  nextConnection(): Promise<Socket>;
  close(): Promise<void>;
}

/** Start a server that accepts and never answers, for timeouts and abandoned probes. */
export async function startSilentServer(host: string): Promise<SilentServer> {
  const sockets = new Set<Socket>();
  const queued: Socket[] = [];
  const waiting: ((s: Socket) => void)[] = [];
  const server: Server = createTcpServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    // Read and discard, so the peer's FIN is seen and the socket closes.
    s.resume();
    const w = waiting.shift();
    if (w) w(s);
    else queued.push(s);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return {
    port: (server.address() as AddressInfo).port,
    nextConnection() {
      const s = queued.shift();
      return s ? Promise.resolve(s) : new Promise((resolve) => waiting.push(resolve));
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** A port on `host` where nothing listens: bound, then released. */
export async function closedPort(host: string): Promise<number> {
  const server = createTcpServer();
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A probe target as `healthTargets` would build it. */
export function target(
  node: string,
  address: string,
  port: number,
  timing: HealthTiming,
  check: HealthCheck = { type: 'http', port, path: '/healthz' },
): HealthTarget {
  const key = healthTargetKey(check, { node, address, nodePort: port });
  return { key, node, address, port, check, timing };
}
