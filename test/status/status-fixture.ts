/** Manifests, processes and HTTP clients the status tests share: loopback only, every wait bounded. */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { BIN } from '../cli/run-cli.ts';

/** A manifest of one pool, `services` Services with fixed VIPs from it, and two loopback nodes. */
export function statusManifest(opts: {
  readonly pool: string;
  readonly vips: readonly string[];
  readonly port: number;
  readonly nodes: readonly { name: string; address: string }[];
  readonly firstNodePort: number;
}): string {
  const docs = [
    `apiVersion: switchyard.io/v1beta1
kind: IPAddressPool
metadata: { name: status-pool, namespace: switchyard-system }
spec:
  addresses: ["${opts.pool}"]`,
    ...opts.vips.map(
      (vip, i) => `apiVersion: v1
kind: Service
metadata:
  name: svc-${i + 1}
  namespace: st
  annotations: { switchyard.io/loadBalancerIPs: "${vip}" }
spec:
  type: LoadBalancer
  ports: [{ name: tcp, protocol: TCP, port: ${opts.port}, targetPort: ${opts.port}, nodePort: ${opts.firstNodePort + i} }]`,
    ),
    ...opts.nodes.map(
      (n) => `apiVersion: v1
kind: Node
metadata: { name: ${n.name} }
status:
  conditions: [{ type: Ready, status: "True" }]
  addresses: [{ type: InternalIP, address: ${n.address} }]`,
    ),
  ];
  return `${docs.join('\n---\n')}\n`;
}

export { freePort } from '../harness/ports.ts';

/** A running `switchyard` child with its output so far. */
export interface Child {
  readonly proc: ChildProcess;
  out(): string;
  /** Resolves when `pattern` shows in stdout or stderr; rejects past `timeoutMs` or on exit. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<void>;
  /** SIGTERM, then SIGKILL after 10 s; resolves on exit. */
  stop(): Promise<void>;
}

/** Start `switchyard ARGS...`. */
export function startSwitchyard(args: readonly string[]): Child {
  const proc = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const waiters = new Set<() => void>();
  const onData = (d: Buffer) => {
    text += d.toString();
    for (const w of waiters) w();
  };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  proc.on('exit', () => {
    for (const w of waiters) w();
  });
  return {
    proc,
    out: () => text,
    waitFor: (pattern, timeoutMs) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (pattern.test(text)) done(null);
          else if (proc.exitCode !== null || proc.signalCode !== null)
            done(new Error(`exited before ${pattern}: ${text}`));
        };
        const timer = setTimeout(
          () => done(new Error(`no ${pattern} within ${timeoutMs} ms: ${text}`)),
          timeoutMs,
        );
        const done = (err: Error | null) => {
          clearTimeout(timer);
          waiters.delete(check);
          if (err) reject(err);
          else resolve();
        };
        waiters.add(check);
        check();
      }),
    stop: async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = once(proc, 'exit');
      proc.kill('SIGTERM');
      const kill = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(kill);
    },
  };
}

/** Open a TCP connection to `host:port`, send a line, read the first reply chunk, close (bounded). */
export function exchange(host: string, port: number, text: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host, port });
    const timer = setTimeout(() => sock.destroy(new Error(`no reply from ${host}:${port}`)), timeoutMs);
    sock.once('connect', () => sock.write(text));
    sock.once('data', (d) => {
      clearTimeout(timer);
      sock.end();
      resolve(d.toString());
    });
    sock.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}
