// "Create metric from this function": a flame-graph node of the single view becomes a
// recording rule (settings.v1.RecordingRulesService), which /exported-metrics then counts:
// the value of the stacks through that function, in the view's series.
import { connect } from './api';

const PREFIX = 'profiles_recorded_';

/** A metric name for the rule: `profiles_recorded_<service>_<function>`, each part reduced
 * to what Prometheus names allow, in lower case. */
export function suggestedMetricName(service: string | undefined, fn: string): string {
  const part = (s: string) =>
    s
      .toLowerCase()
      .replace(/[^a-z0-9_]+/g, '_')
      .replace(/^_+|_+$/g, '');
  return PREFIX + [service ?? '', fn].map(part).filter(Boolean).join('_');
}

/** The rule's matcher: the view's selector with the profile type as `__profile_type__`, the
 * form the API requires. */
export function ruleMatcher(profileType: string, selector: string): string {
  const inner = selector.trim().replace(/^\{|\}$/g, '').trim();
  const type = `__profile_type__="${profileType}"`;
  return `{${inner ? `${type}, ${inner}` : type}}`;
}

/** Group-by label names from a comma-separated field. */
export function groupByOf(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** A rule as the API answers it (protojson). */
export interface RecordingRule {
  id: string;
  metricName: string;
  profileType: string;
  matchers: string[];
  groupBy?: string[];
  generation: string;
}

/** Creates a rule counting the stacks through `functionName` (`UpsertRecordingRule`). */
export async function createRecordingRule(
  metricName: string,
  matcher: string,
  groupBy: string[],
  functionName: string,
): Promise<RecordingRule> {
  const r = await connect<{ rule: RecordingRule }>(
    'UpsertRecordingRule',
    { metricName, matchers: [matcher], groupBy, stacktraceFilter: { functionName: { functionName } } },
    'settings.v1.RecordingRulesService',
  );
  return r.rule;
}
