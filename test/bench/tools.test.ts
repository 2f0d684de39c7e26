import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findCommand, missingToolsMessage, versionLine } from '../../bench/tools.ts';

describe('missingToolsMessage', () => {
  it('names the missing commands and the Debian packages to install', () => {
    const msg = missingToolsMessage({
      haproxy: '/usr/sbin/haproxy',
      wrk: null,
      nginx: null,
      iperf3: '/usr/bin/iperf3',
      taskset: null,
    });
    assert.ok(msg);
    assert.match(msg, /missing wrk, nginx/);
    assert.match(msg, /apt-get install -y --no-install-recommends wrk nginx-light$/m);
    assert.doesNotMatch(msg, /util-linux/, 'taskset is optional');
  });

  it('is null when every required tool is there', () => {
    assert.equal(
      missingToolsMessage({ haproxy: '/a', wrk: '/b', nginx: '/c', iperf3: '/d', taskset: null }),
      null,
    );
  });
});

describe('findCommand', () => {
  it('finds an executable on PATH and returns null for one that does not exist', () => {
    assert.equal(findCommand('sh', '/bin:/usr/bin')?.endsWith('/sh'), true);
    assert.equal(findCommand('no-such-command-switchyard', '/bin'), null);
  });
});

describe('versionLine', () => {
  it('picks the first line with a version number, wherever the tool printed it', () => {
    assert.equal(versionLine('\nnginx version: nginx/1.22.1\n'), 'nginx version: nginx/1.22.1');
    assert.equal(
      versionLine('HAProxy version 2.6.12-1 2026/10/17\nStatus: long-term'),
      'HAProxy version 2.6.12-1 2026/10/17',
    );
  });
});
