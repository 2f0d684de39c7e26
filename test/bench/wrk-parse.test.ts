import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseWrkOutput, parseWrkTime, wrkErrorCount } from '../../bench/wrk-parse.ts';

const withLatency = `Running 1s test @ http://127.0.0.1:18080/
  1 threads and 100 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   739.53us  402.29us  10.90ms   92.80%
    Req/Sec   119.28k    11.67k  136.46k    66.67%
  Latency Distribution
     50%  658.00us
     75%  780.00us
     90%    1.01ms
     99%    2.23ms
  248812 requests in 2.10s, 35.36MB read
Requests/sec: 118437.01
Transfer/sec:     16.83MB
`;

const withErrors = `Running 25s test @ http://127.77.0.9:18085/
  1 threads and 9950 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   272.54ms  308.33ms   4.77s    91.15%
    Req/Sec    30.97k    18.60k   62.70k    55.56%
  451026 requests in 1.00m, 64.09MB read
  Socket errors: connect 3, read 75, write 2, timeout 1717
  Non-2xx or 3xx responses: 12
Requests/sec:  27234.30
Transfer/sec:      3.87MB
`;

describe('parseWrkTime', () => {
  it('converts every wrk time unit to microseconds', () => {
    assert.equal(parseWrkTime('658.00us'), 658);
    assert.equal(parseWrkTime('2.23ms'), 2230);
    assert.equal(parseWrkTime('1.10s'), 1_100_000);
    assert.equal(parseWrkTime('1.00m'), 60_000_000);
    assert.equal(parseWrkTime('fast'), null);
  });
});

describe('parseWrkOutput', () => {
  it('reads totals, rate and the latency distribution of a --latency run', () => {
    const r = parseWrkOutput(withLatency);
    assert.equal(r.requests, 248812);
    assert.equal(r.seconds, 2.1);
    assert.equal(r.requestsPerSecond, 118437.01);
    assert.equal(r.p50Us, 658);
    assert.equal(r.p75Us, 780);
    assert.equal(r.p90Us, 1010);
    assert.equal(r.p99Us, 2230);
    assert.equal(wrkErrorCount(r), 0);
  });

  it('counts socket errors and non-2xx responses, and has no percentiles without --latency', () => {
    const r = parseWrkOutput(withErrors);
    assert.deepEqual(r.errors, { connect: 3, read: 75, write: 2, timeout: 1717 });
    assert.equal(r.non2xx, 12);
    assert.equal(wrkErrorCount(r), 3 + 75 + 2 + 1717 + 12);
    assert.equal(r.seconds, 60);
    assert.equal(r.p99Us, null);
  });

  it('throws with the output when wrk printed no summary (killed or failed to connect)', () => {
    assert.throws(
      () => parseWrkOutput('unable to connect to 127.0.0.1:1 Connection refused\n'),
      /no "N requests in T" line[\s\S]*Connection refused/,
    );
  });
});
