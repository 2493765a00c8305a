/**
 * Pure checks of the identity numbers a member gives when opening a sub-account or binding a
 * card. Each `is*` function normalizes its input first with the matching `normalize*`, so a
 * caller validates the raw value and then stores `normalize*(value)`: the stored form is the
 * one the check accepted, and the one lookup hashes are computed over.
 *
 * These functions only say whether a number is well formed. Whether it belongs to the person
 * is the identity provider's answer, never ours.
 */

/**
 * NFKC first: Chinese input methods often produce full-width digits and letters (`１２３`,
 * `Ｘ`), which NFKC folds into their ASCII forms, so a number typed in full width is the same
 * number as its ASCII spelling instead of a rejected one.
 */
function fold(value: string): string {
  return value.normalize('NFKC').replace(/\s+/g, '');
}

// ---------------------------------------------------------------------------------------
// Resident identity card number (居民身份证号码), GB 11643-1999.

/**
 * Province-level codes of GB/T 2260, plus 81, 82 and 83, which the residence permits of
 * Hong Kong, Macao and Taiwan residents use with the same 18-character scheme. Foreigners'
 * permanent residence cards (leading 9) are not resident ID numbers and are refused.
 */
const provinceCodes: ReadonlySet<string> = new Set([
  '11', '12', '13', '14', '15',
  '21', '22', '23',
  '31', '32', '33', '34', '35', '36', '37',
  '41', '42', '43', '44', '45', '46',
  '50', '51', '52', '53', '54',
  '61', '62', '63', '64', '65',
  '71', '81', '82', '83',
]);

/** ISO 7064 MOD 11-2 weights, 2^(17 - i) mod 11 for positions 0 to 16. */
const residentIdWeights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2] as const;
/** Check character for each value of the weighted sum mod 11. */
const residentIdCheckCharacters = '10X98765432';

/** Nobody born before this year still opens accounts; earlier dates are typing mistakes. */
const birthYearMin = 1900;

/**
 * Trims, removes spaces and upper-cases: the stored form of either kind of identity number
 * (a resident ID number's `x`, a credit code's letters), for callers that accept both.
 */
export function normalizeIdNumber(value: string): string {
  return fold(value).toUpperCase();
}

/** Trims, removes spaces and upper-cases the check character `x`. */
export function normalizeResidentIdNumber(value: string): string {
  return normalizeIdNumber(value);
}

/**
 * The MOD 11-2 check character for the first 17 digits of a resident ID number. Exported so
 * tests elsewhere can build valid numbers without copying the algorithm.
 */
export function residentIdCheckCharacter(first17: string): string {
  if (!/^\d{17}$/.test(first17)) throw new Error('residentIdCheckCharacter: expects 17 digits');
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += Number(first17[i]) * (residentIdWeights[i] ?? 0);
  return residentIdCheckCharacters[sum % 11] ?? '';
}

/**
 * Whether `value` is an 18-character resident ID number: a known province code, a real
 * birth date from 1900 up to `today`, three sequence digits and the MOD 11-2 check
 * character. `today` comes from the caller so the clock stays outside this module: either a
 * `YYYY-MM-DD` date, or epoch milliseconds whose date is taken in China Standard Time, the
 * zone in which the card's birth date is written.
 */
export function isResidentIdNumber(value: string, today: string | number): boolean {
  const todayDigits = compactDate(today);
  const id = normalizeResidentIdNumber(value);
  if (!/^\d{17}[\dX]$/.test(id)) return false;
  if (!provinceCodes.has(id.slice(0, 2))) return false;
  const birth = id.slice(6, 14);
  if (!isRealDate(birth) || Number(birth.slice(0, 4)) < birthYearMin) return false;
  // Both are YYYYMMDD digit strings of equal length, so string order is date order.
  if (birth > todayDigits) return false;
  return residentIdCheckCharacter(id.slice(0, 17)) === id[17];
}

/** UTC+8 all year: China has not observed daylight saving time since 1991. */
const chinaStandardTimeOffsetMs = 8 * 3600 * 1000;

/** `today` as `YYYYMMDD`; a malformed `today` is our bug, not the member's, so it throws. */
function compactDate(today: string | number): string {
  let date = typeof today === 'string' ? today : '';
  if (typeof today === 'number') {
    const shifted = new Date(today + chinaStandardTimeOffsetMs);
    date = Number.isNaN(shifted.getTime()) ? '' : shifted.toISOString().slice(0, 10);
  }
  const digits = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  const compact = digits === null ? '' : `${digits[1]}${digits[2]}${digits[3]}`;
  if (!isRealDate(compact)) throw new Error('isResidentIdNumber: today must be a YYYY-MM-DD date or epoch milliseconds');
  return compact;
}

