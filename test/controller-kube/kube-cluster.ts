/**
 * What the Kubernetes-mode tests share: a fake API server with a kubeconfig, a real Redis, seeding
 * of pools, nodes and Services, the real `switchyard controller` binary as a child process, and a
 * record of every Service status write the API server stored, with the invariants a load balancer
 * must never break (an IP never moves, two Services never hold one IP).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../shared/log.ts';
import type { ForwardingTable } from '../../shared/model.ts';
import { redisConnectionFrom } from '../../shared/store/redis-options.ts';
import { RedisStore } from '../../shared/store/redis-store.ts';
import type { NodeState, TableSubscription } from '../../shared/store/store.ts';
import { BIN } from '../cli/run-cli.ts';
import { FakeApiServer } from '../fake-apiserver/fake-apiserver.ts';
import { writeKubeconfig } from '../fake-apiserver/kubeconfig.ts';
import type { KubeObject, StoreEvent } from '../fake-apiserver/object-store.ts';
import { startRedis, type TestRedis } from '../harness/redis.ts';
import { Recorder } from '../kube/recorder.ts';

/** Namespace of the pools and the Lease. */
export const SYSTEM_NS = 'switchyard-system';

/** Lease timings short enough for a test, in the order lease duration > renew deadline > 1.2 × retry. */
export const FAST_LEASE = [
  '--leader-election-lease-duration',
  '2s',
  '--leader-election-renew-deadline',
  '1500ms',
  '--leader-election-retry-period',
  '300ms',
];

/** The ingress IPs of a stored Service. */
export function ingressIps(obj: KubeObject | null | undefined): string[] {
  const status = obj?.status as { loadBalancer?: { ingress?: { ip?: string }[] } } | undefined;
  return (status?.loadBalancer?.ingress ?? []).map((i) => i.ip ?? '').filter(Boolean);
}

/** One annotation of a stored object. */
export function annotation(obj: KubeObject | undefined, key: string): string | undefined {
  return (obj?.metadata.annotations as Record<string, string> | undefined)?.[key];
}

function keyOf(obj: KubeObject): string {
  return `${String(obj.metadata.namespace)}/${String(obj.metadata.name)}`;
}

/** One stored change of a Service's ingress IPs. */
export interface IngressChange {
  readonly service: string;
  readonly before: readonly string[];
  readonly after: readonly string[];
}

/** A core/v1 Event as stored. */
export interface StoredEvent {
  readonly object: string;
  readonly reason: string;
  readonly type: string;
  readonly message: string;
  readonly count: number;
  /** The controller replica that recorded it. */
  readonly instance: string;
}

/**
 * Every Service ingress change and Event the API server stores, with the invariants checked on each
 * write: `violations` lists every IP that moved or was held by two Services at once.
 */
export class WriteLog {
  readonly ingress = new Recorder<IngressChange>();
  readonly events = new Recorder<StoredEvent>();
  /** Every stored IPAddressPool status, by pool name. */
  readonly pools = new Recorder<{ readonly pool: string; readonly status: unknown }>();
  readonly violations: string[] = [];
  /** Stored changes of any Service's status (not only its IPs), with the status written. */
  readonly statuses = new Recorder<{ readonly service: string; readonly status: unknown }>();
  /** Service → IPs now, and IP → Service now. */
  readonly #ips = new Map<string, readonly string[]>();
  readonly #holders = new Map<string, string>();
  readonly #unsubscribe: () => void;

  constructor(server: FakeApiServer) {
    this.#unsubscribe = server.store.subscribe((e) => this.#take(e));
  }

