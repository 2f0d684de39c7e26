/**
 * The relay's I/O: everything a listener and its connections do with sockets, in the project's own
 * words, behind one small interface (Envoy's `IoHandle` is the model). Two implementations exist:
 * `handles.ts` drives the libuv TCP handles under `net.Socket` directly (every Node.js internal the
 * project touches lives in that one file), and `sockets.ts` does the same with public `net.Socket`s.
 * Nothing above this interface knows which one runs; `choose.ts` picks one at start
 * (`--data-plane`).
 *
 * The shape follows the hot path's rules (docs/speaker.md): events reach a connection through
 * methods of its `RelayOwner`, so no closure is made per chunk; a side reads into memory the
 * connection owns, and each read tells the connection how many bytes landed; the connection answers
 * with the buffer the next read of that side lands in.
 */

/** The implementations of the relay's I/O, as `--data-plane` names them. */
export const RELAY_IO_IMPLEMENTATIONS = ['handles', 'sockets'] as const;
/** One implementation of the relay's I/O. */
export type RelayIoImplementation = (typeof RELAY_IO_IMPLEMENTATIONS)[number];

/**
 * One side of a relayed connection: an accepted client, or a connection to a backend. Opaque to the
 * relay, which only hands it back to the I/O; `owner` is the connection its events go to (null
 * while nobody owns it, and once it is detached: late events are then dropped).
 */
export interface RelaySide {
  owner: RelayOwner | null;
}

/** What a side's events call on the connection it belongs to. */
export interface RelayOwner {
  /**
   * `nread` bytes from `src` have landed at the start of the buffer the previous call returned
   * (the shared landing buffer before the first); returns where the next read of `src` lands
   * (undefined: where it landed before).
   */
  relay(src: RelaySide, nread: number): Uint8Array | undefined;
  /** `src` sent FIN. */
  ended(src: RelaySide): void;
  /** `src` failed (a reset, most often). */
  errored(src: RelaySide): void;
  /** The connect attempt of `side` ended with `status` (0: connected, else a negative errno). */
  connected(side: RelaySide, status: number): void;
  /** A queued write in direction `up` (client → backend) finished with `status`. */
  written(up: boolean, status: number): void;
}

/** Where a listener binds. */
export interface ListenAt {
  readonly host: string;
  readonly port: number;
  /** Accept-queue length asked of the kernel. */
  readonly backlog: number;
}

/** Why a listener could not be bound, as the OS said it. */
export interface BindFailure {
  readonly code: string;
  readonly message: string;
}

/**
 * Called for each accepted client (`status` 0) with a side nobody owns yet, or for a failed accept
 * (`status` a negative errno, `client` null: on EMFILE the waiting clients are reset already).
 */
export type AcceptCallback = (status: number, client: RelaySide | null) => void;

/** A bound listening socket. */
export interface RelayListener {
  /** Stop accepting and close the listening socket; open connections are not touched. */
  close(): void;
}

/** The peer of an accepted client. */
export interface PeerAddress {
  address: string;
  port: number;
}

/**
 * The relay's I/O. Status codes are libuv's: 0 for success, a negative errno for a failure. Every
 * method but `listen` and `connect`'s later outcome is synchronous.
 */
export interface RelayIo {
  /** Which implementation this is. */
  readonly implementation: RelayIoImplementation;
  /**
   * Bind a listening socket (SO_REUSEPORT, TCP_NODELAY for its clients); resolves with it or why
   * not. Accepts go to `onAccept`, other errors of the bound socket to `onError`.
   */
  listen(
    at: ListenAt,
    onAccept: AcceptCallback,
    onError: (err: Error) => void,
  ): Promise<RelayListener | BindFailure>;
  /** Fill `out` with the client's address; false if it is gone already. */
  peer(client: RelaySide, out: PeerAddress): boolean;
  /** Give `side` to `owner`: its reads land in the shared landing buffer until `relay` says otherwise. */
  adopt(side: RelaySide, owner: RelayOwner): void;
  /** A new backend side owned by `owner`, with TCP_NODELAY; `connect` starts it. */
  backend(owner: RelayOwner): RelaySide;
  /**
   * Connect `side` to `address` (IPv4 or IPv6) and `port`: 0 when under way (the outcome comes to
   * `connected`), or a negative errno when it could not even start.
   */
  connect(side: RelaySide, address: string, port: number): number;
  readStart(side: RelaySide): void;
  readStop(side: RelaySide): void;
  /**
   * Write `chunk` to `dst`: 0 when the kernel took it all at once (its memory is free again), 1 when
   * queued (`owner.written(up, …)` follows; the memory stays referenced until then), or a negative
   * errno. `keep` is memory the connection does not hold that must outlive a queued write.
   */
  write(dst: RelaySide, chunk: Uint8Array, owner: RelayOwner, up: boolean, keep: Uint8Array | null): number;
  /** Send FIN after every queued write: 0, or a negative errno (the failure then shows on reads). */
  shutdown(side: RelaySide): number;
  /** Close with RST (SO_LINGER 0). Never after `shutdown` (libuv refuses it): close instead. */
  reset(side: RelaySide): void;
  /** Close; the descriptor is released at once (FIN after the bytes the kernel holds). */
  close(side: RelaySide): void;
  /** Copy the first `count` bytes of `source` to the start of `target`. */
  copy(source: Uint8Array, target: Uint8Array, count: number): void;
}

/** libuv's end-of-stream code: the peer sent FIN. */
export const UV_EOF = -4095;
/** libuv's timeout code, reported to the failure path when a connect attempt times out. */
export const UV_ETIMEDOUT = -110;
