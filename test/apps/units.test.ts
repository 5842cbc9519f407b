import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyStart, headerSubset, identityFromEnv, bindHost } from '../../src/apps/index.js';

test('tcp-echo start classification: WHO / WHO\\r\\n / prefixes wait / anything else echoes', () => {
  const cases: [string, string][] = [
    ['WHO\n', 'who'],
    ['WHO\nrest', 'who'],
    ['WHO\r\n', 'who-crlf'],
    ['', 'undecided'],
    ['W', 'undecided'],
    ['WHO', 'undecided'],
    ['WHO\r', 'undecided'],
    ['WHOA', 'echo'],
    ['who\n', 'echo'],
    ['GET / HTTP/1.1\r\n', 'echo'],
  ];
  for (const [input, want] of cases) assert.equal(classifyStart(Buffer.from(input)), want, JSON.stringify(input));
});

test('http-echo header subset: routing and tracing headers only, never credentials or cookies', () => {
  assert.deepEqual(headerSubset({ host: 'web:8080', authorization: 'Bearer x', cookie: 'a=b', 'x-request-id': '1', 'l5d-dst-canonical': 'web', 'user-agent': 'ua', accept: '*/*' }), {
    host: 'web:8080',
    'x-request-id': '1',
    'l5d-dst-canonical': 'web',
    'user-agent': 'ua',
  });
});

test('identity and bind address from the Downward API env', () => {
  assert.deepEqual(identityFromEnv({ CLUSTER_NAME: 'c', POD_NAME: 'p', POD_NAMESPACE: 'n', POD_IP: '127.1.0.5' }), { cluster: 'c', namespace: 'n', pod: 'p', podIP: '127.1.0.5' });
  assert.equal(identityFromEnv({}).cluster, 'unknown');
  assert.equal(bindHost(undefined, { POD_IP: '127.1.0.5' }), '127.1.0.5');
  assert.equal(bindHost('127.0.0.1', { POD_IP: '127.1.0.5' }), '127.0.0.1');
  assert.equal(bindHost(undefined, {}), '0.0.0.0');
});
