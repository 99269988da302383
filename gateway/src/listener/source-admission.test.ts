import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { LocalSourceAdmission, type AdmissionVerdict } from './source-admission.ts';

const quiet = pino({ level: 'silent' });
const PENALTIES = { authfail: 20_000, noauth: 0, graceExceeded: 20_000, min: 15_000, max: 60_000, maxDelay: 1_000, maxSources: 10, exempt: ['10.9.0.0/16'] };

function admitted(verdict: AdmissionVerdict) {
  assert.ok(verdict.admitted, 'admitted');
  return verdict;
}

test('a ticket holds its source slot until login or close, the way the cluster primary counts for every worker', () => {
  const admission = new LocalSourceAdmission({ maxStartups: { start: 100, rate: 30, full: 100, perSource: 2 }, log: quiet });
  const first = admitted(admission.admit('192.0.2.1'));
  admitted(admission.admit('192.0.2.1'));
  assert.equal(admission.admit('192.0.2.1').admitted, false, 'a third unauthenticated connection from one source');
  assert.equal(admission.admit('192.0.2.2').admitted, true, 'another source is counted apart');
  first.ticket.loggedIn();
  const third = admitted(admission.admit('192.0.2.1'));
  third.ticket.closed();
  third.ticket.closed(); // a second report frees nothing twice
  admitted(admission.admit('192.0.2.1'));
  assert.equal(admission.admit('192.0.2.1').admitted, false);
});

test('a close that reports a failed login refuses the source block its passwords, a stalled one the block itself; never an exempt one', () => {
  const admission = new LocalSourceAdmission({ maxStartups: { start: 100, rate: 30, full: 100, perSource: 10 }, penalties: PENALTIES, log: quiet });
  admitted(admission.admit('198.51.100.7')).ticket.closed('authfail');
  const next = admitted(admission.admit('198.51.100.7'));
  // The admission reads the real clock: the 20 s penalty may have run a few ms down.
  assert.ok(next.ticket.passwordsRefusedMs > 19_000 && next.ticket.passwordsRefusedMs <= 20_000, 'served, for a key; its passwords refused while penalised');
  next.ticket.closed();
  admitted(admission.admit('198.51.100.8')).ticket.closed('grace-exceeded');
  assert.equal(admission.admit('198.51.100.8').admitted, false, 'a source that stalls its logins is refused while penalised');
  admitted(admission.admit('10.9.1.1')).ticket.closed('grace-exceeded');
  assert.equal(admission.admit('10.9.1.1').admitted, true, 'exempt');
  admitted(admission.admit('10.9.1.1')).ticket.closed('authfail');
  assert.equal(admitted(admission.admit('10.9.1.1')).ticket.passwordsRefusedMs, 0, 'exempt');
  const loggedIn = admitted(admission.admit('203.0.113.9'));
  loggedIn.ticket.loggedIn();
  loggedIn.ticket.closed();
  assert.equal(admission.admit('203.0.113.9').admitted, true, 'a close after login costs nothing');
});