  /** Services that hold an IP now, with it. */
  holders(): ReadonlyMap<string, readonly string[]> {
    return new Map([...this.#ips].filter(([, ips]) => ips.length > 0));
  }

  close(): void {
    this.#unsubscribe();
  }

  #take(e: StoreEvent): void {
    if (e.resource.plural === 'events' && e.resource.group === '' && e.type !== 'DELETED') {
      const o = e.object as unknown as {
        involvedObject?: { namespace?: string; name?: string };
        reason?: string;
        type?: string;
        message?: string;
        count?: number;
        reportingInstance?: string;
      };
      this.events.push({
        object: `${o.involvedObject?.namespace}/${o.involvedObject?.name}`,
        reason: o.reason ?? '',
        type: o.type ?? '',
        message: o.message ?? '',
        count: o.count ?? 1,
        instance: o.reportingInstance ?? '',
      });
      return;
    }
    if (e.resource.plural === 'ipaddresspools') {
      this.pools.push({ pool: String(e.object.metadata.name), status: e.object.status });
      return;
    }
    if (e.resource.plural !== 'services' || e.resource.group !== '') return;
    const service = keyOf(e.object);
    const status = e.type === 'DELETED' ? {} : (e.object.status ?? {});
    if (JSON.stringify(e.previous?.status ?? {}) !== JSON.stringify(status)) {
      this.statuses.push({ service, status });
    }
    const before = ingressIps(e.previous);
    const after = e.type === 'DELETED' ? [] : ingressIps(e.object);
    if (before.join() === after.join()) return;
    if (before.length > 0 && e.type !== 'DELETED') {
      this.violations.push(`${service} changed ${before.join(',')} -> ${after.join(',') || '(none)'}`);
    }
    for (const ip of before) this.#holders.delete(ip);
    for (const ip of after) {
      const other = this.#holders.get(ip);
      if (other !== undefined && other !== service)
        this.violations.push(`${ip} written to ${service} while ${other} holds it`);
      this.#holders.set(ip, service);
    }
    this.#ips.set(service, after);
    this.ingress.push({ service, before, after });
  }
}

/** A fake API server, its kubeconfig, a Redis, and the log of what was written. */
export class TestCluster {
  readonly server: FakeApiServer;
  readonly redis: TestRedis;
  readonly kubeconfig: string;
  readonly writes: WriteLog;
  readonly #dir: string;
  /** Every forwarding table published to Redis, as a speaker receives them. */
  readonly tables = new Recorder<ForwardingTable>();
  readonly #controllers = new Set<ControllerProcess>();
  readonly #store: RedisStore;
  readonly #subscription: TableSubscription;

  private constructor(server: FakeApiServer, redis: TestRedis, dir: string, kubeconfig: string) {
    this.server = server;
    this.redis = redis;
    this.#dir = dir;
    this.kubeconfig = kubeconfig;
    this.writes = new WriteLog(server);
    const conn = redisConnectionFrom({ redisUrl: redis.url });
    if (!conn.ok) throw new Error('bad test Redis URL');
    this.#store = new RedisStore(conn.value, { logger: silentLogger() });
    this.#subscription = this.#store.subscribeTable({ onTable: (t) => this.tables.push(t) });
  }

  /** Start the fake API server (with a node and the system namespace) and a Redis. */
  static async start(): Promise<TestCluster> {
    const dir = await mkdtemp(join(tmpdir(), 'switchyard-kubemode-'));
    const server = await FakeApiServer.start({ namespaces: ['default', SYSTEM_NS] });
    const redis = await startRedis();
    const cluster = new TestCluster(
      server,
      redis,
      dir,
      await server.writeKubeconfig(join(dir, 'kubeconfig')),
    );
    cluster.seedNode('node-a', '127.0.0.2');
    return cluster;
  }

  /** An IPAddressPool in the system namespace. */
  seedPool(name: string, addresses: readonly string[]): void {
    this.server.seed({
      apiVersion: 'switchyard.io/v1beta1',
      kind: 'IPAddressPool',
      metadata: { name, namespace: SYSTEM_NS },
      spec: { addresses: [...addresses] },
    });
  }

  /** A Ready node with one InternalIP. */
  seedNode(name: string, address: string): void {
    this.server.seed({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name },
      status: {
        addresses: [{ type: 'InternalIP', address }],
        conditions: [{ type: 'Ready', status: 'True' }],
      },
    });
  }

