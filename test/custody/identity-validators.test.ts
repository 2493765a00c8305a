import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  creditCodeCheckCharacter,
  isBankCardNumber,
  isMainlandMobile,
  isResidentIdNumber,
  isUnifiedSocialCreditCode,
  luhnCheckDigit,
  normalizeBankCardNumber,
  normalizeIdNumber,
  normalizeMainlandMobile,
  normalizeMobile,
  normalizeResidentIdNumber,
  normalizeUnifiedSocialCreditCode,
  residentIdCheckCharacter,
} from '../../src/custody/identity-validators.js';

// The check characters below are computed here from the published algorithms, not taken
// from the module under test, so a shared mistake cannot make both agree.

/** GB 11643-1999: weights 2^(17-i) mod 11, sum mod 11 indexes "10X98765432". */
function idCheck(first17: string): string {
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += Number(first17[i]) * (2 ** (17 - i) % 11);
  return '10X98765432'[sum % 11] ?? '?';
}

/** GB 32100-2015: weights 3^i mod 31, check = 31 - sum mod 31 (31 becomes 0). */
const creditAlphabet = '0123456789ABCDEFGHJKLMNPQRTUWXY';
function creditCheck(first17: string): string {
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += creditAlphabet.indexOf(first17[i] ?? '') * (3 ** i % 31);
  return creditAlphabet[(31 - (sum % 31)) % 31] ?? '?';
}

/** Luhn: from the right, double every second digit, subtract 9 above 9; the sum is 0 mod 10. */
function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 1) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
    sum += d;
  }
  return sum % 10 === 0;
}

const today = '2025-06-15';
const id = (first17: string): string => first17 + idCheck(first17);
const credit = (first17: string): string => first17 + creditCheck(first17);

describe('isResidentIdNumber', () => {
  const valid = [
    '11010519491231002X', // the sample of GB 11643-1999 itself
    id('44030519900307123'), // Shenzhen, Nanshan
    id('31011520000229456'), // Shanghai, Pudong; born on a leap day
    id('65010219190101001'), // Urumqi
    id('81000019951010002'), // a Hong Kong resident's residence permit
    id('33010620250615123'), // born today
  ];

  it('accepts well-formed numbers', () => {
    expect(idCheck('11010519491231002')).toBe('X');
    for (const value of valid) expect(isResidentIdNumber(value, today), value).toBe(true);
  });

  it('accepts a lower-case x and spaces, and normalizes them away', () => {
    expect(isResidentIdNumber('11010519491231002x', today)).toBe(true);
    expect(isResidentIdNumber(' 110105 19491231 002x ', today)).toBe(true);
    expect(isResidentIdNumber('１１０１０５１９４９１２３１００２Ｘ', today)).toBe(true);
    expect(normalizeResidentIdNumber(' 110105 19491231 002x ')).toBe('11010519491231002X');
    expect(normalizeIdNumber(' 110105 19491231 002x ')).toBe('11010519491231002X');
    expect(normalizeIdNumber('91350100m000100y43')).toBe('91350100M000100Y43');
  });

  it('agrees with the published check character for random digits', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^\d{17}$/), (first17) => {
        expect(residentIdCheckCharacter(first17)).toBe(idCheck(first17));
      }),
    );
  });

  it('refuses a wrong check character', () => {
    const good = id('44030519900307123');
    for (const ch of '0123456789X') {
      if (ch !== good[17]) expect(isResidentIdNumber(good.slice(0, 17) + ch, today), ch).toBe(false);
    }
    expect(isResidentIdNumber('110105194912310021', today)).toBe(false);
  });

  it('refuses impossible birth dates', () => {
    for (const birth of ['19900230', '19000229', '20230229', '19901301', '19900001', '19900100', '19900431']) {
      expect(isResidentIdNumber(id(`440305${birth}123`), today), birth).toBe(false);
    }
    expect(isResidentIdNumber(id('44030518991231123'), today)).toBe(false); // before 1900
  });

  it('refuses a birth date after today', () => {
    expect(isResidentIdNumber(id('33010620250616123'), today)).toBe(false);
    expect(isResidentIdNumber(id('33010620250616123'), '2025-06-16')).toBe(true);
    expect(isResidentIdNumber(id('33010630000101123'), today)).toBe(false);
  });

  it('refuses unknown province codes', () => {
    for (const region of ['000000', '100000', '160000', '720000', '900000', '990000']) {
      expect(isResidentIdNumber(id(`${region}19900307123`), today), region).toBe(false);
    }
  });

  it('refuses wrong lengths and characters', () => {
    for (const bad of [
      '',
      '11010519491231002', // 17
      '11010519491231002XX', // 19
      '110105491231002', // the old 15-digit form
      '1101051949123100AX',
      'X10105194912310020',
      '11010519491231002Y',
      '11010519491231002-',
    ]) {
      expect(isResidentIdNumber(bad, today), bad).toBe(false);
    }
  });

  it('takes today as epoch milliseconds too, dated in China Standard Time', () => {
    const bornJune16 = id('33010620250616123');
    // 2025-06-15T15:59:59.999Z is still June 15 in Beijing; one millisecond later it is June 16.
    expect(isResidentIdNumber(bornJune16, Date.UTC(2025, 5, 15, 15, 59, 59, 999))).toBe(false);
    expect(isResidentIdNumber(bornJune16, Date.UTC(2025, 5, 15, 16))).toBe(true);
    expect(isResidentIdNumber('11010519491231002X', Date.UTC(2025, 0, 1))).toBe(true);
  });

  it('throws on a malformed today, which is a bug of the caller', () => {
    for (const bad of ['20250615', '2025-02-30', '', Number.NaN, Number.POSITIVE_INFINITY, 9e15]) {
      expect(() => isResidentIdNumber('11010519491231002X', bad), String(bad)).toThrow(/YYYY-MM-DD/);
    }
  });
});

