import { describe, expect, it } from 'vitest';
import { formatPair, formatSingle, parsePair, parseSingle, serviceOf, splitQuery, withService, formatExplore, parseExplore, withLabel } from './url';

describe('single view URL state', () => {
  it('reads Pyroscope URLs and writes them back', () => {
    const search =
      '?query=process_cpu%3Acpu%3Ananoseconds%3Acpu%3Ananoseconds%7Bservice_name%3D%22app%22%7D&from=now-6h&until=now';
    const s = parseSingle(search);
    expect(s).toEqual({
      query: 'process_cpu:cpu:nanoseconds:cpu:nanoseconds{service_name="app"}',
      from: 'now-6h',
      until: 'now',
      maxNodes: 8192,
    });
    expect(parseSingle(formatSingle(s))).toEqual(s);
    expect(formatSingle({ ...s, maxNodes: 100 })).toContain('maxNodes=100');
  });

  it('falls back to the defaults', () => {
    expect(parseSingle('?maxNodes=-3')).toEqual({ query: '', from: 'now-1h', until: 'now', maxNodes: 8192 });
    expect(parseSingle('?max-nodes=16').maxNodes).toBe(16);
  });

  it('splits and edits queries', () => {
    expect(splitQuery('a:b:c:d:e{x="1"}')).toEqual({ profileType: 'a:b:c:d:e', selector: '{x="1"}' });
    expect(splitQuery('a:b:c:d:e')).toEqual({ profileType: 'a:b:c:d:e', selector: '{}' });
    expect(serviceOf('{env="p", service_name="my \\"app\\""}')).toBe('my "app"');
    expect(serviceOf('{service_name=~"a.*"}')).toBeUndefined();
    expect(withService('{}', 'app')).toBe('{service_name="app"}');
    expect(withService('{service_name="old", env="a,b"}', 'new')).toBe('{service_name="new", env="a,b"}');
    expect(withService('{service_name=~"x.*"}', 'y')).toBe('{service_name="y", service_name=~"x.*"}');
  });
});

describe('diff view URL state', () => {
  it('reads and writes Pyroscope comparison parameters', () => {
    const search =
      '?leftQuery=a%7B%7D&leftFrom=100&leftUntil=200&rightQuery=b%7B%7D&rightFrom=now-1h&rightUntil=now';
    const s = parsePair(search);
    expect(s).toEqual({
      left: { query: 'a{}', from: '100', until: '200' },
      right: { query: 'b{}', from: 'now-1h', until: 'now' },
      maxNodes: 8192,
    });
    expect(parsePair(formatPair(s))).toEqual(s);
  });

  it('starts both sides from a single view query', () => {
    const s = parsePair('?query=a%7B%7D&from=now-6h');
    expect(s.left).toEqual({ query: 'a{}', from: 'now-6h', until: 'now' });
    expect(s.right).toEqual(s.left);
  });
});

describe('tag explorer URL state', () => {
  it('reads and writes query, groupBy and range', () => {
    const s = parseExplore('?query=a%7Bservice_name%3D%22x%22%7D&groupBy=region&from=now-6h');
    expect(s).toEqual({ query: 'a{service_name="x"}', groupBy: 'region', from: 'now-6h', until: 'now' });
    expect(parseExplore(formatExplore(s))).toEqual(s);
  });

  it('narrows a selector to one value of the group-by label', () => {
    expect(withLabel('{service_name="x"}', 'region', 'eu')).toBe('{service_name="x", region="eu"}');
    expect(withLabel('{service_name="x", region="us", regional="y"}', 'region', 'e"u')).toBe(
      '{service_name="x", regional="y", region="e\\"u"}',
    );
  });
});
