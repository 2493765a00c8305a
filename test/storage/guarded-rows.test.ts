import { describe, expect, it } from 'vitest';
import { rowKey, takenVersionsUnchecked, versionsSetRowsCheck } from '../../src/storage/guarded-rows.js';

const set = (ids: string[], versions: number[]) => ({ table: 't', mode: 'set' as const, ids, versions, changes: { note: 'x' } });
const guard = (id: string, version: number | null) => ({ table: 't', id, version });

describe('versions a batch takes from its commands', () => {
  it('takes a row\'s version when every command guarding it sets it at that version', () => {
    const taken = versionsSetRowsCheck([
      { guards: [guard('a', 1), guard('b', 4)], writes: [set(['a', 'b'], [1, 4])] },
      { guards: [guard('a', 2)], writes: [set(['a'], [2])] },
    ]);
    expect(taken).toEqual(new Map([[rowKey('t', 'a'), 1], [rowKey('t', 'b'), 4]]));
  });

  it('reads rows guarded without being set, set at another version, inserted, updated or guarded as absent', () => {
    const taken = versionsSetRowsCheck([
      { guards: [guard('a', 1), guard('b', 1), guard('c', 1), guard('d', 1), guard('e', 1)], writes: [set(['a', 'b', 'c', 'd', 'e'], [1, 2, 1, 1, 1])] },
      { guards: [guard('a', 1)] },
      { guards: [guard('c', 1)], writes: [{ table: 't', mode: 'update', row: { id: 'c', version: 2 } }] },
      { guards: [guard('d', null)], writes: [{ table: 't', mode: 'insert', row: { id: 'd', version: 1 } }] },
      { guards: [guard('f', null)], writes: [set(['f'], [1])] },
    ]);
    expect([...taken.keys()]).toEqual([rowKey('t', 'e')]);
  });

  it('asks for versions read when a command that did not apply consulted a taken one', () => {
    const commands = [{ guards: [guard('a', 1)] }, { guards: [guard('b', 1)] }];
    const taken = new Map([[rowKey('t', 'a'), 1]]);
    expect(takenVersionsUnchecked(commands, [{ code: 'ok' }, { code: 'state_changed' }], taken)).toBe(false);
    expect(takenVersionsUnchecked(commands, [{ code: 'state_changed' }, { code: 'ok' }], taken)).toBe(true);
    expect(takenVersionsUnchecked(commands, [{ code: 'insufficient_funds' }, { code: 'ok' }], taken)).toBe(true);
    expect(takenVersionsUnchecked(commands, [{ code: 'exists' }, { code: 'ok' }], new Map())).toBe(false);
  });
});
