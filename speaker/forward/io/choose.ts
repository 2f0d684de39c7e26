/**
 * Which implementation of the relay's I/O a speaker runs (`--data-plane`). `auto` runs the handle
 * implementation's self-test and falls back to `net.Socket`s, with a warning, when it fails: on a
 * Node.js whose internals changed, under `--permission` (the bindings are refused), or under
 * `--pending-deprecation --throw-deprecation` (it would crash the process). `handles` insists (a
 * failed self-test stops the start), `sockets` never loads the handle implementation.
 *
 * The handle implementation is loaded here with a dynamic import and nowhere else, so a process
 * that never starts the data plane never touches Node's internals.
 */
import type { Logger } from '../../../shared/log.ts';
import type { NodeInternals } from './handles.ts';
import { RELAY_IO_IMPLEMENTATIONS, type RelayIo, type RelayIoImplementation } from './relay-io.ts';
import { socketsIo } from './sockets.ts';

/** What `--data-plane` accepts. */
export const DATA_PLANE_MODES = ['auto', ...RELAY_IO_IMPLEMENTATIONS] as const;
/** A `--data-plane` value. */
export type DataPlaneMode = (typeof DATA_PLANE_MODES)[number];

/** Why an implementation runs: named by the flag, the self-test passed, or it failed (fallback). */
export type DataPlaneReason = 'flag' | 'self-test-passed' | 'self-test-failed';

/** The chosen implementation and why. */
export interface DataPlaneChoice {
  readonly io: RelayIo;
  readonly implementation: RelayIoImplementation;
  readonly reason: DataPlaneReason;
}

/** Options of `chooseRelayIo`. */
export interface ChooseOptions {
  readonly logger: Logger;
  /** Replaces Node's internals in the handle self-test (tests). */
  readonly internals?: NodeInternals;
}

/** The handle implementation after its self-test; rejects with what failed. */
async function handles(internals: NodeInternals | undefined): Promise<RelayIo> {
  const { createHandlesIo } = await import('./handles.ts');
  return createHandlesIo(internals);
}

/** Choose and load the implementation for `mode`; with `handles`, a failed self-test rejects. */
export async function chooseRelayIo(mode: DataPlaneMode, opts: ChooseOptions): Promise<DataPlaneChoice> {
  if (mode === 'sockets') return { io: socketsIo, implementation: 'sockets', reason: 'flag' };
  if (mode === 'handles')
    return { io: await handles(opts.internals), implementation: 'handles', reason: 'flag' };
  try {
    return { io: await handles(opts.internals), implementation: 'handles', reason: 'self-test-passed' };
  } catch (err) {
    opts.logger.warn(
      { event: 'data-plane-fallback', implementation: 'sockets', reason: 'self-test-failed', err },
      'the handle data plane failed its self-test on this Node.js: forwarding with net.Socket instead (more CPU per connection)',
    );
    return { io: socketsIo, implementation: 'sockets', reason: 'self-test-failed' };
  }
}

/**
 * The implementation a worker thread runs: the one its main thread chose, after that thread's
 * self-test, which is not run again here (see `workerHandlesIo`).
 */
export async function loadRelayIo(implementation: RelayIoImplementation): Promise<RelayIo> {
  if (implementation === 'sockets') return socketsIo;
  const { workerHandlesIo } = await import('./handles.ts');
  return workerHandlesIo();
}