  /**
   * A LoadBalancer Service with one TCP port. `createdSecondsAgo` orders Services by age, which is
   * the order the allocator serves them in (the fake stamps creation with seconds precision).
   */
  seedService(namespace: string, name: string, port = 80, createdSecondsAgo = 0): void {
    const created = new Date(Date.now() - createdSecondsAgo * 1000);
    this.server.seed({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace, creationTimestamp: `${created.toISOString().slice(0, 19)}Z` },
      spec: {
        type: 'LoadBalancer',
        ports: [{ name: 'http', protocol: 'TCP', port, nodePort: 30000 + port }],
      },
    });
  }

  /** The stored Service. */
  service(namespace: string, name: string): KubeObject | undefined {
    return this.server.read('services', namespace, name);
  }

  /** The leader-election Lease's holder ('' when released), or undefined while there is no Lease. */
  leaseHolder(): string | undefined {
    const lease = this.server.read('leases.coordination.k8s.io', SYSTEM_NS, 'switchyard-controller');
    return (lease?.spec as { holderIdentity?: string } | undefined)?.holderIdentity;
  }

  /** Resolves once a published table satisfies `pred`. */
  tableWhere(pred: (t: ForwardingTable) => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    return this.tables.until((ts) => ts.length > 0 && pred(ts.at(-1)!), what, timeoutMs);
  }

  /** The node states the controller published, as a speaker reads them (null: none). */
  nodeStates(): Promise<ReadonlyMap<string, NodeState> | null> {
    return this.#store.nodeStates();
  }

  /** The highest controller term the store accepted. */
  controllerTerm(): Promise<number> {
    return this.#store.controllerTerm();
  }

  /** A kubeconfig for this cluster's token that points at `url` (a proxy in front of the API server). */
  kubeconfigVia(url: string, name: string): Promise<string> {
    return writeKubeconfig(join(this.#dir, name), url, this.server.token);
  }

  /**
   * Start `switchyard controller` against this cluster; `via` points it at the API server or Redis
   * through something else (a proxy), as kubeconfig path and Redis URL.
   */
  startController(
    identity: string,
    extra: readonly string[] = [],
    via: { readonly kubeconfig?: string; readonly redisUrl?: string } = {},
  ): ControllerProcess {
    const c = new ControllerProcess([
      'controller',
      '--kubeconfig',
      via.kubeconfig ?? this.kubeconfig,
      '--redis-url',
      via.redisUrl ?? this.redis.url,
      '--kube-proxy-health-port',
      '0',
      '--identity',
      identity,
      '--leader-election-namespace',
      SYSTEM_NS,
      // Several controllers run on this one host: each metrics endpoint takes a free port.
      '--metrics-address',
      '127.0.0.1:0',
      ...extra,
    ]);
    this.#controllers.add(c);
    return c;
  }

  /** Kill any controller still running, then stop everything. */
  async close(): Promise<void> {
    for (const c of this.#controllers) await c.kill();
    this.writes.close();
    await this.#subscription.close();
    await this.#store.close();
    await this.server.close();
    await this.redis.stop();
    await rm(this.#dir, { recursive: true, force: true });
  }
}

/** One parsed log line of the controller. */
export interface ControllerLogLine {
  readonly level: number;
  readonly event?: string;
  readonly msg?: string;
  readonly [key: string]: unknown;
}

/** The real controller binary as a child process, its log lines awaitable. */
export class ControllerProcess {
  readonly logs = new Recorder<ControllerLogLine>();
  readonly #child: ChildProcess;
  readonly #exited: Promise<number | null>;
  stderr = '';

  constructor(args: readonly string[]) {
    this.#child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#exited = once(this.#child, 'exit').then(([code]) => code as number | null);
    let buffered = '';
    this.#child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.trim()) continue;
        try {
          this.logs.push(JSON.parse(line) as ControllerLogLine);
        } catch {
          this.stderr += `${line}\n`;
        }
      }
    });
    this.#child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
    });
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** Resolves once the controller logged `event`. */
  logged(event: string, timeoutMs = 10_000): Promise<void> {
    return this.logs.until((ls) => ls.some((l) => l.event === event), `log event ${event}`, timeoutMs);
  }

  /** SIGTERM and the exit code (null when it had to be killed after `timeoutMs`). */
  async stop(timeoutMs = 10_000): Promise<number | null> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return this.#child.exitCode;
    this.#child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const r = await Promise.race([this.#exited, timeout]);
    clearTimeout(timer);
    if (r === 'timeout') {
      await this.kill();
      return null;
    }
    return r;
  }

  /** SIGKILL, as a crashed node would; resolves once it is gone. */
  async kill(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    this.#child.kill('SIGKILL');
    await this.#exited;
  }
}
