/**
 * The store on Redis (standalone or Sentinel) through ioredis. One connection carries commands and
 * a second one, opened on the first subscription, carries the table channel. Multi-key changes are
 * Lua scripts (redis-scripts.ts) or MULTI transactions, so readers never see half a change; the key
 * layout is in store-keys.ts and docs/store.md.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { type Logger, silentLogger } from '../log.ts';
import type { ForwardingTable } from '../model.ts';
import { type RedisConnection, redactUrl, withoutReplay } from './redis-options.ts';
import { defineScripts, type ScriptRunner } from './redis-scripts.ts';
import { redisTableIo } from './redis-table-io.ts';
import { execResults } from './redis-transaction.ts';
import {
  DEFAULT_RESYNC_INTERVAL_MS,
  type LeaseGrant,
  type LeaseInfo,
  type LeaseRenewal,
  type LeaseRequest,
  type LiveSpeaker,
  type NodeState,
  OtherIncarnationError,
  type PoolStatus,
  type PublishOptions,
  type PublishResult,
  type SpeakerInfo,
  type Store,
  type SubscribeOptions,
  type TableHandlers,
  type TableLoad,
  type TableSubscription,
  type WriteOptions,
} from './store.ts';
import { type StoreKeys, storeKeys } from './store-keys.ts';
import { decodeListeners, tableOf } from './table-codec.ts';
import { TableFollower, type TableReader } from './table-follower.ts';
import { TablePublisher, type TableWriter } from './table-publisher.ts';

/** A random incarnation marker, used only where the store has none. */
function newMarker(): string {
  return randomBytes(8).toString('hex');
}

/** How long `close()` waits for pending replies before dropping the connection. */
const QUIT_GRACE_MS = 1000;

/** Options of a Redis store. */
export interface RedisStoreOptions {
  readonly logger?: Logger;
  /**
   * The command connection neither queues commands while disconnected nor resends those in flight
   * after a reconnect (`withoutReplay`): a write lands while its caller waits, or fails. The
   * controller's store; speakers leave it off.
   */
  readonly noReplay?: boolean;
}

function isSpeakerHash(h: Record<string, string>): boolean {
  return ['node', 'address', 'startedAt', 'version'].every((k) => typeof h[k] === 'string');
}

function isNodeState(v: unknown): v is NodeState {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return (
    typeof o['node'] === 'string' &&
    typeof o['ready'] === 'boolean' &&
    typeof o['excludeFromExternalLB'] === 'boolean'
  );
}

const POOL_COUNTS = ['assignedIPv4', 'availableIPv4', 'assignedIPv6', 'availableIPv6'] as const;

