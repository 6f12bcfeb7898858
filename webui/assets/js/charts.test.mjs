// Tests of the chart data preparation: node --test webui/assets/js/charts.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bucketize, concurrency, usage, windowFor, niceMax } from './charts.js';

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

test('concurrency reads the windows of a metering report', () => {
  const w = (start, total, byUser) => ({ start, end: start, peak: { total, by_user: byUser, by_session: {} } });
  const r = concurrency({
    windows: [
      w('2026-01-01T01:00:00Z', 3, { bob: 1, alice: 2 }),
      w('2026-01-01T00:00:00Z', 1, { alice: 1 }),
      w('2026-01-01T02:00:00Z', 0, {}),
    ],
  });
  assert.deepEqual(r.times, [Date.UTC(2026, 0, 1, 0), Date.UTC(2026, 0, 1, 1), Date.UTC(2026, 0, 1, 2)]);
  assert.deepEqual(r.series, [
    { name: 'all users', values: [1, 3, 0] },
    { name: 'alice', values: [1, 2, 0] },
    { name: 'bob', values: [0, 1, 0] },
  ]);
  assert.deepEqual(concurrency({ windows: [w('2026-01-01T00:00:00Z', 1, { a: 1, b: 1 })] }, { users: 1 }).series.map((x) => x.name), ['all users', 'a']);
  assert.deepEqual(concurrency({ windows: [{ start: '2026-01-01T00:00:00Z', peak: { total: 'x' } }] }).series[0].values, [0]);
  assert.equal(concurrency({}), null);
  assert.equal(concurrency(null), null);
  assert.equal(concurrency({ windows: [] }), null);
  assert.equal(concurrency({ windows: [{ start: 'garbage' }, null] }), null);
  assert.equal(concurrency({ series: [{ time: '2026-01-01T00:00:00Z', concurrent: 1 }] }), null);
});

test('usage sums sessions and peaks per user and per session definition', () => {
  const rep = {
    peak: { total: 2, by_user: { alice: 2, bob: 1, carol: 0 }, by_session: { vt: 2, '': 1 } },
    sessions: [
      { user: 'alice', session: 'vt', start: '2026-01-01T00:00:00Z', end: '2026-01-01T00:30:00Z', heartbeats: 60 },
      { user: 'alice', session: 'vt', start: '2026-01-01T00:10:00Z', end: '2026-01-01T00:20:00Z', heartbeats: 20 },
      { user: 'bob', start: '2026-01-01T00:00:00Z', end: 'bad', heartbeats: 3 },
      null,
    ],
  };
  assert.deepEqual(usage(rep, 'user'), [
    { name: 'alice', launches: 2, ms: 40 * 60000, heartbeats: 80, peak: 2 },
    { name: 'bob', launches: 1, ms: 0, heartbeats: 3, peak: 1 },
    { name: 'carol', launches: 0, ms: 0, heartbeats: 0, peak: 0 },
  ]);
  assert.deepEqual(usage(rep, 'session').map((u) => [u.name, u.launches, u.peak]), [['vt', 2, 2]]);
  assert.deepEqual(usage(null, 'user'), []);
});

test('windowFor keeps a chart to at most 48 points', () => {
  const h = 3600000;
  assert.equal(windowFor(0, h), 300);
  assert.equal(windowFor(0, 24 * h), 1800);
  assert.equal(windowFor(0, 48 * h), 3600);
  assert.equal(windowFor(0, 30 * 24 * h), 86400);
  assert.equal(windowFor(0, 1000 * 24 * h), 1800000);
  assert.equal(windowFor(5, 5), 60);
});

test('niceMax', () => {
  assert.deepEqual([0, 0.3, 1, 3, 7, 11, 99, 101].map(niceMax), [1, 0.5, 1, 5, 10, 20, 100, 200]);
});
