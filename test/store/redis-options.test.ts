import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatProblem } from '../../shared/errors.ts';
import {
  PASSWORD_ENV,
  type RedisFlags,
  type RedisOptionsEnv,
  redactUrl,
  redisConnectionFrom,
} from '../../shared/store/redis-options.ts';
import { findRedisServer } from '../harness/redis.ts';

const SECRET = 's3cr3t-Pa55';

function env(vars: Record<string, string> = {}, files: Record<string, string> = {}): RedisOptionsEnv {
  return {
    env: vars,
    readFile: (p) => {
      const text = files[p];
      if (text === undefined) throw Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' });
      return text;
    },
  };
}

function problems(flags: RedisFlags, io = env()): string[] {
  const r = redisConnectionFrom(flags, io);
  assert.equal(r.ok, false, 'expected the flags to be refused');
  return r.ok ? [] : r.problems.map(formatProblem);
}

describe('redisConnectionFrom', () => {
  it('turns a standalone URL into host, port, db and the default prefix', () => {
    const r = redisConnectionFrom({ redisUrl: 'redis://redis.switchyard:6380/2' }, env());
    assert.ok(r.ok);
    assert.equal(r.value.options.host, 'redis.switchyard');
    assert.equal(r.value.options.port, 6380);
    assert.equal(r.value.options.db, 2);
    assert.equal(r.value.options.tls, undefined);
    assert.equal(r.value.keyPrefix, 'switchyard:');
    assert.equal(r.value.target, 'redis://redis.switchyard:6380/2');
  });

  it('enables TLS for rediss:// with the CA file, and defaults the port to 6379', () => {
    const r = redisConnectionFrom(
      { redisUrl: 'rediss://[2001:db8::5]', redisTlsCaFile: '/ca.pem' },
      env({}, { '/ca.pem': 'PEM' }),
    );
    assert.ok(r.ok);
    assert.equal(r.value.options.host, '2001:db8::5');
    assert.equal(r.value.options.port, 6379);
    assert.deepEqual(r.value.options.tls, { ca: 'PEM', servername: '2001:db8::5' });
  });

  it('reads the password from the file (dropping the trailing newline) or from the environment', () => {
    const fromFile = redisConnectionFrom(
      { redisUrl: 'redis://r:6379', redisPasswordFile: '/run/pw' },
      env({}, { '/run/pw': `${SECRET}\n` }),
    );
    assert.ok(fromFile.ok);
    assert.equal(fromFile.value.options.password, SECRET);
    const fromEnv = redisConnectionFrom({ redisUrl: 'redis://r:6379' }, env({ [PASSWORD_ENV]: SECRET }));
    assert.ok(fromEnv.ok);
    assert.equal(fromEnv.value.options.password, SECRET);
    assert.ok(!fromEnv.value.target.includes(SECRET));
  });

  it('refuses a password in the URL without ever repeating it', () => {
    const ps = problems({ redisUrl: `redis://admin:${SECRET}@r:6379/0` });
    assert.equal(ps.length, 1);
    assert.match(ps[0]!, /redis\.password-in-url/);
    assert.match(ps[0]!, /--redis-password-file/);
    assert.ok(!ps.join('\n').includes(SECRET), ps.join('\n'));
  });

  it('redacts passwords in any URL inside a message, even with @ in the password', () => {
    assert.equal(
      redactUrl('failed: redis://u:p@ss@host:6379/0 down'),
      'failed: redis://u:***@host:6379/0 down',
    );
    assert.equal(redactUrl('rediss://:x@h'), 'rediss://:***@h');
    assert.equal(redactUrl('redis://host:6379'), 'redis://host:6379');
  });

  it('names the flag and the fix for a missing mode, both modes, a bad scheme and an unreadable file', () => {
    assert.match(problems({})[0]!, /exactly one of --redis-url .* and --redis-sentinels/);
    assert.match(
      problems({ redisUrl: 'redis://a', redisSentinels: 'b:1', redisSentinelMaster: 'm' })[0]!,
      /exactly one/,
    );
    assert.match(problems({ redisUrl: 'http://a:1' })[0]!, /redis:\/\/ or rediss:\/\//);
    const unreadable = problems({ redisUrl: 'redis://a', redisPasswordFile: '/nope' });
    assert.match(unreadable[0]!, /redis-password-file="\/nope".*ENOENT/);
    assert.match(
      problems(
        { redisUrl: 'redis://a', redisPasswordFile: '/pw' },
        env({ [PASSWORD_ENV]: 'x' }, { '/pw': 'y' }),
      )[0]!,
      /keep one/,
    );
    assert.match(problems({ redisUrl: 'redis://a', redisKeyPrefix: 'has space' })[0]!, /redis-key-prefix/);
  });

  it('builds Sentinel options from host:port pairs and a master name', () => {
    const r = redisConnectionFrom(
      {
        redisSentinels: 's1:26379, [2001:db8::1]:26380',
        redisSentinelMaster: 'mymaster',
        redisSentinelPasswordFile: '/sp',
        redisTls: true,
      },
      env({ [PASSWORD_ENV]: SECRET }, { '/sp': 'sentinel-pw' }),
    );
    assert.ok(r.ok);
    assert.deepEqual(r.value.options.sentinels, [
      { host: 's1', port: 26379 },
      { host: '2001:db8::1', port: 26380 },
    ]);
    assert.equal(r.value.options.name, 'mymaster');
    assert.equal(r.value.options.password, SECRET);
    assert.equal(r.value.options.sentinelPassword, 'sentinel-pw');
    assert.equal(r.value.options.enableTLSForSentinelMode, true);
    assert.equal(r.value.target, 'sentinel master mymaster via s1:26379,[2001:db8::1]:26380 (TLS)');
  });

  it('refuses a Sentinel list without ports or without a master name', () => {
    const ps = problems({ redisSentinels: 's1' });
    assert.ok(ps.some((p) => /each Sentinel must be host:port/.test(p)));
    assert.ok(ps.some((p) => /redis-sentinel-master/.test(p)));
  });
});

describe('test Redis harness', () => {
  it('fails with an install hint when redis-server cannot be found', () => {
    assert.throws(
      () => findRedisServer({ PATH: '' }, '/nonexistent/redis-server'),
      /redis-server not found .*install it/,
    );
  });
});
