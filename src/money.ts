/** Fen as yuan for people to read, `¥1234.50`, exactly (bigint arithmetic, never a float). */
export function formatYuan(minor: bigint): string {
  const sign = minor < 0n ? '-' : '';
  const abs = minor < 0n ? -minor : minor;
  return `${sign}¥${(abs / 100n).toString()}.${(abs % 100n).toString().padStart(2, '0')}`;
}
