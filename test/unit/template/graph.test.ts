import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canImpactState, dependencyChain, findCycles, parseDependency } from '../../../src/template/graph.ts';

test('parseDependency: a bare name waits for DONE; states after the first colon, split on commas', () => {
  assert.deepEqual(parseDependency('fetch'), { step: 'fetch', states: ['DONE'] });
  assert.deepEqual(parseDependency('fetch:DONE,NOT_FOUND'), { step: 'fetch', states: ['DONE', 'NOT_FOUND'] });
  assert.deepEqual(parseDependency('fetch:ANY'), { step: 'fetch', states: ['ANY'] });
  assert.deepEqual(parseDependency('fetch:'), { step: 'fetch', states: [''] });
});

test('findCycles: one cycle per strongly connected component, named from its first step, self-loops left out', () => {
  const graph = new Map<string, string[]>([
    ['a', ['c']],
    ['b', ['a']],
    ['c', ['b', 'd']],
    ['d', []],
    ['e', ['e']],
    ['f', ['g']],
    ['g', ['f']],
    ['h', ['a']],
  ]);
  assert.deepEqual(findCycles(graph), [
    ['a', 'c', 'b'],
    ['f', 'g'],
  ]);
  assert.deepEqual(
    findCycles(
      new Map([
        ['x', ['y']],
        ['y', []],
      ]),
    ),
    [],
  );
});

test('findCycles: a long chain needs no deep recursion', () => {
  const graph = new Map<string, string[]>();
  for (let i = 0; i < 20000; i++) graph.set(`s${i}`, i === 0 ? ['s19999'] : [`s${i - 1}`]);
  const [cycle] = findCycles(graph);
  assert.equal(cycle?.length, 20000);
  assert.equal(cycle?.[0], 's0');
  assert.equal(cycle?.[1], 's19999');
});

test('dependencyChain and canImpactState: a condition reaches its dependencies and dependents, directly or not', () => {
  const graph = new Map<string, string[]>([
    ['one', []],
    ['two', ['one']],
    ['three', ['two']],
    ['side', []],
  ]);
  assert.deepEqual(dependencyChain(graph, ['three']), ['three', 'two', 'one']);
  assert.equal(canImpactState(graph, 'one', 'three'), true);
  assert.equal(canImpactState(graph, 'three', 'one'), true);
  assert.equal(canImpactState(graph, 'two', 'two'), true);
  assert.equal(canImpactState(graph, 'one', 'side'), false);
});