/** Whether `yyyymmdd` names a day of the Gregorian calendar. */
function isRealDate(yyyymmdd: string): boolean {
  if (!/^\d{8}$/.test(yyyymmdd)) return false;
  const year = Number(yyyymmdd.slice(0, 4));
  const month = Number(yyyymmdd.slice(4, 6));
  const day = Number(yyyymmdd.slice(6, 8));
  if (month < 1 || month > 12 || day < 1) return false;
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const daysInMonth = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
  return day <= (daysInMonth[month - 1] ?? 0);
}

// ---------------------------------------------------------------------------------------
// Unified social credit code (统一社会信用代码), GB 32100-2015.

/** The code's alphabet: digits and upper-case letters without I, O, S, V and Z. */
const creditCodeAlphabet = '0123456789ABCDEFGHJKLMNPQRTUWXY';
/** MOD 31 weights, 3^i mod 31 for positions 0 to 16. */
const creditCodeWeights = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28] as const;

/** Trims, removes spaces and upper-cases. */
export function normalizeUnifiedSocialCreditCode(value: string): string {
  return fold(value).toUpperCase();
}

/** The MOD 31 check character for the first 17 characters of a credit code. */
export function creditCodeCheckCharacter(first17: string): string {
  if (first17.length !== 17) throw new Error('creditCodeCheckCharacter: expects 17 characters');
  let sum = 0;
  for (let i = 0; i < 17; i++) {
    const value = creditCodeAlphabet.indexOf(first17[i] ?? '');
    if (value < 0) throw new Error('creditCodeCheckCharacter: character outside the GB 32100 alphabet');
    sum += value * (creditCodeWeights[i] ?? 0);
  }
  return creditCodeAlphabet[(31 - (sum % 31)) % 31] ?? '';
}

/**
 * Whether `value` is an 18-character unified social credit code: every character from the
 * GB 32100 alphabet, the registration authority's region (positions 3 to 8) in digits, and
 * the MOD 31 check character. The registration authority and organization type letters are
 * not checked, because new ones are added over time and refusing them would refuse real firms.
 */
export function isUnifiedSocialCreditCode(value: string): boolean {
  const code = normalizeUnifiedSocialCreditCode(value);
  if (code.length !== 18) return false;
  for (const ch of code) if (!creditCodeAlphabet.includes(ch)) return false;
  if (!/^\d{6}$/.test(code.slice(2, 8))) return false;
  return creditCodeCheckCharacter(code.slice(0, 17)) === code[17];
}

// ---------------------------------------------------------------------------------------
// Mainland mobile number.

/** Removes spaces and dashes, then a leading `+86` or `86` country code. */
export function normalizeMainlandMobile(value: string): string {
  const compact = fold(value).replace(/-/g, '');
  // A bare `86` prefix is removed only when 11 digits follow it; no mainland mobile number
  // starts with 8, so this never eats the first digits of a number given without a prefix.
  if (compact.startsWith('+86')) return compact.slice(3);
  if (compact.startsWith('86') && compact.length === 13) return compact.slice(2);
  return compact;
}

/** The same as `normalizeMainlandMobile`, under the shorter name the member service uses. */
export function normalizeMobile(value: string): string {
  return normalizeMainlandMobile(value);
}

/** Whether `value` is an 11-digit mainland mobile number, `1[3-9]` followed by nine digits. */
export function isMainlandMobile(value: string): boolean {
  return /^1[3-9]\d{9}$/.test(normalizeMainlandMobile(value));
}

// ---------------------------------------------------------------------------------------
// Bank card number.

/** Removes spaces. */
export function normalizeBankCardNumber(value: string): string {
  return fold(value);
}

/**
 * The Luhn check digit to append to `partial` (digits only). Tests and the sandbox use it to
 * build card numbers with a chosen ending, such as the magic `0002`.
 */
export function luhnCheckDigit(partial: string): string {
  if (!/^\d+$/.test(partial)) throw new Error('luhnCheckDigit: expects a non-empty string of digits');
  // The check digit will sit at the right, so the rightmost digit of `partial` is the first
  // one doubled.
  return String((10 - (luhnSum(partial, true) % 10)) % 10);
}

/** Whether `value` is 12 to 19 digits passing the Luhn check. */
export function isBankCardNumber(value: string): boolean {
  const card = normalizeBankCardNumber(value);
  if (!/^\d{12,19}$/.test(card)) return false;
  return luhnSum(card, false) % 10 === 0;
}

/** The Luhn sum of `digits`, doubling from the rightmost digit when `doubleRightmost`. */
function luhnSum(digits: string, doubleRightmost: boolean): number {
  let sum = 0;
  let double = doubleRightmost;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = Number(digits[i]);
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum;
}