describe('isUnifiedSocialCreditCode', () => {
  const valid = [
    '91350100M000100Y43', // the sample widely quoted from GB 32100-2015
    '91330100716105852F', // a registered company's code, as printed on its licence
    credit('91110000100009999'),
    credit('12100000400000398'), // a public institution (registration authority 1)
    credit('Y1440300MA5DXXXXX'), // registration authority Y, letters in the organization code
    credit('52310000MJ4Y7K0R3'),
  ];

  it('accepts well-formed codes', () => {
    for (const value of valid) expect(isUnifiedSocialCreditCode(value), value).toBe(true);
  });

  it('accepts lower case and spaces, and normalizes them away', () => {
    expect(isUnifiedSocialCreditCode('91350100m000100y43')).toBe(true);
    expect(isUnifiedSocialCreditCode(' 9135 0100 M000 100Y 43 ')).toBe(true);
    expect(normalizeUnifiedSocialCreditCode(' 9135 0100 m000 100y 43 ')).toBe('91350100M000100Y43');
  });

  it('agrees with the published check character for random codes', () => {
    const char = fc.constantFrom(...creditAlphabet);
    fc.assert(
      fc.property(fc.array(char, { minLength: 17, maxLength: 17 }), (chars) => {
        const first17 = chars.join('');
        expect(creditCodeCheckCharacter(first17)).toBe(creditCheck(first17));
      }),
    );
  });

  it('refuses a wrong check character', () => {
    const good = '91350100M000100Y43';
    for (const ch of creditAlphabet) {
      if (ch !== '3') expect(isUnifiedSocialCreditCode(good.slice(0, 17) + ch), ch).toBe(false);
    }
  });

  it('refuses letters outside the alphabet, wherever they are', () => {
    for (const letter of 'IOSVZ') {
      // A letter outside the alphabet has no value in the sum, so no check character can save it.
      expect(isUnifiedSocialCreditCode(`91350100${letter}000100Y43`), letter).toBe(false);
      expect(isUnifiedSocialCreditCode(`91350100M000100Y4${letter}`), letter).toBe(false);
    }
    expect(isUnifiedSocialCreditCode('91350100M000100Y4-')).toBe(false);
  });

  it('refuses letters in the region positions', () => {
    expect(isUnifiedSocialCreditCode(credit('913501A0M000100Y4'))).toBe(false);
  });

  it('refuses wrong lengths', () => {
    for (const bad of ['', '91350100M000100Y4', '91350100M000100Y433', 'M000100Y4']) {
      expect(isUnifiedSocialCreditCode(bad), bad).toBe(false);
    }
  });
});

