/**
 * A data-plane worker thread: one Forwarder with its own SO_REUSEPORT listeners, driven by messages
 * from the main thread (tables, health changes, stats requests, drain) and reporting failed
 * backend connects back so that the main thread's health checker can eject the target.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createLogger } from '../../shared/log.ts';
import { Forwarder } from '../forward/forwarder.ts';
import { loadRelayIo } from '../forward/io/choose.ts';
import type { FromWorker, ToWorker, WorkerInit } from './messages.ts';

const port = parentPort;
if (port === null) throw new Error('worker-entry.ts must run in a worker thread');
const init = workerData as WorkerInit;
const logger = createLogger({
  level: init.logLevel,
  format: init.logFormat,
  name: 'switchyard-speaker',
}).child({
  worker: init.index,
});
const send = (msg: FromWorker) => port.postMessage(msg);

// The implementation the main thread chose, after its self-test (a missing internal throws here: the
// worker's error stops the speaker's start).
const forwarder = new Forwarder({
  logger,
  io: await loadRelayIo(init.implementation),
  onConnectFailure: (key) => send({ type: 'connect-failure', key }),
  speakerLimit: init.speakerLimit,
});

port.on('message', (msg: ToWorker) => {
  switch (msg.type) {
    case 'apply':
      void forwarder
        .apply(msg.table, msg.health, new Map(msg.counters))
        .then((reports) => send({ type: 'applied', seq: msg.seq, reports }));
      break;
    case 'health':
      forwarder.setHealth(msg.changes);
      break;
    case 'stats':
      send({ type: 'stats', seq: msg.seq, entries: forwarder.stats() });
      break;
    case 'drain':
      void forwarder.drain(msg.timeoutMs).then(() => send({ type: 'drained', seq: msg.seq }));
      break;
  }
});
send({ type: 'ready' });
