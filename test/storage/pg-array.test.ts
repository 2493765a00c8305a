import { describe, expect, it } from 'vitest';
import { plainArray, textArray, unlessAll } from '../../src/storage/pg-array.js';

describe('array parameters', () => {
  it('writes plain values bare and NULL for null, and quotes free text', () => {
    expect(plainArray([1n, 2, 'ab', null])).toBe('{1,2,ab,NULL}');
    expect(textArray(['a', 'b"c\\d', null])).toBe('{"a","b\\"c\\\\d",NULL}');
  });

  it('sends a column that is all default as an empty array, and any other value the whole column', () => {
    expect(unlessAll([0n, 0n, 0n], 0n, plainArray)).toBe('{}');
    expect(unlessAll([null, null], null, textArray)).toBe('{}');
    expect(unlessAll([0n, 5n, 0n], 0n, plainArray)).toBe('{0,5,0}');
    expect(unlessAll([null, 'x'], null, textArray)).toBe('{NULL,"x"}');
    expect(unlessAll([], 0n, plainArray)).toBe('{}');
  });
});
