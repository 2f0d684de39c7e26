/**
 * Demo "nodes" for single-process mode: one small HTTP server per (node InternalIP, NodePort) of the
 * manifest's LoadBalancer Services, answering with its node name, so `curl` through a VIP shows the
 * balancing. Only for addresses in 127.0.0.0/8: the demo never binds anything else.
 */
import { createServer, type Server } from 'node:http';
import type { NodeObject, ServiceObject } from '../controller/model/kubernetes.ts';
import { UserError } from '../shared/errors.ts';
import { parseIp } from '../shared/ip.ts';

/** One running demo backend. */
export interface DemoBackend {
  readonly node: string;
  readonly address: string;
  readonly port: number;
  readonly service: string;
}

/** Running demo backends and how to stop them. */
export interface DemoBackends {
  readonly backends: readonly DemoBackend[];
  close(): Promise<void>;
}

function internalIp(node: NodeObject): string | undefined {
  return node.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
}

function isLoopback(address: string): boolean {
  const ip = parseIp(address);
  return ip?.family === 4 && ip.text.startsWith('127.');
}

/** Start a backend on every loopback node for every NodePort of every LoadBalancer Service. */
export async function startDemoBackends(
  nodes: readonly NodeObject[],
  services: readonly ServiceObject[],
): Promise<DemoBackends> {
  const wanted: DemoBackend[] = [];
  for (const node of nodes) {
    const address = internalIp(node);
    if (!address || !isLoopback(address)) continue;
    for (const svc of services) {
      if (svc.spec?.type !== 'LoadBalancer') continue;
      for (const p of svc.spec.ports ?? []) {
        if (!p.nodePort || (p.protocol ?? 'TCP') !== 'TCP') continue;
        const service = `${svc.metadata?.namespace ?? 'default'}/${svc.metadata?.name ?? ''}`;
        wanted.push({ node: node.metadata?.name ?? address, address, port: p.nodePort, service });
      }
    }
  }
  const servers: Server[] = [];
  const started: DemoBackend[] = [];
  try {
    for (const b of wanted) {
      const server = createServer((req, res) => {
        res.setHeader('content-type', 'text/plain');
        res.end(
          `hello from ${b.node} (${b.service}, NodePort ${b.port}), you are ${req.socket.remoteAddress}\n`,
        );
      });
      await new Promise<void>((resolve, reject) => {
        server.once('error', (err: NodeJS.ErrnoException) => reject(portProblem(b, err)));
        server.listen(b.port, b.address, () => resolve());
      });
      servers.push(server);
      started.push(b);
    }
  } catch (err) {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    throw err;
  }
  return {
    backends: started,
    close: async () => {
      for (const s of servers) s.closeAllConnections();
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    },
  };
}

/** A demo NodePort that cannot be bound: one line that says why and what to do. */
function portProblem(b: DemoBackend, err: NodeJS.ErrnoException): Error {
  const why =
    err.code === 'EADDRINUSE'
      ? 'is already in use: is another `switchyard run` (npm start) running? Stop it, or pass --no-demo-backends'
      : `cannot be bound (${err.code ?? err.message})`;
  return new UserError([
    {
      code: 'run.demo-port',
      object: `demo node ${b.node}`,
      field: `NodePort of ${b.service}`,
      value: `${b.address}:${b.port}`,
      message: `${b.address}:${b.port} ${why}`,
    },
  ]);
}
