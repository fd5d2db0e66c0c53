import { describe, expect, it } from 'vitest';
import { describeTime, fromTyped, toMillis } from './time';

const now = Date.UTC(2026, 11, 1, 12, 0, 0);

describe('toMillis', () => {
  it('reads relative, Unix and day forms as the server does', () => {
    expect(toMillis('now', now)).toBe(now);
    expect(toMillis('now-1h', now)).toBe(now - 3_600_000);
    expect(toMillis('now-1M', now)).toBe(now - 30 * 86_400_000);
    expect(toMillis('1700000000', now)).toBe(1_700_000_000_000);
    expect(toMillis('1700000000000', now)).toBe(1_700_000_000_000);
    expect(toMillis('1700000000000000', now)).toBe(1_700_000_000_000);
    expect(toMillis('1700000000000000000', now)).toBe(1_700_000_000_000);
    expect(toMillis('20231114', now)).toBe(Date.UTC(2023, 10, 14));
    expect(toMillis('yesterday', now)).toBeUndefined();
    expect(toMillis('now-1q', now)).toBeUndefined();
  });
});

describe('fromTyped', () => {
  it('keeps API forms and turns dates and times (UTC) into Unix seconds', () => {
    expect(fromTyped(' now-6h ')).toBe('now-6h');
    expect(fromTyped('1700000000')).toBe('1700000000');
    expect(fromTyped('2023-11-14 22:13:20 UTC')).toBe('1700000000');
    expect(fromTyped('2023-11-14T22:13:20Z')).toBe('1700000000');
    expect(fromTyped('2023-11-14 22:13')).toBe('1699999980');
    expect(fromTyped('2023-11-14')).toBe(String(Date.UTC(2023, 10, 14) / 1000));
  });

  it('refuses what is not a time', () => {
    expect(fromTyped('2023-02-31')).toBeUndefined();
    expect(fromTyped('2023-11-14 25:00')).toBeUndefined();
    expect(fromTyped('last tuesday')).toBeUndefined();
  });

  it('reads back what describeTime shows', () => {
    expect(fromTyped(describeTime('1700000000'))).toBe('1700000000');
  });
});
