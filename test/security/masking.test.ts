import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { last4, maskCardNumber, maskIdNumber, maskName, maskPhone } from '../../src/security/masking.js';

describe('maskCardNumber', () => {
  it('shows the first and last four digits around groups of four stars', () => {
    expect(maskCardNumber('6222021234561234')).toBe('6222 **** **** 1234');
    expect(maskCardNumber('6222 0212 3456 1234')).toBe('6222 **** **** 1234');
    expect(maskCardNumber('622202123456')).toBe('6222 **** 3456'); // 12 digits
    expect(maskCardNumber('6222021234561')).toBe('6222 **** **** 4561'); // 13: a started group counts
    expect(maskCardNumber('6217001234567891234')).toBe('6217 **** **** **** 1234'); // 19 digits
  });

  it('shows nothing of what is not a 12 to 19 digit card number', () => {
    for (const bad of ['', '1234', '62220212345', '62220212345612345678', '6222abcd34561234']) {
      expect(maskCardNumber(bad), bad).toBe('****');
    }
  });

  it('never shows more than eight digits', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^\d{12,19}$/), (card) => {
        const masked = maskCardNumber(card);
        expect(masked.replace(/[^\d]/g, '')).toBe(card.slice(0, 4) + card.slice(-4));
        expect(masked).toMatch(/^\d{4}( \*{4})+ \d{4}$/);
      }),
    );
  });
});

describe('last4', () => {
  it('gives the last four digits, spaces ignored', () => {
    expect(last4('6222021234561234')).toBe('1234');
    expect(last4('6222 0212 3456 0002 ')).toBe('0002');
  });
});

describe('maskIdNumber', () => {
  it('shows the first three and last four characters', () => {
    expect(maskIdNumber('11010519491231002X')).toBe('110***********002X');
    expect(maskIdNumber('11010519491231002x')).toBe('110***********002X');
    expect(maskIdNumber('110105194912311234')).toBe('110***********1234');
    expect(maskIdNumber('91350100M000100Y43')).toBe('913***********0Y43'); // a credit code
    expect(maskIdNumber('12345678')).toBe('123*5678');
  });

  it('shows only stars for values shorter than eight characters', () => {
    expect(maskIdNumber('1234567')).toBe('*******');
    expect(maskIdNumber('')).toBe('');
  });
});

describe('maskPhone', () => {
  it('shows the first three and last four digits', () => {
    expect(maskPhone('13812345678')).toBe('138****5678');
    expect(maskPhone('138 1234 5678')).toBe('138****5678');
    expect(maskPhone('+86 138-1234-5678')).toBe('138****5678');
    expect(maskPhone('8613812345678')).toBe('138****5678');
    expect(maskPhone('010-12345678')).toBe('010****5678');
  });

  it('shows only stars for short values', () => {
    expect(maskPhone('1234567')).toBe('*******');
  });
});

describe('maskName', () => {
  it('keeps the first character of a Chinese name', () => {
    expect(maskName('张三')).toBe('张*');
    expect(maskName('欧阳娜娜')).toBe('欧***');
    expect(maskName(' 李小龙 ')).toBe('李**');
    expect(maskName('𠮷野家')).toBe('𠮷**'); // a character outside the BMP is one star
  });

  it('keeps the first letter of each word of a Latin name', () => {
    expect(maskName('Li Lei')).toBe('L* L**');
    expect(maskName('Han Meimei')).toBe('H** M*****');
    expect(maskName('Jean-Luc Picard')).toBe('J***-L** P*****');
  });

  it('keeps the middle dot of a transliterated name', () => {
    expect(maskName('迪丽热巴·迪力木拉提')).toBe('迪***·迪****');
  });

  it('shows a one-character name as a single star', () => {
    expect(maskName('张')).toBe('*');
    expect(maskName('')).toBe('');
  });
});
