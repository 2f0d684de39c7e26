/**
 * The publisher side of the table, shared by both stores. It encodes the table in slices, compares
 * it with what this publisher last wrote, and asks the store either to apply a small delta (only if
 * the store is still at the version the delta is based on) or to replace the whole table. Every
 * write carries the writer's term, which the store checks atomically with the write.
 * Publishes are serialised, so two overlapping calls cannot interleave their writes.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from '../log.ts';
import type { ForwardingTable } from '../model.ts';
import type { PublishOptions, PublishResult } from './store.ts';
import { diffFields, encodeListeners } from './table-codec.ts';
import type { TableHead } from './table-follower.ts';

/** A delta naming more keys than this is written as a full table instead, keeping announcements small. */
export const DELTA_MAX_KEYS = 1000;

/** How one table write is fenced and numbered. */
export interface TableWrite {
  /** The writer's term; the store refuses the write (`StaleTermError`) when it accepted a higher one. */
  readonly term: number;
  /** Checked right before the commit: an aborted write throws instead of committing. */
  readonly signal?: AbortSignal;
}

/** How a full write keeps versions from going back within a generation. */
export interface FullTableWrite extends TableWrite {
  /**
   * The lowest version the commit may take if the store is still in generation `minGeneration`:
   * one above the last version this publisher wrote, so a store that went back in time (a lagging
   * replica after a failover) does not reuse versions speakers hold. 0 for none.
   */
  readonly minVersion: number;
  readonly minGeneration: string;
}

/** Writes a store's table; each write is atomic, fenced by the term, and announces itself. */
export interface TableWriter {
  /** Replace the whole table and bump the version; `newGeneration` is used when the store has no history. */
  writeFull(
    fields: ReadonlyMap<string, string>,
    newGeneration: string,
    write: FullTableWrite,
  ): Promise<TableHead>;
  /**
   * Write `changed`, delete `removed` and bump the version, only if the store is still at `base`;
   * null when it is not (someone else published, or the store lost the table).
   */
  writeDelta(
    base: TableHead,
    changed: ReadonlyMap<string, string>,
    removed: readonly string[],
    write: TableWrite,
  ): Promise<TableHead | null>;
  /** The store's current head, or null when it holds no table. */
  readHead(): Promise<TableHead | null>;
}

/** A fresh random generation id. */
export function newGeneration(): string {
  return randomBytes(8).toString('hex');
}

function resultOf(head: TableHead, listeners: number, mode: PublishResult['mode']): PublishResult {
  return { version: head.version, generation: head.generation, listeners, mode };
}

/** Publishes tables through a `TableWriter`. */
export class TablePublisher {
  private readonly writer: TableWriter;
  private readonly log: Logger;
  private last: { head: TableHead; fields: Map<string, string> } | null = null;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(writer: TableWriter, logger: Logger) {
    this.writer = writer;
    this.log = logger;
  }

  /**
   * Publish `table` as the next version. A delta is written only when this publisher's last write
   * was under the same term and `full` is not asked for; otherwise the whole table.
   */
  publish(table: ForwardingTable, opts: PublishOptions = {}): Promise<PublishResult> {
    const run = this.chain.then(() => this.publishNow(table, opts));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async publishNow(table: ForwardingTable, opts: PublishOptions): Promise<PublishResult> {
    const term = opts.term ?? 0;
    const write = { term, ...(opts.signal ? { signal: opts.signal } : {}) };
    const fields = await encodeListeners(table.listeners);
    const last = this.last;
    if (last !== null && !opts.full && (last.head.term ?? 0) === term) {
      const diff = diffFields(last.fields, fields);
      if (diff.changed.length + diff.removed.length <= DELTA_MAX_KEYS) {
        const changed = new Map(diff.changed.map((k) => [k, fields.get(k)!]));
        const head = await this.writer.writeDelta(last.head, changed, diff.removed, write);
        if (head !== null) {
          this.last = { head, fields };
          return resultOf(head, fields.size, 'delta');
        }
        this.log.info(
          { event: 'table-base-moved', version: last.head.version },
          'the store is not at the version this publisher wrote last; writing the whole table',
        );
      }
    }
    const head = await this.writer.writeFull(fields, newGeneration(), {
      ...write,
      minVersion: last === null ? 0 : last.head.version + 1,
      minGeneration: last?.head.generation ?? '',
    });
    if (last !== null && head.generation !== last.head.generation) {
      this.log.warn(
        { event: 'table-generation-new', version: head.version, generation: head.generation },
        'the store had lost the table; it starts a new generation',
      );
    }
    this.last = { head, fields };
    return resultOf(head, fields.size, 'full');
  }
}
