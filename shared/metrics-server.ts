/**
 * The Prometheus endpoint: `GET /metrics` renders the registry; `GET /healthz` says the process is up;
 * `GET /livez` says whether it is still doing its work (503 with the reason when not: a liveness
 * probe restarts it); JSON routes (such as `GET /status`) answer with what their handler returns.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { UserError } from './errors.ts';
import { parseIp } from './ip.ts';
import type { Logger } from './log.ts';

/** A host and port to listen on. */
export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** Parse `host:port` or `[v6]:port` (the host must be an IP address; port 0 picks a free one). */
export function parseHostPort(text: string): HostPort | null {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(text) ?? /^([^:]+):(\d{1,5})$/.exec(text);
  if (!m) return null;
  const ip = parseIp(m[1]!);
  const port = Number(m[2]);
  if (!ip || port > 65535) return null;
  return { host: ip.text, port };
}

/** JSON routes by path: each handler's value is sent as `application/json`. */
export type JsonRoutes = ReadonlyMap<string, () => Promise<unknown>>;

/** Why the process should be restarted, or null while it is healthy. */
export type LivenessCheck = () => string | null;

/** A running metrics endpoint. */
export interface MetricsServer {
  readonly address: AddressInfo;
  close(): Promise<void>;
}

/** Serve `registry` on `at`. */
export async function startMetricsServer(
  at: HostPort,
  registry: Registry,
  logger: Logger,
  jsonRoutes: JsonRoutes = new Map(),
  liveness: LivenessCheck = () => null,
): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/metrics') {
      registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': registry.contentType });
          res.end(text);
        },
        (err: unknown) => {
          logger.error({ event: 'metrics-error', err });
          res.writeHead(500).end();
        },
      );
    } else if (req.method === 'GET' && path !== undefined && jsonRoutes.has(path)) {
      jsonRoutes.get(path)!().then(
        (value) => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(`${JSON.stringify(value)}\n`);
        },
        (err: unknown) => {
          logger.error({ event: 'json-route-error', path, err });
          res.writeHead(500, { 'content-type': 'application/json' });
          res.end(`${JSON.stringify({ error: err instanceof Error ? err.message : String(err) })}\n`);
        },
      );
    } else if (req.method === 'GET' && path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (req.method === 'GET' && path === '/livez') {
      const problem = liveness();
      if (problem !== null) logger.warn({ event: 'liveness-failed', reason: problem }, problem);
      res
        .writeHead(problem === null ? 200 : 503, { 'content-type': 'text/plain' })
        .end(`${problem ?? 'ok'}\n`);
    } else res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(bindProblem(at, err)));
    server.listen({ host: at.host, port: at.port }, () => {
      server.removeAllListeners('error');
      resolve();
    });
  });
  return {
    address: server.address() as AddressInfo,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A metrics address that cannot be bound is a user error: one line naming the flag and the fix. */
function bindProblem(at: HostPort, err: NodeJS.ErrnoException): Error {
  const where = `${at.host.includes(':') ? `[${at.host}]` : at.host}:${at.port}`;
  const why =
    err.code === 'EADDRINUSE'
      ? 'is already in use; stop the other process or choose another port'
      : err.code === 'EADDRNOTAVAIL'
        ? 'is not an address of this machine; use 127.0.0.1 or 0.0.0.0'
        : err.code === 'EACCES'
          ? 'needs privileges (ports below 1024); choose a port above 1024'
          : `cannot be bound (${err.code ?? err.message})`;
  return new UserError([
    {
      code: 'metrics.bind',
      object: 'metrics endpoint',
      field: '--metrics-address',
      value: where,
      message: `${where} ${why}`,
    },
  ]);
}
