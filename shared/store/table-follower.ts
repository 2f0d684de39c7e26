/**
 * The subscriber side of the table, shared by both stores: it loads the whole table on start and
 * on every (re)connect, applies announcements that follow the version it holds by reading only the
 * listeners they name, and reloads everything when it sees a gap, another generation or an
 * unreadable message. A table that fails validation is refused whole; the last good one stays.
 * One step runs at a time, so announcements are applied in order.
 */
import { formatProblem, type Problem } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Listener } from '../model.ts';
import type { SubscriptionStats, TableHandlers, TableSubscription } from './store.ts';
import { type Announcement, parseAnnouncement } from './table-announcement.ts';
import { decodeListeners, tableOf } from './table-codec.ts';

/** Which table the store holds: its generation, version and the controller term that wrote it. */
export interface TableHead {
  readonly generation: string;
  readonly version: number;
  /** Absent (read as 0) for a table written without a term. */
  readonly term?: number;
}

function termOf(h: TableHead): number {
  return h.term ?? 0;
}

function sameHead(a: TableHead, b: TableHead): boolean {
  return a.generation === b.generation && a.version === b.version && termOf(a) === termOf(b);
}

/**
 * Whether a follower holding `held` may take `next`. Another generation is always taken (the store
 * lost its history). Within a generation a higher version is taken, and so is any version written
 * under a newer term; a lower or equal version from the same or an older term is not: it can only
 * be the store gone back in time (a failover to a lagging replica) or a late read, and the table
 * held is newer.
 */
export function supersedes(next: TableHead, held: TableHead): boolean {
  if (next.generation !== held.generation) return true;
  return next.version > held.version || termOf(next) > termOf(held);
}

/** The whole stored table, read in one consistent step. */
export interface StoredTable extends TableHead {
  readonly fields: Iterable<readonly [string, string]>;
}

/** Some listeners of the stored table, read in one consistent step with its head. */
export interface StoredFields extends TableHead {
  /** One entry per requested key, null where the key is absent. */
  readonly values: readonly (string | null)[];
}

/** Reads a store's table; each method reads consistently (one transaction) and rejects when unreachable. */
export interface TableReader {
  /** The head, or null when no table exists. */
  readHead(): Promise<TableHead | null>;
  /** Everything, or null when no table exists. */
  readAll(): Promise<StoredTable | null>;
  /** The head and the listed keys, or null when no table exists. */
  readSome(keys: readonly string[]): Promise<StoredFields | null>;
}

/** Options of a follower. */
export interface FollowerOptions {
  /** Names the store's table in problems, e.g. the hash key. */
  readonly source: string;
  readonly logger: Logger;
  /** See `SubscribeOptions.resyncIntervalMs`. */
  readonly resyncIntervalMs: number;
  /** Wait before retrying a read that failed. */
  readonly retryMs?: number;
  /** Called once after `close()`, to unhook the follower from its connection. */
  readonly onClose?: () => void;
}

/** Default pause before a failed read is retried. */
const DEFAULT_RETRY_MS = 1000;

/** Follows one store's table for one set of handlers. Feed it `connected()` and `announced()`. */
export class TableFollower implements TableSubscription {
  private readonly reader: TableReader;
  private readonly handlers: TableHandlers;
  private readonly opts: FollowerOptions;
  private readonly log: Logger;
  private good: { head: TableHead; listeners: Map<string, Listener> } | null = null;
  private refused: TableHead | null = null;
  /** The last head refused for being older than the held one, logged once. */
  private older: TableHead | null = null;
  private needFull = false;
  private readonly queue: Announcement[] = [];
  private running = false;
  private closed = false;
  private readFailing = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private readonly resyncTimer: NodeJS.Timeout | null = null;
  private idle: Promise<void> = Promise.resolve();
  private readonly counters = { fullLoads: 0, deltaLoads: 0, refusals: 0, olderRefused: 0 };

  constructor(reader: TableReader, handlers: TableHandlers, opts: FollowerOptions) {
    this.reader = reader;
    this.handlers = handlers;
    this.opts = opts;
    this.log = opts.logger;
    if (opts.resyncIntervalMs > 0) {
      this.resyncTimer = setInterval(() => this.resync(), opts.resyncIntervalMs);
      this.resyncTimer.unref();
    }
  }

  get version(): number | null {
    return this.good?.head.version ?? null;
  }

  get stats(): SubscriptionStats {
    return { ...this.counters };
  }

  /** The connection to the store (re)opened and the channel is subscribed: reload everything. */
  connected(): void {
    this.needFull = true;
    this.kick();
  }

  /** An announcement arrived on the channel. */
  announced(text: string): void {
    const a = parseAnnouncement(text);
    if (a === null) {
      this.log.warn(
        { event: 'table-announcement-unreadable', reason: text.slice(0, 120) },
        'reloading the table',
      );
      this.needFull = true;
    } else this.queue.push(a);
    this.kick();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.queue.length = 0;
    this.opts.onClose?.();
    await this.idle;
  }

  private kick(): void {
    if (this.running || this.closed) return;
    this.running = true;
    this.idle = this.run().finally(() => {
      this.running = false;
    });
  }

  private async run(): Promise<void> {
    while (!this.closed && (this.needFull || this.queue.length > 0)) {
      try {
        if (this.needFull) {
          this.needFull = false;
          await this.loadFull();
        } else {
          const a = this.queue.shift()!;
          if (this.mustReload(a)) this.needFull = true;
          else if (this.isNew(a)) await this.applyDelta(a as Extract<Announcement, { kind: 'delta' }>);
        }
        if (this.readFailing) {
          this.readFailing = false;
          this.log.info({ event: 'table-read-recovered' }, 'reading the table from the store again');
        }
      } catch (err) {
        // The store did not answer: keep serving the last good table and try again shortly.
        if (!this.readFailing)
          this.log.warn({ event: 'table-read-failed', err }, 'keeping the last good table');
        this.readFailing = true;
        this.queue.length = 0;
        this.scheduleRetry();
        return;
      }
    }
  }

