/**
 * An in-process Speaker for the tests that serve a table (a table file, or what `serve` gives it),
 * started with the options those tests share; each test overrides only what it is about.
 */
import { Registry } from 'prom-client';
import { silentLogger } from '../../shared/log.ts';
import { Speaker, type SpeakerOptions } from '../../speaker/speaker.ts';

/** What a test gives: where health comes from, and any option that differs from the defaults. */
export type TestSpeakerOptions = Partial<SpeakerOptions> & Pick<SpeakerOptions, 'health'>;

/**
 * Start a Speaker forwarding in the main thread, with no connection cap, a 500 ms drain, no metrics
 * endpoint, its own metrics registry and a silent logger, unless `opts` says otherwise.
 */
export function startTestSpeaker(opts: TestSpeakerOptions): Promise<Speaker> {
  return Speaker.start({
    workers: 0,
    maxConnections: 0,
    drainTimeoutMs: 500,
    metricsAt: null,
    logger: silentLogger(),
    registry: new Registry(),
    ...opts,
  });
}
