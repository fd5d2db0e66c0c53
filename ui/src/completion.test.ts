import { describe, expect, it } from 'vitest';
import { applyCompletion, completionAt, matching } from './completion';

const type = 'process_cpu:cpu:nanoseconds:cpu:nanoseconds';

describe('completionAt', () => {
  it('offers label names after the brace and after a comma', () => {
    expect(completionAt(`${type}{`, type.length + 1)).toEqual({ kind: 'name', prefix: '', start: type.length + 1 });
    const q = `${type}{service_name="a", reg`;
    expect(completionAt(q, q.length)).toEqual({ kind: 'name', prefix: 'reg', start: q.length - 3 });
  });

  it('offers the values of the label being matched', () => {
    const q = `${type}{service_name="sh`;
    expect(completionAt(q, q.length)).toEqual({ kind: 'value', label: 'service_name', prefix: 'sh', start: q.length - 2 });
    const r = `${type}{a="x", region!~"eu`;
    expect(completionAt(r, r.length)).toMatchObject({ kind: 'value', label: 'region', prefix: 'eu' });
  });

  it('reads escaped quotes inside values', () => {
    const q = `${type}{a="x\\"y", b="`;
    expect(completionAt(q, q.length)).toMatchObject({ kind: 'value', label: 'b', prefix: '' });
  });

  it('offers nothing outside the braces', () => {
    expect(completionAt(type, type.length)).toBeNull();
    const q = `${type}{a="b"}`;
    expect(completionAt(q, q.length)).toBeNull();
    expect(completionAt(q, 3)).toBeNull();
  });
});

describe('applyCompletion', () => {
  it('inserts a name with its operator and a value with its quote', () => {
    const q = `${type}{ser}`;
    const at = q.length - 1;
    const c = completionAt(q, at)!;
    const [named, cursor] = applyCompletion(q, at, c, 'service_name');
    expect(named).toBe(`${type}{service_name="}`);
    const v = completionAt(named, cursor)!;
    expect(v).toMatchObject({ kind: 'value', label: 'service_name' });
    expect(applyCompletion(named, cursor, v, 'sh"op')[0]).toBe(`${type}{service_name="sh\\"op"}`);
  });

  it('replaces the whole value the cursor is in', () => {
    const q = `${type}{a="x"}`;
    const at = q.length - 3;
    expect(applyCompletion(q, at, completionAt(q, at)!, 'xyz')[0]).toBe(`${type}{a="xyz"}`);
  });
});

describe('matching', () => {
  it('filters by prefix, case-insensitively, without the exact text', () => {
    expect(matching(['shop', 'Shipping', 'cart', 'sh'], 'sh')).toEqual(['shop', 'Shipping']);
  });
});
