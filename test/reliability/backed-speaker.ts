/**
 * The rig several reliability scenarios share: a real speaker process with one listener in front of
 * a backend server that runs in the test process, so the test both drives the clients and plays the
 * backend. Each scenario brings its own server (echo, byte-exact peer, resetter).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo, Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, loopbackAddress } from '../speaker/loopback.ts';
import {
  type SpeakerProcess,
  type SpeakerProcessOptions,
  singleListenerTable,
  startSpeakerProcess,
} from './speaker-process.ts';

export interface BackedSpeakerOptions {
  /** The listener's service (`namespace/name`); its name also names the temporary directory. */
  readonly service: string;
  /** The backend, not listening yet: it is started on a fresh loopback address. */
  readonly server: Server;
  readonly backlog: number;
  /** Listener fields over the one-listener table's (timeouts, limits, health check). */
  readonly listener?: Record<string, unknown>;
  /** Speaker process options other than the table (one worker unless given). */
  readonly speaker?: Omit<SpeakerProcessOptions, 'table' | 'tablePath'>;
}

export interface BackedSpeaker {
  readonly speaker: SpeakerProcess;
  readonly vip: string;
  readonly port: number;
  readonly backendAddress: string;
  /** Stop the speaker and the backend and remove the temporary directory. */
  close(): Promise<void>;
}

export async function startBackedSpeaker(o: BackedSpeakerOptions): Promise<BackedSpeaker> {
  const dir = await mkdtemp(join(tmpdir(), `switchyard-${o.service.split('/')[0]}-`));
  const cleanUp = async (speaker: SpeakerProcess | null) => {
    speaker?.kill();
    o.server.close();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const backendAddress = loopbackAddress();
    await new Promise<void>((resolve, reject) => {
      o.server.once('error', reject);
      o.server.listen({ host: backendAddress, port: 0, backlog: o.backlog }, resolve);
    });
    const vip = loopbackAddress();
    const port = await freePort(vip);
    const speaker = await startSpeakerProcess({
      workers: 1,
      ...o.speaker,
      tablePath: join(dir, 'table.json'),
      table: singleListenerTable(
        o.service,
        vip,
        port,
        [{ address: backendAddress, port: (o.server.address() as AddressInfo).port }],
        o.listener,
      ),
    });
    return { speaker, vip, port, backendAddress, close: () => cleanUp(speaker) };
  } catch (err) {
    await cleanUp(null);
    throw err;
  }
}
