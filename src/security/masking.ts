/**
 * Masks for personal data in responses, logs and the console. Every function here is total:
 * it never throws, and on input it does not recognize it shows less, not more, because a
 * masking function that fails open leaks exactly the values it exists to hide.
 */

const mask = '*';

/** Spaces and dashes are how people group digits; they carry no information. */
function digitsOf(value: string): string {
  return value.normalize('NFKC').replace(/[\s-]+/g, '');
}

/**
 * `6222021234561234` → `6222 **** **** 1234`: the first four and last four digits, and the
 * middle as groups of four stars, one group per started four digits, so the mask keeps the
 * familiar shape without spelling out the exact length. Anything other than 12 to 19 digits
 * becomes `****`.
 */
export function maskCardNumber(card: string): string {
  const digits = digitsOf(card);
  if (!/^\d{12,19}$/.test(digits)) return mask.repeat(4);
  const groups = Math.ceil((digits.length - 8) / 4);
  const middle = Array.from({ length: groups }, () => mask.repeat(4)).join(' ');
  return `${digits.slice(0, 4)} ${middle} ${digits.slice(-4)}`;
}

/** The last four digits of a card number, as shown next to a bound card. */
export function last4(card: string): string {
  return digitsOf(card).slice(-4);
}

/**
 * `110105194912310021` → `110***********0021`: the first three and last four characters,
 * a star for each one between. Used for resident ID numbers and credit codes alike. Values
 * shorter than eight characters would show most of themselves, so they are all stars.
 */
export function maskIdNumber(idNumber: string): string {
  return keepEnds(digitsOf(idNumber).toUpperCase(), 3, 4);
}

/**
 * `13812345678` → `138****5678`, by the same rule as `maskIdNumber`. A `+86` or `86` country
 * code is dropped first, so the three digits shown are the number's own.
 */
export function maskPhone(phone: string): string {
  let digits = digitsOf(phone);
  if (digits.startsWith('+86')) digits = digits.slice(3);
  else if (digits.startsWith('86') && digits.length === 13) digits = digits.slice(2);
  return keepEnds(digits, 3, 4);
}

function keepEnds(value: string, head: number, tail: number): string {
  const chars = Array.from(value);
  if (chars.length < 8) return mask.repeat(chars.length);
  const hidden = chars.length - head - tail;
  return chars.slice(0, head).join('') + mask.repeat(hidden) + chars.slice(-tail).join('');
}

/**
 * Each word keeps its first character and every other character becomes a star:
 * `张三` → `张*`, `欧阳娜娜` → `欧***`, `Li Lei` → `L* L**`, `Jean-Luc` → `J***-L**`.
 * Words are split at spaces, hyphens and the middle dots of transliterated names
 * (`迪丽热巴·迪力木拉提`), and the separators stay. Characters are counted as code points, so
 * a rare character outside the Basic Multilingual Plane is one star, not two. A name of one
 * character is shown as a single star, since keeping its first character would show it whole.
 */
export function maskName(name: string): string {
  const trimmed = name.trim();
  if (Array.from(trimmed).length <= 1) return mask.repeat(Array.from(trimmed).length);
  return trimmed
    .split(/([\s\-·・•]+)/u)
    .map((part, index) => {
      // `split` with a capturing group puts separators at the odd indexes.
      if (index % 2 === 1) return part;
      const chars = Array.from(part);
      return chars.length === 0 ? '' : (chars[0] ?? '') + mask.repeat(chars.length - 1);
    })
    .join('');
}
