/**
 * One open WATCH: a chunked HTTP response carrying one JSON event per line, as the real API server
 * writes them. It replays history from the requested resourceVersion (or synthesises ADDED events
 * for the current state when none is given), then follows the store live, translating changes that
 * move an object into or out of the selection into ADDED/DELETED the way the real server does.
 */
import type { ServerResponse } from 'node:http';
import type { ApiStatus } from './api-status.ts';
import type { KubeObject, StoreEvent } from './object-store.ts';
import { apiVersionOf, type ResourceType } from './resources.ts';
import type { Selector } from './selector.ts';

/** What a watch selects: one resource, optionally one namespace, and label/field selectors. */
export interface WatchFilter {
  readonly resource: ResourceType;
  readonly namespace: string | null;
  readonly labels: Selector;
  readonly fields: Selector;
}

/** Wire form of one watch event. */
interface WireEvent {
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  readonly object: KubeObject | ApiStatus;
}

/** Timing options of a watch. */
export interface WatchStreamOptions {
  /** End the stream cleanly after this long (`timeoutSeconds`); 0 for never. */
  readonly timeoutMs: number;
  /** Send a BOOKMARK this often (`allowWatchBookmarks`); 0 for never. */
  readonly bookmarkIntervalMs: number;
  /** Current resourceVersion, for bookmarks. */
  readonly currentRv: () => number;
}

/** A live watch response. */
export class WatchStream {
  readonly filter: WatchFilter;
  readonly #res: ServerResponse;
  readonly #timers: NodeJS.Timeout[] = [];
  #closed = false;
  readonly #onClose: (() => void)[] = [];

  constructor(res: ServerResponse, filter: WatchFilter, opts: WatchStreamOptions) {
    this.#res = res;
    this.filter = filter;
    res.writeHead(200, {
      'Content-Type': 'application/json',
      'Transfer-Encoding': 'chunked',
      'Cache-Control': 'no-cache, private',
    });
    // Headers go out at once: a client waits for them before it counts the watch as established.
    res.flushHeaders();
    res.on('close', () => this.#cleanup());
    if (opts.timeoutMs > 0) this.#timers.push(setTimeout(() => this.end(), opts.timeoutMs));
    if (opts.bookmarkIntervalMs > 0) {
      const r = filter.resource;
      this.#timers.push(
        setInterval(() => {
          this.#write({
            type: 'BOOKMARK',
            object: {
              apiVersion: apiVersionOf(r),
              kind: r.kind,
              metadata: { resourceVersion: String(opts.currentRv()) },
            },
          });
        }, opts.bookmarkIntervalMs),
      );
    }
    for (const t of this.#timers) t.unref();
  }

  /** True once the response has ended or the connection is gone. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Run `fn` when the stream closes for any reason. */
  onClose(fn: () => void): void {
    if (this.#closed) fn();
    else this.#onClose.push(fn);
  }

  #matches(obj: KubeObject | null): boolean {
    if (!obj) return false;
    const f = this.filter;
    if (f.namespace !== null && obj.metadata.namespace !== f.namespace) return false;
    const sel = obj as Parameters<Selector>[0];
    return f.labels(sel) && f.fields(sel);
  }

  /** Send the synthetic ADDED events that start a watch with no resourceVersion. */
  sendInitial(objects: readonly KubeObject[]): void {
    for (const o of objects) if (this.#matches(o)) this.#write({ type: 'ADDED', object: o });
  }

  /** Forward one store change if it concerns this watch. */
  send(e: StoreEvent): void {
    if (e.resource !== this.filter.resource) return;
    const now = e.type !== 'DELETED' && this.#matches(e.object);
    const before = e.type !== 'ADDED' && this.#matches(e.previous);
    if (e.type === 'DELETED') {
      if (before) this.#write({ type: 'DELETED', object: e.object });
    } else if (now && before) {
      this.#write({ type: 'MODIFIED', object: e.object });
    } else if (now) {
      this.#write({ type: 'ADDED', object: e.object });
    } else if (before) {
      this.#write({ type: 'DELETED', object: e.object });
    }
  }

  /** Send an in-stream ERROR (e.g. 410 Expired) and end the stream, as the real server does. */
  fail(s: ApiStatus): void {
    this.#write({ type: 'ERROR', object: s });
    this.end();
  }

  /** End the response cleanly (the terminating chunk), as a watch timeout does. */
  end(): void {
    if (this.#closed) return;
    this.#res.end();
    this.#cleanup();
  }

  /** Drop the connection without a terminating chunk, as a crash or network cut does. */
  destroy(): void {
    if (this.#closed) return;
    this.#res.destroy();
    this.#cleanup();
  }

  #write(e: WireEvent): void {
    if (this.#closed) return;
    this.#res.write(`${JSON.stringify(e)}\n`);
  }

  #cleanup(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const t of this.#timers) clearTimeout(t);
    for (const fn of this.#onClose.splice(0)) fn();
  }
}
