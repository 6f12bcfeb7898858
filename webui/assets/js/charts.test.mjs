// Tests of the chart data preparation: node --test webui/assets/js/charts.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bucketize, concurrency, niceMax } from './charts.js';

test('bucketize counts per bucket and series', () => {
  const t0 = Date.UTC(2026, 0, 1);
  const items = [
    { time: t0, key: 'a' }, { time: t0 + 1000, key: 'a' }, { time: new Date(t0 + 59000).toISOString(), key: 'b' },
    { time: t0 + 120000, key: 'a' }, { time: 'garbage', key: 'c' },
  ];
  const r = bucketize(items, { from: t0, to: t0 + 120000, buckets: 2 });
  assert.equal(r.times.length, 2);
  assert.equal(r.step, 60000);
  assert.deepEqual(r.series, [{ name: 'a', values: [2, 1] }, { name: 'b', values: [1, 0] }]);
  assert.deepEqual(bucketize([], {}).series, []);
  const one = bucketize([{ time: t0, key: 'x' }], { buckets: 3 });
  assert.deepEqual(one.series[0].values, [1, 0, 0]);
});

test('concurrency accepts both report shapes and rejects others', () => {
  const a = concurrency({ series: [{ time: '2026-01-01T00:01:00Z', concurrent: 3 }, { time: '2026-01-01T00:00:00Z', concurrent: 1 }] });
  assert.deepEqual(a.series[0].values, [1, 3]);
  const b = concurrency({ windows: [{ start: '2026-01-01T00:00:00Z', concurrent: 2 }] });
  assert.deepEqual(b.series[0].values, [2]);
  assert.equal(concurrency({}), null);
  assert.equal(concurrency(null), null);
  assert.equal(concurrency({ series: [{ time: 'x', concurrent: 'y' }] }), null);
});

test('niceMax', () => {
  assert.deepEqual([0, 0.3, 1, 3, 7, 11, 99, 101].map(niceMax), [1, 0.5, 1, 5, 10, 20, 100, 200]);
});
