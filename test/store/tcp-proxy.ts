/**
 * A TCP proxy on 127.0.0.1 between one client and a server, for delaying or cutting that client's
 * traffic without touching anyone else's: `holdWhen` keeps every byte the client sends from the
 * first chunk that matches until `release()`, as a congested or partitioned link would, and
 * `block()` drops the client's connections and refuses new ones. Replies flow back unchanged.
 */
import net from 'node:net';

interface Held {
  readonly upstream: net.Socket;
  readonly chunk: Buffer;
}

/** A running proxy to `host:port`. */
export class TcpProxy {
  readonly #server: net.Server;
  readonly #target: { readonly host: string; readonly port: number };
  readonly #pairs = new Set<{ client: net.Socket; upstream: net.Socket }>();
  #held: Held[] | null = null;
  #match: ((chunk: Buffer) => boolean) | null = null;
  #onHold: (() => void) | null = null;
  #blocked = false;

  private constructor(target: { host: string; port: number }) {
    this.#target = target;
    this.#server = net.createServer((client) => this.#accept(client));
  }

  /** Listen on a free port of 127.0.0.1, forwarding to `target`. */
  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    const p = new TcpProxy(target);
    await new Promise<void>((resolve, reject) => {
      p.#server.once('error', reject);
      p.#server.listen(0, '127.0.0.1', () => resolve());
    });
    return p;
  }

  /** The port clients connect to. */
  get port(): number {
    return (this.#server.address() as net.AddressInfo).port;
  }

  /** `http://127.0.0.1:PORT` or `redis://…`: the proxy's address with `scheme`. */
  url(scheme: string): string {
    return `${scheme}://127.0.0.1:${this.port}`;
  }

  /**
   * From the first client chunk that `match` accepts on (that chunk included), hold everything
   * clients send until `release()`. Resolves once something is held.
   */
  holdWhen(match: (chunk: Buffer) => boolean): Promise<void> {
    this.#match = match;
    return new Promise((resolve) => {
      this.#onHold = resolve;
    });
  }

  /** Bytes held so far. */
  heldBytes(): number {
    return (this.#held ?? []).reduce((n, h) => n + h.chunk.length, 0);
  }

  /** Send what was held, in order, and forward freely again. */
  release(): void {
    const held = this.#held ?? [];
    this.#held = null;
    this.#match = null;
    for (const h of held) if (!h.upstream.destroyed) h.upstream.write(h.chunk);
  }

  /** Drop every connection and refuse new ones (they are reset at once), as a cut link would. */
  block(): void {
    this.#blocked = true;
    for (const { client, upstream } of this.#pairs) {
      client.destroy();
      upstream.destroy();
    }
  }

  /** Accept connections again. */
  unblock(): void {
    this.#blocked = false;
  }

  /** Stop listening and drop every connection. */
  async close(): Promise<void> {
    this.block();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: net.Socket): void {
    if (this.#blocked) {
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect(this.#target.port, this.#target.host);
    const pair = { client, upstream };
    this.#pairs.add(pair);
    const drop = () => {
      this.#pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    client.on('data', (chunk: Buffer) => {
      if (this.#held === null && this.#match?.(chunk)) {
        this.#held = [];
        this.#onHold?.();
        this.#onHold = null;
      }
      if (this.#held !== null) this.#held.push({ upstream, chunk });
      else upstream.write(chunk);
    });
  }
}
