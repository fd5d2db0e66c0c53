import { describe, expect, it } from 'vitest';
import { formatOf, preferredType } from './adhoc';

describe('formatOf', () => {
  it('reads the format from the file name', () => {
    expect(formatOf('cpu.pb.gz')).toBe('pprof');
    expect(formatOf('heap.pprof')).toBe('pprof');
    expect(formatOf('profile.PB')).toBe('pprof');
    expect(formatOf('app.jfr')).toBe('jfr');
    expect(formatOf('trace.speedscope.json')).toBe('speedscope');
    expect(formatOf('stacks.folded.txt')).toBe('folded');
    expect(formatOf('out')).toBe('folded');
  });
});

describe('preferredType', () => {
  it('starts with CPU time', () => {
    expect(preferredType(['process_cpu:samples:count:cpu:nanoseconds', 'process_cpu:cpu:nanoseconds:cpu:nanoseconds'])).toBe(
      'process_cpu:cpu:nanoseconds:cpu:nanoseconds',
    );
    expect(preferredType(['memory:alloc_space:bytes:space:bytes'])).toBe('memory:alloc_space:bytes:space:bytes');
    expect(preferredType([])).toBeUndefined();
  });
});
