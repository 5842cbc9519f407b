// Which debug images the sandbox kubelet runs from host tools, and the argv they get (Docker's
// ENTRYPOINT/CMD rules, busybox applets, socat listeners bound to the pod address). Pure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { busyboxArgv, debugExecArgv, debugImage, imageRepository, resolveDebugContainer, type HostTools } from '../../src/sandbox/debug-images.js';

const tools: HostTools = { paths: { dig: '/usr/bin/dig', socat: '/usr/bin/socat', busybox: '/usr/bin/busybox' }, applets: new Set(['sh', 'nslookup', 'sleep', 'wget']) };
const run = (image: string, extra: { command?: string[]; args?: string[] } = {}, t = tools) => {
  const img = debugImage(image);
  assert.ok(img, `${image} is on the allowlist`);
  return resolveDebugContainer({ name: 'c', image, ...extra }, img, t);
};

test('image references: registry, library/, tag and digest do not matter; others are not debug images', () => {
  assert.equal(imageRepository('docker.io/library/busybox:1.36@sha256:' + 'a'.repeat(64)), 'busybox');
  assert.equal(imageRepository('ghcr.io/nicolaka/netshoot:v0.13'), 'nicolaka/netshoot');
  assert.equal(imageRepository('localhost:5000/alpine/socat'), 'alpine/socat');
  assert.equal(debugImage('BusyBox')?.name, 'busybox');
  assert.equal(debugImage('nginx:1.27'), undefined);
  assert.equal(debugImage('evil/busybox'), undefined);
  assert.equal(debugImage(undefined), undefined);
});

test('Docker rules: command replaces ENTRYPOINT, args replace CMD', () => {
  assert.deepEqual(run('nicolaka/netshoot'), { ok: true, argv: ['sh'], host: true, busybox: false });
  assert.deepEqual(run('nicolaka/netshoot', { args: ['sleep', 'infinity'] }), { ok: true, argv: ['sleep', 'infinity'], host: true, busybox: false });
  assert.deepEqual(run('nicolaka/netshoot', { command: ['curl'], args: ['-s', 'http://x'] }), { ok: true, argv: ['curl', '-s', 'http://x'], host: true, busybox: false });
  // alpine/socat's ENTRYPOINT is socat; the conformance suite's args become socat's, listeners bound to the pod.
  const socat = run('alpine/socat', { args: ['-v', '-v', 'TCP-LISTEN:42,crlf,reuseaddr,fork', 'SYSTEM:echo pod ip $(MY_POD_IP)'] });
  assert.deepEqual(socat, { ok: true, argv: ['socat', '-v', '-v', 'TCP-LISTEN:42,crlf,reuseaddr,fork,bind=$(POD_IP)', 'SYSTEM:echo pod ip $(MY_POD_IP)'], host: true, busybox: false });
  assert.deepEqual(run('alpine/socat', { args: ['UDP-LISTEN:42,bind=10.0.0.1', 'STDOUT'] }).ok && run('alpine/socat', { args: ['UDP-LISTEN:42,bind=10.0.0.1', 'STDOUT'] }), { ok: true, argv: ['socat', 'UDP-LISTEN:42,bind=10.0.0.1', 'STDOUT'], host: true, busybox: false });
});

test('busybox: /bin/sh and bare applets run as busybox applets; other commands as named', () => {
  assert.deepEqual(run('busybox', { args: ['/bin/sh', '-ec', 'while :; do sleep 5; done'] }), { ok: true, argv: ['/usr/bin/busybox', 'sh', '-ec', 'while :; do sleep 5; done'], host: true, busybox: true });
  assert.deepEqual(run('busybox'), { ok: true, argv: ['/usr/bin/busybox', 'sh'], host: true, busybox: true });
  assert.deepEqual(busyboxArgv(['/opt/thing', 'x'], tools), ['/opt/thing', 'x']);
  assert.deepEqual(busyboxArgv(['curl'], tools), ['curl'], 'not an applet: the host command');
  assert.deepEqual(debugExecArgv('busybox:1.36', ['nslookup', 'web'], tools), ['/usr/bin/busybox', 'nslookup', 'web']);
  assert.deepEqual(debugExecArgv('nicolaka/netshoot', ['nslookup', 'web'], tools), ['nslookup', 'web']);
  assert.deepEqual(debugExecArgv('mesh-federation:dev', ['sh'], tools), ['sh']);
});

test('a missing host tool is an image pull failure that says what to install', () => {
  const r = run('alpine/socat', {}, { paths: {}, applets: new Set() });
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.reason, 'ErrImagePull');
  assert.match(!r.ok ? r.message : '', /apt-get install socat/);
  // Empty args on an image without ENTRYPOINT leave nothing to run.
  const nothing = run('nicolaka/netshoot', { args: [] });
  assert.equal(!nothing.ok && nothing.reason, 'RunContainerError');
});