function isPoolStatus(v: unknown): v is PoolStatus {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return typeof o['name'] === 'string' && POOL_COUNTS.every((k) => Number.isSafeInteger(o[k]));
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** A `Store` on Redis. */
export class RedisStore implements Store {
  readonly kind = 'redis';
  readonly target: string;
  readonly keys: StoreKeys;
  private readonly cmd: Redis;
  private sub: Redis | null = null;
  private subscribed = false;
  private readonly log: Logger;
  private readonly followers = new Set<TableFollower>();
  private readonly publisher: TablePublisher;
  private readonly io: TableReader & TableWriter;
  private readonly runScript: ScriptRunner;
  private connectedBefore = false;
  private unreachable = false;
  private closed = false;
  private readonly reconnectListeners = new Set<() => void>();
  private readonly firstReady: Promise<void>;

  constructor(conn: RedisConnection, opts: RedisStoreOptions = {}) {
    this.target = conn.target;
    this.keys = storeKeys(conn.keyPrefix);
    this.log = (opts.logger ?? silentLogger()).child({ store: conn.target });
    const options = opts.noReplay ? withoutReplay(conn.options) : conn.options;
    this.cmd = new Redis({ ...options, lazyConnect: false });
    this.runScript = defineScripts(this.cmd);
    this.firstReady = new Promise((resolve) => this.cmd.once('ready', () => resolve()));
    this.cmd.on('ready', () => this.onReady());
    this.cmd.on('error', (err: Error) => this.onError(err));
    this.io = redisTableIo(this.cmd, this.keys, this.runScript);
    this.publisher = new TablePublisher(this.io, this.log);
  }

  /**
   * Resolves once the command connection was ready for the first time. Without replay (`noReplay`)
   * a command sent before that fails at once instead of waiting for the connection.
   */
  whenReady(): Promise<void> {
    return this.firstReady;
  }

  private onReady(): void {
    this.unreachable = false;
    if (!this.connectedBefore) {
      this.connectedBefore = true;
      this.log.info({ event: 'store-connected' }, 'connected to Redis');
      return;
    }
    this.log.info({ event: 'store-reconnected' }, 'reconnected to Redis');
    // Nothing is republished here: a client that is not the leader must never write, and the
    // leader's loop, told below, writes everything again under its term.
    for (const l of this.reconnectListeners) {
      try {
        l();
      } catch (err) {
        this.log.error({ event: 'store-reconnect-handler-failed', err }, 'a reconnect handler threw');
      }
    }
  }

  private onError(err: Error): void {
    // One line per outage, not one per reconnect attempt.
    if (this.unreachable || this.closed) return;
    this.unreachable = true;
    this.log.warn(
      { event: 'store-unreachable', err: redactUrl(err.message) },
      'Redis is unreachable; retrying',
    );
  }

  publishTable(table: ForwardingTable, opts: PublishOptions = {}): Promise<PublishResult> {
    return this.publisher.publish(table, opts);
  }

  async loadTable(): Promise<TableLoad> {
    const stored = await this.io.readAll();
    if (stored === null) return { state: 'absent' };
    const decoded = await decodeListeners(stored.fields, this.keys.table);
    if (!decoded.ok) {
      return {
        state: 'refused',
        generation: stored.generation,
        version: stored.version,
        problems: decoded.problems,
      };
    }
    return { state: 'ok', generation: stored.generation, table: tableOf(decoded.value, stored.version) };
  }

  subscribeTable(handlers: TableHandlers, opts: SubscribeOptions = {}): TableSubscription {
    const follower = new TableFollower(this.io, handlers, {
      source: this.keys.table,
      logger: this.log,
      resyncIntervalMs: opts.resyncIntervalMs ?? DEFAULT_RESYNC_INTERVAL_MS,
      onClose: () => this.followers.delete(follower),
    });
    this.followers.add(follower);
    const sub = this.subscriber();
    if (this.subscribed && sub.status === 'ready') follower.connected();
    return follower;
  }

  /** The subscriber connection: on every (re)connect it subscribes, then tells followers to reload. */
  private subscriber(): Redis {
    if (this.sub) return this.sub;
    // Resubscribing by hand orders it before the reload, so no announcement falls between the two.
    const sub = this.cmd.duplicate({ autoResubscribe: false, lazyConnect: false });
    sub.on('error', (err: Error) => this.onError(err));
    sub.on('close', () => {
      this.subscribed = false;
    });
    sub.on('ready', () => {
      sub.subscribe(this.keys.tableChannel).then(
        () => {
          this.subscribed = true;
          for (const f of this.followers) f.connected();
        },
        (err: unknown) => {
          this.log.warn({ event: 'table-subscribe-failed', err }, 'could not subscribe; reconnecting');
          // A ready connection without the subscription would never reload: start over.
          sub.disconnect(true);
        },
      );
    });
    sub.on('message', (channel: string, text: string) => {
      if (channel !== this.keys.tableChannel) return;
      for (const f of this.followers) f.announced(text);
    });
    this.sub = sub;
    return sub;
  }

  // ---- speakers

  async heartbeat(speaker: SpeakerInfo, ttlMs: number): Promise<void> {
    const key = this.keys.speaker(speaker.node);
    execResults(
      await this.cmd
        .multi()
        .hset(key, {
          node: speaker.node,
          address: speaker.address,
          startedAt: speaker.startedAt,
          version: speaker.version,
          ...(speaker.statusUrl !== undefined ? { statusUrl: speaker.statusUrl } : {}),
        })
        .pexpire(key, ttlMs)
        .sadd(this.keys.speakers, speaker.node)
        .exec(),
    );
  }

  async removeSpeaker(node: string): Promise<void> {
    execResults(await this.cmd.multi().del(this.keys.speaker(node)).srem(this.keys.speakers, node).exec());
  }

  async listSpeakers(): Promise<LiveSpeaker[]> {
    const nodes = (await this.cmd.smembers(this.keys.speakers)).sort();
    if (nodes.length === 0) return [];
    const p = this.cmd.pipeline();
    for (const n of nodes) p.hgetall(this.keys.speaker(n)).pttl(this.keys.speaker(n));
    const results = execResults(await p.exec());
    const live: LiveSpeaker[] = [];
    const gone: string[] = [];
    nodes.forEach((node, i) => {
      const h = results[2 * i] as Record<string, string>;
      const ttl = Number(results[2 * i + 1]);
      if (ttl === -2 || Object.keys(h).length === 0) gone.push(node);
      else if (!isSpeakerHash(h) || h['node'] !== node) {
        this.log.warn({ event: 'speaker-garbage', node }, 'a speaker registration is malformed; ignoring it');
      } else {
        live.push({
          node,
          address: h['address']!,
          startedAt: h['startedAt']!,
          version: h['version']!,
          ...(typeof h['statusUrl'] === 'string' ? { statusUrl: h['statusUrl'] } : {}),
          remainingMs: ttl,
        });
      }
    });
    // The index is cleaned lazily: a registration that expired leaves its name behind.
    if (gone.length > 0) await this.cmd.srem(this.keys.speakers, ...gone);
    return live;
  }

  // ---- node states

  async publishNodeStates(states: readonly NodeState[], opts: WriteOptions = {}): Promise<void> {
    const doc = states.map((s) => ({
      node: s.node,
      ready: s.ready,
      excludeFromExternalLB: s.excludeFromExternalLB,
    }));
    await this.writeFenced(this.keys.nodeStates, JSON.stringify(doc), opts);
  }

  /** SET `key` only if the writer's term is not below the store's (`StaleTermError` otherwise). */
  private async writeFenced(key: string, value: string, opts: WriteOptions): Promise<void> {
    opts.signal?.throwIfAborted();
    await this.runScript('syWriteFenced', [key, this.keys.controllerTerm, value, opts.term ?? 0]);
  }

  async nodeStates(): Promise<ReadonlyMap<string, NodeState> | null> {
    const doc = await this.readJsonList(
      this.keys.nodeStates,
      isNodeState,
      'node-states-garbage',
      'node states',
    );
    return doc === null ? null : new Map(doc.map((s) => [s.node, s]));
  }

  /**
   * A JSON list the controller writes whole; a missing key is null, and so is garbage (logged),
   * which readers treat as "unknown" rather than failing.
   */
  private async readJsonList<T>(
    key: string,
    valid: (v: unknown) => v is T,
    event: string,
    what: string,
  ): Promise<T[] | null> {
    const text = await this.cmd.get(key);
    if (text === null) return null;
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      doc = null;
    }
    if (!Array.isArray(doc) || !doc.every(valid)) {
      this.log.warn({ event }, `the ${what} key is malformed; treating ${what} as unknown`);
      return null;
    }
    return doc;
  }

  // ---- pool statuses

  async publishPoolStatuses(statuses: readonly PoolStatus[], opts: WriteOptions = {}): Promise<void> {
    const doc = statuses.map((s) => ({
      name: s.name,
      assignedIPv4: s.assignedIPv4,
      availableIPv4: s.availableIPv4,
      assignedIPv6: s.assignedIPv6,
      availableIPv6: s.availableIPv6,
    }));
    await this.writeFenced(this.keys.pools, JSON.stringify(doc), opts);
  }

  poolStatuses(): Promise<readonly PoolStatus[] | null> {
    return this.readJsonList(this.keys.pools, isPoolStatus, 'pools-garbage', 'pool statuses');
  }

  // ---- leases

  async acquireLease(req: LeaseRequest): Promise<LeaseGrant> {
    const reply = (await this.runScript('syAcquireLease', [
      this.keys.lease(req.vip),
      this.keys.leaseEpoch(req.vip),
      this.keys.leaseGuard(req.vip),
      this.keys.incarnation,
      req.node,
      req.token,
      req.ttlMs,
      req.minEpoch ?? 0,
      Date.now(),
      req.incarnation ?? '',
      newMarker(),
    ])) as unknown[];
    if (Number(reply[0]) === 1) return { acquired: true, epoch: Number(reply[1]) };
    if (Number(reply[0]) === 2) throw new OtherIncarnationError(req.incarnation ?? '', String(reply[1]));
    return {
      acquired: false,
      holder: String(reply[1]),
      epoch: Number(reply[2]),
      remainingMs: Math.max(0, Number(reply[3])),
    };
  }

  async renewLease(vip: string, token: string, ttlMs: number): Promise<LeaseRenewal> {
    const reply = (await this.runScript('syRenewLease', [
      this.keys.lease(vip),
      this.keys.leaseGuard(vip),
      token,
      ttlMs,
    ])) as unknown[];
    if (Number(reply[0]) === 1) return { renewed: true, epoch: Number(reply[1]) };
    const holder = reply[1];
    return { renewed: false, holder: typeof holder === 'string' ? holder : null };
  }

  async releaseLease(vip: string, token: string): Promise<boolean> {
    const reply = await this.runScript('syReleaseLease', [
      this.keys.lease(vip),
      this.keys.leaseGuard(vip),
      token,
    ]);
    return Number(reply) === 1;
  }

  /**
   * A VIP whose lease key is missing but whose guard is still ahead of Redis' clock is reported as
   * held by the guard's node, as `acquireLease` would refuse it. TIME is read in the same pipeline,
   * so `until` and now come from one clock.
   */
  async readLeases(vips: readonly string[]): Promise<LeaseInfo[]> {
    if (vips.length === 0) return [];
    const p = this.cmd.pipeline().time();
    for (const vip of vips) {
      p.hmget(this.keys.lease(vip), 'node', 'epoch')
        .pttl(this.keys.lease(vip))
        .hmget(this.keys.leaseGuard(vip), 'node', 'epoch', 'until');
    }
    const results = execResults(await p.exec());
    const [sec, usec] = results[0] as [string, string];
    const now = Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
    const out: LeaseInfo[] = [];
    vips.forEach((vip, i) => {
      const [node, epoch] = results[1 + 3 * i] as (string | null)[];
      const ttl = Number(results[2 + 3 * i]);
      const [guardNode, guardEpoch, until] = results[3 + 3 * i] as (string | null)[];
      const guardLeft = Number(until ?? 0) - now;
      if (node && ttl > 0) out.push({ vip, holder: node, epoch: Number(epoch ?? 0), remainingMs: ttl });
      else if (guardNode && guardLeft > 0) {
        out.push({ vip, holder: guardNode, epoch: Number(guardEpoch ?? 0), remainingMs: guardLeft });
      }
    });
    return out;
  }

  // ---- continuity

  async incarnation(): Promise<string> {
    return String(await this.runScript('syReadIncarnation', [this.keys.incarnation, newMarker()]));
  }

  // ---- controller fence

  async controllerTerm(): Promise<number> {
    const t = Number(await this.cmd.get(this.keys.controllerTerm));
    return Number.isSafeInteger(t) && t > 0 ? t : 0;
  }

  onReconnect(listener: () => void): () => void {
    this.reconnectListeners.add(listener);
    return () => this.reconnectListeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.reconnectListeners.clear();
    await Promise.all([...this.followers].map((f) => f.close()));
    const clients = this.sub ? [this.cmd, this.sub] : [this.cmd];
    await Promise.all(
      clients.map(async (c) => {
        // QUIT waits for pending replies; a paused or dead server would never send them.
        await Promise.race([c.quit().catch(() => undefined), delay(QUIT_GRACE_MS)]);
        c.disconnect();
      }),
    );
  }
}