  private scheduleRetry(): void {
    if (this.retryTimer || this.closed) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connected();
    }, this.opts.retryMs ?? DEFAULT_RETRY_MS);
    this.retryTimer.unref();
  }

  /** The latest version this follower has dealt with, applied or refused, in the current generation. */
  private seen(): TableHead | null {
    const g = this.good?.head ?? null;
    const r = this.refused;
    if (r && (!g || r.generation !== g.generation || r.version > g.version)) return r;
    return g;
  }

  private isNew(a: Announcement): boolean {
    const seen = this.seen();
    return !seen || supersedes(a, seen);
  }

  private mustReload(a: Announcement): boolean {
    if (!this.isNew(a)) return false;
    const g = this.good?.head;
    // Only an announcement that follows the held good version exactly can be applied as a delta.
    return a.kind === 'full' || !g || g.generation !== a.generation || a.version !== g.version + 1;
  }

  private async loadFull(): Promise<void> {
    const stored = await this.reader.readAll();
    if (this.closed) return;
    this.counters.fullLoads++;
    if (stored === null) {
      // A store that lost its data (restarted without persistence) must not empty every speaker.
      this.log.info({ event: 'table-absent' }, 'the store holds no table; keeping the last good table');
      return;
    }
    const head = { generation: stored.generation, version: stored.version, term: termOf(stored) };
    const g = this.good?.head;
    if (g && sameHead(g, head)) return;
    if (g && !supersedes(head, g)) return this.refuseOlder(head, g);
    const decoded = await decodeListeners(stored.fields, this.opts.source);
    if (this.closed) return;
    if (!decoded.ok) return this.refuse(head, decoded.problems);
    this.accept(head, decoded.value, 'full');
  }

  private async applyDelta(a: Extract<Announcement, { kind: 'delta' }>): Promise<void> {
    const some = await this.reader.readSome(a.changed);
    if (this.closed) return;
    if (some === null || some.generation !== a.generation || some.version !== a.version) {
      // The store moved on (or lost the table) between the announcement and this read.
      this.needFull = true;
      return;
    }
    const entries: [string, string][] = [];
    for (let i = 0; i < a.changed.length; i++) {
      const value = some.values[i];
      if (value === null || value === undefined) {
        this.needFull = true;
        return;
      }
      entries.push([a.changed[i]!, value]);
    }
    const decoded = await decodeListeners(entries, this.opts.source);
    if (this.closed) return;
    this.counters.deltaLoads++;
    const head = { generation: a.generation, version: a.version, term: termOf(some) };
    if (!decoded.ok) return this.refuse(head, decoded.problems);
    const next = new Map(this.good!.listeners);
    for (const key of a.removed) next.delete(key);
    for (const [key, l] of decoded.value) next.set(key, l);
    this.accept(head, next, 'delta');
  }

  /** The store offers a table older than the one held: keep the held one (docs/store.md). */
  private refuseOlder(head: TableHead, held: TableHead): void {
    this.counters.olderRefused++;
    if (this.older && sameHead(this.older, head)) return;
    this.older = head;
    this.log.warn(
      {
        event: 'table-older-refused',
        version: head.version,
        term: termOf(head),
        generation: head.generation,
        heldVersion: held.version,
        heldTerm: termOf(held),
      },
      'the store holds an older version of the table than this speaker, written under no newer term; keeping the table held',
    );
  }

  private accept(head: TableHead, listeners: Map<string, Listener>, how: 'full' | 'delta'): void {
    this.good = { head, listeners };
    this.older = null;
    if (
      this.refused &&
      (this.refused.generation !== head.generation || this.refused.version <= head.version)
    ) {
      this.refused = null;
    }
    this.log[how === 'full' ? 'info' : 'debug'](
      {
        event: 'table-applied',
        version: head.version,
        term: termOf(head),
        generation: head.generation,
        listeners: listeners.size,
        how,
      },
      'applied the forwarding table from the store',
    );
    try {
      this.handlers.onTable(tableOf(listeners, head.version), head.generation);
    } catch (err) {
      this.log.error({ event: 'table-handler-failed', err }, 'the table handler threw');
    }
  }

  private refuse(head: TableHead, problems: readonly Problem[]): void {
    this.counters.refusals++;
    this.refused = head;
    this.log.warn(
      {
        event: 'table-refused',
        version: head.version,
        generation: head.generation,
        problems: problems.length,
        reason: problems[0] ? formatProblem(problems[0]) : '',
      },
      'the stored table does not validate; keeping the last good table',
    );
    try {
      this.handlers.onRefused?.({ generation: head.generation, version: head.version, problems });
    } catch (err) {
      this.log.error({ event: 'table-handler-failed', err }, 'the refusal handler threw');
    }
  }

  /** Compare the store's head with what was seen; reload when they differ. */
  private resync(): void {
    if (this.running || this.closed) return;
    this.reader.readHead().then(
      (head) => {
        const seen = this.seen();
        if (head === null || this.closed) return;
        // An older head already refused is not read again every interval.
        if (this.older && sameHead(this.older, head)) return;
        if (!seen || !sameHead(seen, head)) {
          this.log.info({ event: 'table-resync', version: head.version }, 'the store moved on unannounced');
          this.connected();
        }
      },
      () => {
        // Unreachable: the reconnect (or the next resync) reloads the table.
      },
    );
  }
}
