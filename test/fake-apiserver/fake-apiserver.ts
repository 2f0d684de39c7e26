/**
 * A Kubernetes API server stand-in for tests: node:http on 127.0.0.1, port 0, speaking the real
 * REST and watch protocol well enough that `@kubernetes/client-node` runs against it unchanged.
 * Besides the API it offers test hooks: seed and read objects, cut every open watch, compact the
 * history (so old resourceVersions get 410), hold new watches before they are answered, go
 * unavailable and come back, count requests, and write a kubeconfig that points at it.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import * as status from './api-status.ts';
import { discoveryDocument } from './discovery.ts';
import { writeKubeconfig } from './kubeconfig.ts';
import { type KubeObject, ObjectStore } from './object-store.ts';
import type { Json } from './patch.ts';
import { apiVersionOf, DEFAULT_RESOURCES, parsePath, type ResourceType } from './resources.ts';
import { fail, handleResource, type Reply, sendJson, type Verb, verbOf } from './rest-handler.ts';
import type { WatchStream } from './watch-stream.ts';

/** Options of the fake API server. */
export interface FakeApiServerOptions {
  /** Bearer token clients must send; random when not given. */
  readonly token?: string;
  /** Resource types served in addition to DEFAULT_RESOURCES. */
  readonly extraResources?: readonly ResourceType[];
  /** Changes kept for watches; beyond this, old resourceVersions get 410. */
  readonly maxHistory?: number;
  /** How often a watch that allows bookmarks gets one. */
  readonly bookmarkIntervalMs?: number;
  /** Namespaces that exist from the start, as on a fresh cluster. */
  readonly namespaces?: readonly string[];
}

/** An object to seed: any JSON object with apiVersion, kind and a name. */
export interface SeedObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly [key: string]: unknown };
  readonly [key: string]: unknown;
}

/** How the server is unavailable: listener closed (connection refused) or every request 503. */
export type UnavailableMode = 'refuse' | '503';

/** How a cut watch ends: cleanly (as a server-side timeout) or by dropping the connection. */
export type CutMode = 'end' | 'destroy';

/** WATCH requests held before their response starts; see `FakeApiServer.holdWatches`. */
export interface WatchHold {
  /** Resolves once `count` watch requests are waiting. */
  held(count: number): Promise<void>;
  /** Answer every held watch, and stop holding new ones. */
  release(): void;
}

/** The server's side of a `WatchHold`. */
interface WatchHoldState {
  readonly gate: Promise<void>;
  waiting: number;
  /** `held(count)` calls not yet satisfied. */
  readonly waiters: { readonly count: number; readonly resolve: () => void }[];
}

const MAX_BODY_BYTES = 3 * 1024 * 1024;

/** A running fake API server and its test hooks. */
export class FakeApiServer {
  readonly store: ObjectStore;
  readonly token: string;
  readonly resources: readonly ResourceType[];
  readonly #server: Server;
  readonly #bookmarkIntervalMs: number;
  readonly #watches = new Set<WatchStream>();
  readonly #sockets = new Set<Socket>();
  readonly #counts = new Map<string, number>();
  readonly #watchWaiters: { plural: string | null; resolve: () => void }[] = [];
  readonly #idleWaiters: (() => void)[] = [];
  #port = 0;
  #unavailable: UnavailableMode | null = null;
  /** Set while watches are held: each held request waits for `gate`. */
  #watchHold: WatchHoldState | null = null;

