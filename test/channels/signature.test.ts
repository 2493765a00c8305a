import { describe, expect, it } from 'vitest';
import {
  signatureHeaderLengthMax,
  signatureToleranceSecondsDefault,
  signPayload,
  verifySignature,
} from '../../src/channels/signature.js';

const secret = 'whsec_test_current';
const oldSecret = 'whsec_test_previous';
const body = '{"requestId":"r1","amountMinor":"30"}';
const t = 1_767_600_000;
const tolerance = signatureToleranceSecondsDefault;

describe('signPayload', () => {
  it('writes t=<seconds>,v1=<64 hex digits>', () => {
    expect(signPayload(secret, body, t)).toMatch(/^t=1767600000,v1=[0-9a-f]{64}$/);
  });

  it('is deterministic and depends on the secret, the body and the time', () => {
    const header = signPayload(secret, body, t);
    expect(signPayload(secret, body, t)).toBe(header);
    expect(signPayload(oldSecret, body, t)).not.toBe(header);
    expect(signPayload(secret, `${body} `, t)).not.toBe(header);
    expect(signPayload(secret, body, t + 1).split(',v1=')[1]).not.toBe(header.split(',v1=')[1]);
  });

  it('refuses an empty secret and a timestamp that is not whole seconds', () => {
    expect(() => signPayload('', body, t)).toThrow(/secret/);
    expect(() => signPayload(secret, body, t + 0.5)).toThrow(/whole number/);
    expect(() => signPayload(secret, body, -1)).toThrow(/whole number/);
  });
});

describe('verifySignature', () => {
  it('accepts its own signature within the tolerance, either side of the clock', () => {
    const header = signPayload(secret, body, t);
    expect(verifySignature(secret, body, header, t, tolerance)).toBe('ok');
    expect(verifySignature(secret, body, header, t + tolerance, tolerance)).toBe('ok');
    expect(verifySignature(secret, body, header, t - tolerance, tolerance)).toBe('ok');
  });

  it('answers missing without a header', () => {
    expect(verifySignature(secret, body, undefined, t, tolerance)).toBe('missing');
    expect(verifySignature(secret, body, '', t, tolerance)).toBe('missing');
  });

  it('answers malformed for a header it cannot read', () => {
    const v1 = signPayload(secret, body, t).split(',v1=')[1] ?? '';
    const cases = [
      'garbage',
      `v1=${v1}`,
      `t=${t}`,
      `t=abc,v1=${v1}`,
      `t=${t},t=${t},v1=${v1}`,
      `t=${t},v1=${v1.slice(2)}`,
      `t=${t},v1=${v1.slice(0, -1)}z`,
      `t=${t},v1=${v1},x=${'a'.repeat(signatureHeaderLengthMax)}`,
      `t=${t},v1=${v1},v1=${v1},v1=${v1},v1=${v1},v1=${v1}`,
    ];
    for (const header of cases) expect(verifySignature(secret, body, header, t, tolerance), header).toBe('malformed');
  });

  it('skips keys it does not know, so a later scheme can ride along', () => {
    const header = `${signPayload(secret, body, t)},v2=whatever`;
    expect(verifySignature(secret, body, header, t, tolerance)).toBe('ok');
  });

  it('answers expired for an authentic signature outside the tolerance', () => {
    const header = signPayload(secret, body, t);
    expect(verifySignature(secret, body, header, t + tolerance + 1, tolerance)).toBe('expired');
    expect(verifySignature(secret, body, header, t - tolerance - 1, tolerance)).toBe('expired');
  });

  it('answers mismatch for another body, another secret or another timestamp', () => {
    const header = signPayload(secret, body, t);
    expect(verifySignature(secret, body.replace('30', '31'), header, t, tolerance)).toBe('mismatch');
    expect(verifySignature('another', body, header, t, tolerance)).toBe('mismatch');
    expect(verifySignature(secret, body, header.replace(`t=${t}`, `t=${t + 1}`), t, tolerance)).toBe('mismatch');
  });

  it('checks the signature before the clock: an old forgery is a mismatch, not expired', () => {
    const forged = signPayload('attacker', body, t - 10 * tolerance);
    expect(verifySignature(secret, body, forged, t, tolerance)).toBe('mismatch');
  });

  it('accepts any of several secrets during a rotation', () => {
    const signedWithOld = signPayload(oldSecret, body, t);
    expect(verifySignature([secret, oldSecret], body, signedWithOld, t, tolerance)).toBe('ok');
    expect(verifySignature([secret], body, signedWithOld, t, tolerance)).toBe('mismatch');
    // A sender mid-rotation signs with both; a receiver still on the old secret accepts it.
    const signedWithBoth = `${signPayload(secret, body, t)},v1=${signPayload(oldSecret, body, t).split(',v1=')[1] ?? ''}`;
    expect(verifySignature(oldSecret, body, signedWithBoth, t, tolerance)).toBe('ok');
    expect(verifySignature(secret, body, signedWithBoth, t, tolerance)).toBe('ok');
  });

  it('refuses to verify with no secret at all', () => {
    expect(() => verifySignature([], body, signPayload(secret, body, t), t, tolerance)).toThrow(/at least one secret/);
    expect(() => verifySignature([secret, ''], body, signPayload(secret, body, t), t, tolerance)).toThrow(/empty/);
  });
});
