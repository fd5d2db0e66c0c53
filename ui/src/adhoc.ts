// Which `/ingest` format an uploaded file is in, from its name.

/** The format parameter for a file named `name`: pprof (`.pb`, `.pb.gz`, `.pprof`, `.prof`),
 * JFR (`.jfr`), speedscope (`.json`); anything else is read as folded stacks. */
export function formatOf(name: string): string {
  const n = name.toLowerCase();
  if (/\.(pb|pprof|prof)(\.gz)?$/.test(n)) return 'pprof';
  if (/\.jfr(\.gz)?$/.test(n)) return 'jfr';
  if (/\.json(\.gz)?$/.test(n)) return 'speedscope';
  return 'folded';
}

/** The profile type to show first: CPU time if the file has it. */
export function preferredType(types: string[]): string | undefined {
  return types.find((t) => t.startsWith('process_cpu:cpu:')) ?? types[0];
}