  private constructor(opts: FakeApiServerOptions) {
    this.token = opts.token ?? randomBytes(16).toString('hex');
    this.resources = [...DEFAULT_RESOURCES, ...(opts.extraResources ?? [])];
    this.store = new ObjectStore({ maxHistory: opts.maxHistory ?? 10_000 });
    for (const r of this.resources) this.store.register(r);
    this.#bookmarkIntervalMs = opts.bookmarkIntervalMs ?? 1000;
    for (const ns of opts.namespaces ?? ['default', 'kube-system', 'kube-public', 'kube-node-lease']) {
      this.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns }, status: { phase: 'Active' } });
    }
    this.#server = createServer((req, res) => this.#handle(req, res));
    this.#server.on('connection', (s: Socket) => {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
  }

  /** Start a server on 127.0.0.1, port 0. */
  static async start(opts: FakeApiServerOptions = {}): Promise<FakeApiServer> {
    const s = new FakeApiServer(opts);
    await s.#listen(0);
    return s;
  }

  async #listen(port: number): Promise<void> {
    this.#server.listen(port, '127.0.0.1');
    await once(this.#server, 'listening');
    this.#port = (this.#server.address() as AddressInfo).port;
  }

  /** `http://127.0.0.1:PORT`. */
  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  /** Stop listening and drop every connection. */
  async close(): Promise<void> {
    this.cutWatches('destroy');
    for (const s of this.#sockets) s.destroy();
    if (this.#server.listening) {
      const closed = once(this.#server, 'close');
      this.#server.close();
      await closed;
    }
  }

  /** Write a kubeconfig for this server to `path`; returns the path. */
  writeKubeconfig(path: string): Promise<string> {
    return writeKubeconfig(path, this.url, this.token);
  }

  // ---- objects ----

  /** The served resource type for `apiVersion` + `kind` (core and events.k8s.io Events differ). */
  resourceFor(apiVersion: string, kind: string): ResourceType {
    const r = this.resources.find((x) => apiVersionOf(x) === apiVersion && x.kind === kind);
    if (!r) throw new Error(`fake API server does not serve ${apiVersion} ${kind}`);
    return r;
  }

  /** Resource type by plural, optionally `plural.group`, e.g. `services`, `ipaddresspools.switchyard.io`. */
  resource(plural: string): ResourceType {
    const [p, ...g] = plural.split('.');
    const group = g.join('.');
    const r = this.resources.find((x) => x.plural === p && x.group === group);
    if (!r) throw new Error(`fake API server does not serve ${plural}`);
    return r;
  }

  /**
   * Store an object as is, status included, creating or replacing it (missing namespaces are
   * created first). Watches see ADDED or MODIFIED. Returns the stored object.
   */
  seed(obj: SeedObject): KubeObject {
    const r = this.resourceFor(obj.apiVersion, obj.kind);
    const ns = r.namespaced ? (obj.metadata.namespace ?? 'default') : null;
    if (ns !== null && !this.store.get(this.resource('namespaces'), null, ns)) {
      this.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns }, status: { phase: 'Active' } });
    }
    return this.store.put(r, obj as unknown as KubeObject);
  }

  /** One stored object by plural (see `resource`), or undefined. */
  read(plural: string, namespace: string | null, name: string): KubeObject | undefined {
    return this.store.get(this.resource(plural), namespace, name);
  }

  /** Stored objects of a plural, in one namespace or all. */
  list(plural: string, namespace: string | null = null): KubeObject[] {
    return this.store.list(this.resource(plural), namespace);
  }

  /** Delete an object as a client would; watches see DELETED. */
  remove(plural: string, namespace: string | null, name: string): boolean {
    return this.store.delete(this.resource(plural), namespace, name).ok;
  }

  // ---- faults ----

  /** End (cleanly) or drop every open watch; returns how many were open. */
  cutWatches(mode: CutMode = 'end'): number {
    const open = [...this.#watches];
    for (const w of open) {
      if (mode === 'end') w.end();
      else w.destroy();
    }
    return open.length;
  }

  /**
   * Hold every new WATCH before its response starts, as a slow server (or a slow network) does,
   * so a test can act while a client is still waiting for the watch to be established.
   */
  holdWatches(): WatchHold {
    let open = (): void => {};
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const hold: WatchHoldState = { gate, waiting: 0, waiters: [] };
    this.#watchHold = hold;
    return {
      held: (count) =>
        hold.waiting >= count
          ? Promise.resolve()
          : new Promise((resolve) => hold.waiters.push({ count, resolve })),
      release: () => {
        if (this.#watchHold === hold) this.#watchHold = null;
        open();
      },
    };
  }

  /** Forget the change history: a watch from any earlier resourceVersion gets 410 Expired. */
  compact(): void {
    this.store.compact();
  }

  /**
   * Become unavailable: `refuse` closes the listener and drops every connection (clients see
   * ECONNREFUSED); `503` answers every request with a ServiceUnavailable Status and drops watches.
   */
  async setUnavailable(mode: UnavailableMode): Promise<void> {
    this.#unavailable = mode;
    this.cutWatches('destroy');
    if (mode === 'refuse') {
      const closed = once(this.#server, 'close');
      this.#server.close();
      for (const s of this.#sockets) s.destroy();
      await closed;
    }
  }

  /** Serve again, on the same port. */
  async setAvailable(): Promise<void> {
    const mode = this.#unavailable;
    this.#unavailable = null;
    if (mode === 'refuse') await this.#listen(this.#port);
  }

  // ---- observation ----

  /** Requests seen for `verb` (and `resource`, e.g. `services` or `services/status`), all verbs when omitted. */
  requestCount(verb?: Verb, resource?: string): number {
    let n = 0;
    for (const [key, count] of this.#counts) {
      const [v, r] = key.split(' ');
      if ((verb === undefined || v === verb) && (resource === undefined || r === resource)) n += count;
    }
    return n;
  }

  /** Every counter, `VERB RESOURCE[/status]` → requests. */
  requestCounts(): ReadonlyMap<string, number> {
    return new Map(this.#counts);
  }

  /** Zero every request counter. */
  resetCounts(): void {
    this.#counts.clear();
  }

  /** Watches open now, on one plural or all. */
  openWatches(plural?: string): number {
    let n = 0;
    for (const w of this.#watches) if (plural === undefined || w.filter.resource.plural === plural) n++;
    return n;
  }

  /** Resolves when the next watch (on `plural`, or any) is established. */
  nextWatch(plural?: string): Promise<void> {
    return new Promise((resolve) => this.#watchWaiters.push({ plural: plural ?? null, resolve }));
  }

  /** Resolves once no watch is open (clients that stopped have closed their connections). */
  noWatches(): Promise<void> {
    if (this.#watches.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  // ---- HTTP ----

  #count(verb: Verb, r: ResourceType, subresource: string | null): void {
    const name =
      (r.group === '' ? r.plural : `${r.plural}.${r.group}`) + (subresource ? `/${subresource}` : '');
    const key = `${verb} ${name}`;
    this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1);
  }

  #trackWatch(w: WatchStream): void {
    this.#watches.add(w);
    w.onClose(() => {
      this.#watches.delete(w);
      if (this.#watches.size === 0) for (const resolve of this.#idleWaiters.splice(0)) resolve();
    });
    for (let i = this.#watchWaiters.length - 1; i >= 0; i--) {
      const waiter = this.#watchWaiters[i]!;
      if (waiter.plural === null || waiter.plural === w.filter.resource.plural) {
        this.#watchWaiters.splice(i, 1);
        waiter.resolve();
      }
    }
  }

  async #readBody(req: IncomingMessage): Promise<Buffer | null> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) return null;
      chunks.push(chunk);
    }
    return Buffer.concat(chunks);
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    this.#serve(req, res).catch((err: unknown) => {
      // A broken invariant in the fake itself: answer 500 so the test sees it rather than hanging.
      const body = { kind: 'Status', apiVersion: 'v1', status: 'Failure', message: String(err), code: 500 };
      if (!res.headersSent) sendJson(res, { code: 500, body });
      else res.destroy();
    });
  }

  async #serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const reply = await this.#answer(req, res);
    if (reply) sendJson(res, reply);
  }

  async #answer(req: IncomingMessage, res: ServerResponse): Promise<Reply | null> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const path = parsePath(url.pathname, this.resources);
    const method = req.method ?? 'GET';
    let verb: Verb | null = null;
    if (path.type === 'resource') {
      verb = verbOf(method, path.name !== null, url.searchParams);
      if (verb) this.#count(verb, path.resource, path.subresource);
    }
    if (this.#unavailable === '503') return fail(status.unavailable());
    if (req.headers.authorization !== `Bearer ${this.token}`) return fail(status.unauthorized());
    if (path.type === 'discovery') {
      const doc = method === 'GET' ? discoveryDocument(url.pathname, this.resources) : null;
      return doc ? { code: 200, body: doc } : fail(status.pathNotFound(url.pathname));
    }
    if (path.type === 'unknown') return fail(status.pathNotFound(url.pathname));
    if (!verb) return fail(status.methodNotAllowed(method, url.pathname));
    const raw = await this.#readBody(req);
    if (raw === null) return fail(status.tooLarge(MAX_BODY_BYTES));
    const hold = verb === 'watch' ? this.#watchHold : null;
    if (hold) {
      hold.waiting++;
      for (let i = hold.waiters.length - 1; i >= 0; i--) {
        const w = hold.waiters[i]!;
        if (w.count <= hold.waiting) {
          hold.waiters.splice(i, 1);
          w.resolve();
        }
      }
      await hold.gate;
      // The client may have given up meanwhile; a response to a closed request is never sent.
      if (req.socket.destroyed) return null;
    }
    let body: Json = null;
    if (raw.length > 0) {
      try {
        body = JSON.parse(raw.toString('utf8')) as Json;
      } catch (err) {
        return fail(status.badRequest(`the request body is not JSON: ${(err as Error).message}`));
      }
    }
    return handleResource(
      {
        store: this.store,
        bookmarkIntervalMs: this.#bookmarkIntervalMs,
        trackWatch: (w) => this.#trackWatch(w),
      },
      { req, res, verb, ...path, query: url.searchParams, body },
    );
  }
}
