import * as A from 'apache-arrow';
const { vectorFromArray } = A;
const probes: [string, any, any[]][] = [
  ['ts ns tz', new A.TimestampNanosecond('UTC'), [1700000000123, null]],
  ['ts ms tz', new A.TimestampMillisecond('Europe/Paris'), [1700000000123, null]],
  ['date32', new A.DateDay(), [new Date(Date.UTC(2024, 0, 2)), null]],
  ['f16', new A.Float16(), [1.5, null, 65504, -0.25]],
  ['i64', new A.Int64(), [1n, -2n, null]],
  ['u64', new A.Uint64(), [2n ** 64n - 1n, null]],
  ['large', new A.LargeUtf8(), ['a', null, 'ccc']],
  ['bin', new A.Binary(), [new Uint8Array([1, 2]), null]],
  ['fsl', new A.FixedSizeList(2, new A.Field('item', new A.Float32(), true)), [[1, 2], null]],
  ['list', new A.List(new A.Field('item', new A.Int32(), true)), [[1, 2], null, []]],
  ['struct', new A.Struct([new A.Field('x', new A.Int32(), true), new A.Field('y', new A.Utf8(), true)]), [{ x: 1, y: 'a' }, null, { x: null, y: 'b' }]],
  ['dict', new A.Dictionary(new A.Utf8(), new A.Int32()), ['a', 'b', null, 'a']],
];
for (const [name, type, values] of probes) {
  try {
    const v = vectorFromArray(values, type);
    console.log(name, String(v.type), v.nullCount, [...Array(v.length).keys()].map((i) => { const x = v.get(i); return x === null ? null : typeof x === 'object' ? `${x.constructor.name}:${JSON.stringify(x.toJSON ? x.toJSON() : x, (_, y) => typeof y === 'bigint' ? `${y}n` : y)}` : `${typeof x}:${x}`; }));
  } catch (e) { console.log(name, 'ERR', (e as Error).message); }
}
