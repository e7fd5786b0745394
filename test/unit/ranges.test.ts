import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RangeSet, toRuns } from '../../src/adapters/sqlite/ranges.js';

void describe('toRuns', () => {
  void it('turns unordered numbers into maximal runs of consecutive values', () => {
    assert.deepEqual(toRuns([5, 1, 2, 3, 7, 8, 10]), [
      [1, 3],
      [5, 5],
      [7, 8],
      [10, 10],
    ]);
  });

  void it('merges repeated values and returns nothing for no values', () => {
    assert.deepEqual(toRuns([2, 2, 3, 3]), [[2, 3]]);
    assert.deepEqual(toRuns([]), []);
  });

  void it('does not mutate its input', () => {
    const input = [3, 1, 2];
    toRuns(input);
    assert.deepEqual(input, [3, 1, 2]);
  });
});

void describe('RangeSet', () => {
  void it('is empty with max 0 and contains nothing', () => {
    const set = new RangeSet();
    assert.equal(set.max(), 0);
    assert.equal(set.has(0), false);
    assert.equal(set.has(1), false);
  });

  void it('answers membership at range edges and in gaps', () => {
    const set = new RangeSet([
      [10, 20],
      [1, 3],
    ]);
    for (const v of [1, 2, 3, 10, 15, 20]) assert.equal(set.has(v), true, String(v));
    for (const v of [0, 4, 9, 21]) assert.equal(set.has(v), false, String(v));
    assert.equal(set.max(), 20);
  });

  void it('merges an adjacent run into one range and reports what it merged away', () => {
    const set = new RangeSet([[1, 5]]);
    const { removed, merged } = set.add([6, 9]);
    assert.deepEqual(removed, [1]);
    assert.deepEqual(merged, [1, 9]);
    assert.deepEqual(set.toArray(), [[1, 9]]);
  });

  void it('fills a gap between two ranges into a single range', () => {
    const set = new RangeSet([
      [1, 3],
      [7, 9],
    ]);
    const { removed, merged } = set.add([4, 6]);
    assert.deepEqual(removed, [1, 7]);
    assert.deepEqual(merged, [1, 9]);
    assert.deepEqual(set.toArray(), [[1, 9]]);
  });

  void it('keeps a disjoint run separate and sorted', () => {
    const set = new RangeSet([[10, 12]]);
    const { removed } = set.add([1, 2]);
    assert.deepEqual(removed, []);
    assert.deepEqual(set.toArray(), [
      [1, 2],
      [10, 12],
    ]);
    assert.equal(set.has(11), true);
    assert.equal(set.has(5), false);
  });

  void it('absorbs an overlapping run without growing', () => {
    const set = new RangeSet([[1, 10]]);
    set.add([3, 4]);
    assert.deepEqual(set.toArray(), [[1, 10]]);
  });
});
