import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SecurityPolicy } from './security-policy.ts';

test('no security section: programs, pty and signals allowed; env and forwarding left to the backend', () => {
  const policy = new SecurityPolicy();
  assert.deepEqual(policy.program({ kind: 'shell' }), {});
  assert.deepEqual(policy.program({ kind: 'exec', command: 'id' }), {});
  assert.equal(policy.tty(), undefined);
  assert.equal(policy.signal('INT'), undefined);
  assert.equal(policy.env('LANG'), 'unset');
  assert.equal(policy.forwarding('direct-tcpip'), 'unset');
  assert.equal(policy.maxSessions, undefined);
});

test('enable minus deny, filter plus allow, disable', () => {
  const policy = new SecurityPolicy({
    env: { mode: 'enable', deny: ['LD_PRELOAD'] },
    subsystem: { mode: 'filter', allow: ['sftp'] },
    signal: { mode: 'disable' },
  });
  assert.equal(policy.env('LANG'), 'allow');
  assert.equal(policy.env('LD_PRELOAD'), 'deny');
  assert.deepEqual(policy.program({ kind: 'subsystem', name: 'sftp' }), {});
  assert.equal((policy.program({ kind: 'subsystem', name: 'other' }) as { refusal: { code: string } }).refusal.code, 'SECURITY_SUBSYSTEM_REJECTED');
  assert.equal(policy.signal('INT')?.code, 'SECURITY_SIGNAL_REJECTED');
});

test('defaultMode applies to every section that names no mode of its own', () => {
  const policy = new SecurityPolicy({ defaultMode: 'disable', command: { mode: 'filter', allow: ['ls'] }, forwarding: { forwardingMode: 'enable' } });
  assert.equal((policy.program({ kind: 'shell' }) as { refusal: { code: string } }).refusal.code, 'SECURITY_SHELL_REJECTED');
  assert.deepEqual(policy.program({ kind: 'exec', command: 'ls' }), {});
  assert.equal((policy.program({ kind: 'exec', command: 'ls -la' }) as { refusal: { code: string } }).refusal.code, 'SECURITY_EXEC_REJECTED');
  assert.equal(policy.tty()?.code, 'SECURITY_TTY_REJECTED');
  assert.equal(policy.env('LANG'), 'deny');
  assert.equal(policy.forwarding('direct-tcpip'), 'allow');
  assert.equal(policy.forwarding('tcpip-forward'), 'deny');
  assert.equal(policy.forwarding('x11'), 'deny');
  // ContainerSSH's empty mode means "not set", so the default applies.
  assert.equal(new SecurityPolicy({ defaultMode: 'disable', tty: { mode: '' } }).tty()?.code, 'SECURITY_TTY_REJECTED');
});

test('forceCommand replaces every program request and keeps the original', () => {
  const policy = new SecurityPolicy({ forceCommand: '/usr/bin/menu', command: { mode: 'disable' } });
  assert.deepEqual(policy.program({ kind: 'exec', command: 'rm -rf ~' }), { forced: { command: '/usr/bin/menu', original: 'rm -rf ~' } });
  assert.deepEqual(policy.program({ kind: 'shell' }), { forced: { command: '/usr/bin/menu', original: '' } });
  assert.deepEqual(policy.program({ kind: 'subsystem', name: 'sftp' }), { forced: { command: '/usr/bin/menu', original: 'sftp' } });
});

test('limits and durations', () => {
  const policy = new SecurityPolicy({ maxSessions: 3, maxConnectionsPerUser: 2, session: { idleTimeout: '5m', maxDuration: '8h' } });
  assert.equal(policy.maxSessions, 3);
  assert.equal(policy.maxConnectionsPerUser, 2);
  assert.deepEqual(policy.timeLimits, { idleTimeoutMs: 300_000, maxDurationMs: 28_800_000, warnBeforeMs: 60_000 });
  assert.equal(new SecurityPolicy({ maxSessions: -1 }).maxSessions, undefined, 'ContainerSSH -1: unlimited');
});
