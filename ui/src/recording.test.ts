import { describe, expect, it } from 'vitest';
import { groupByOf, ruleMatcher, suggestedMetricName } from './recording';

describe('recording rules from the flame graph', () => {
  it('suggests a Prometheus metric name with the prefix the API requires', () => {
    expect(suggestedMetricName('checkout', 'main.(*Server).Handle')).toBe('profiles_recorded_checkout_main_server_handle');
    expect(suggestedMetricName(undefined, 'slowFunction')).toBe('profiles_recorded_slowfunction');
    expect(suggestedMetricName('my-app', '__x__')).toBe('profiles_recorded_my_app_x');
  });

  it('names the profile type as a __profile_type__ matcher beside the selector', () => {
    const cpu = 'process_cpu:cpu:nanoseconds:cpu:nanoseconds';
    expect(ruleMatcher(cpu, '{service_name="app", env="prod"}')).toBe(
      `{__profile_type__="${cpu}", service_name="app", env="prod"}`,
    );
    expect(ruleMatcher(cpu, '{}')).toBe(`{__profile_type__="${cpu}"}`);
  });

  it('reads group-by labels from a comma-separated field', () => {
    expect(groupByOf(' env, region ,')).toEqual(['env', 'region']);
    expect(groupByOf('')).toEqual([]);
  });
});