describe('isMainlandMobile', () => {
  it('accepts 11 digits starting 13 to 19, with spaces, dashes and +86 removed', () => {
    for (const value of [
      '13812345678',
      '19912345678',
      '16612345678',
      '138 1234 5678',
      '138-1234-5678',
      '+8613812345678',
      '+86 138 1234 5678',
      '8613812345678',
      '86-138-1234-5678',
    ]) {
      expect(isMainlandMobile(value), value).toBe(true);
    }
    expect(normalizeMainlandMobile('+86 138-1234-5678')).toBe('13812345678');
    expect(normalizeMainlandMobile('86 138 1234 5678')).toBe('13812345678');
    expect(normalizeMobile('+86 138-1234-5678')).toBe('13812345678');
  });

  it('refuses other numbers', () => {
    for (const value of [
      '',
      '12812345678', // no 12 prefix
      '10012345678',
      '23812345678',
      '1381234567', // 10 digits
      '138123456789', // 12 digits
      '+85261234567', // Hong Kong
      '+8601012345678',
      '1381234567a',
      '010-12345678', // a landline
    ]) {
      expect(isMainlandMobile(value), value).toBe(false);
    }
  });
});

describe('isBankCardNumber', () => {
  it('accepts 12 to 19 digits passing the Luhn check', () => {
    for (const partial of ['62220212345', '622202123456123', '621700123456789123', '41111111111111']) {
      const card = partial + luhnCheckDigit(partial);
      expect(luhnValid(card), card).toBe(true);
      expect(isBankCardNumber(card), card).toBe(true);
    }
    expect(isBankCardNumber('4111111111111111')).toBe(true);
    expect(isBankCardNumber('4111 1111 1111 1111')).toBe(true);
    expect(normalizeBankCardNumber(' 4111 1111 1111 1111 ')).toBe('4111111111111111');
  });

  it('computes the published Luhn check digit', () => {
    expect(luhnCheckDigit('7992739871')).toBe('3'); // the textbook example
    expect(luhnCheckDigit('411111111111111')).toBe('1');
    expect(luhnCheckDigit('0')).toBe('0');
    expect(() => luhnCheckDigit('')).toThrow(/digits/);
    expect(() => luhnCheckDigit('12a4')).toThrow(/digits/);
  });

  it('builds a valid card number with a chosen ending, such as the sandbox 0002', () => {
    // The last digit is the check digit, so one earlier digit is tuned until it comes out 2;
    // each of the ten choices gives a different check digit, so exactly one fits.
    const fits = Array.from({ length: 10 }, (_, d) => `62220212345612${d}000`).filter(
      (partial) => luhnCheckDigit(partial) === '2',
    );
    expect(fits).toHaveLength(1);
    const card = `${fits[0]}2`;
    expect(card.endsWith('0002')).toBe(true);
    expect(card).toHaveLength(19);
    expect(isBankCardNumber(card)).toBe(true);
  });

  it('refuses a bad check digit, wrong lengths and non-digits', () => {
    expect(isBankCardNumber('4111111111111112')).toBe(false);
    const short = '1234567890' + luhnCheckDigit('1234567890'); // 11 digits
    expect(luhnValid(short)).toBe(true);
    expect(isBankCardNumber(short)).toBe(false);
    const long = '1234567890123456789' + luhnCheckDigit('1234567890123456789'); // 20 digits
    expect(isBankCardNumber(long)).toBe(false);
    expect(isBankCardNumber('')).toBe(false);
    expect(isBankCardNumber('4111-1111-1111-1111')).toBe(false);
    expect(isBankCardNumber('411111111111111a')).toBe(false);
  });

  it('accepts every completed number and refuses any one changed digit', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^\d{11,18}$/),
        fc.nat(),
        fc.integer({ min: 1, max: 9 }),
        (partial, at, delta) => {
          const card = partial + luhnCheckDigit(partial);
          expect(isBankCardNumber(card)).toBe(true);
          expect(luhnValid(card)).toBe(true);
          const i = at % card.length;
          const changed = String((Number(card[i]) + delta) % 10);
          const broken = card.slice(0, i) + changed + card.slice(i + 1);
          expect(isBankCardNumber(broken)).toBe(false);
        },
      ),
    );
  });
});
