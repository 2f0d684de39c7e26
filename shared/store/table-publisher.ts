/**
 * The publisher side of the table, shared by both stores. It encodes the table in slices, compares
 * it with what this publisher last wrote, and asks the store either to apply a small delta (only if
 * the store is still at the version the delta is based on) or to replace the whole table.
 * Publishes are serialised, so two overlapping calls cannot interleave their writes.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from '../log.ts';
import type { ForwardingTable } from '../model.ts';
import type { PublishResult } from './store.ts';
import { diffFields, encodeListeners } from './table-codec.ts';
import type { TableHead } from './table-follower.ts';

/** A delta naming more keys than this is written as a full table instead, keeping announcements small. */
export const DELTA_MAX_KEYS = 1000;

/** Writes a store's table; each write is atomic and announces itself. */
export interface TableWriter {
  /** Replace the whole table and bump the version; `newGeneration` is used when the store has no history. */
  writeFull(fields: ReadonlyMap<string, string>, newGeneration: string): Promise<TableHead>;
  /**
   * Write `changed`, delete `removed` and bump the version, only if the store is still at `base`;
   * null when it is not (someone else published, or the store lost the table).
   */
  writeDelta(
    base: TableHead,
    changed: ReadonlyMap<string, string>,
    removed: readonly string[],
  ): Promise<TableHead | null>;
  /** The store's current head, or null when it holds no table. */
  readHead(): Promise<TableHead | null>;
}

/** A fresh random generation id. */
export function newGeneration(): string {
  return randomBytes(8).toString('hex');
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

  /** Publish `table` as the next version. */
  publish(table: ForwardingTable): Promise<PublishResult> {
    const run = this.chain.then(() => this.publishNow(table));
    this.chain = run.catch(() => undefined);
    return run;
  }

  /**
   * After a reconnect: if the store lost the table (a Redis restarted without persistence), write
   * the last published one again so speakers that start now still find a table. True when it did.
   */
  republishIfLost(): Promise<boolean> {
    const run = this.chain.then(async () => {
      const last = this.last;
      if (last === null || (await this.writer.readHead()) !== null) return false;
      const head = await this.writer.writeFull(last.fields, newGeneration());
      this.last = { head, fields: last.fields };
      this.log.warn(
        { event: 'table-republished', version: head.version, generation: head.generation },
        'the store had lost the table; published the last one again',
      );
      return true;
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async publishNow(table: ForwardingTable): Promise<PublishResult> {
    const fields = await encodeListeners(table.listeners);
    const last = this.last;
    if (last !== null) {
      const diff = diffFields(last.fields, fields);
      if (diff.changed.length + diff.removed.length <= DELTA_MAX_KEYS) {
        const changed = new Map(diff.changed.map((k) => [k, fields.get(k)!]));
        const head = await this.writer.writeDelta(last.head, changed, diff.removed);
        if (head !== null) {
          this.last = { head, fields };
          return { ...head, listeners: fields.size, mode: 'delta' };
        }
        this.log.info(
          { event: 'table-base-moved', version: last.head.version },
          'the store is not at the version this publisher wrote last; writing the whole table',
        );
      }
    }
    const head = await this.writer.writeFull(fields, newGeneration());
    this.last = { head, fields };
    return { ...head, listeners: fields.size, mode: 'full' };
  }
}
