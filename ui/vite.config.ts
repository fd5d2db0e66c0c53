import { defineConfig, type Plugin } from 'vite';

/** @grafana/ui's code editor (Monaco, 2.8 MB with its language modes: 0.7 MB of a 1.9 MB
 * gzipped bundle) is a lazily imported chunk that nothing in this UI renders. Its import
 * resolves to a module whose editor fails to load, so Grafana's own error box would show if
 * it ever were rendered; everything else of @grafana/ui is untouched. */
function withoutCodeEditor(): Plugin {
  const id = '\0flamelet-no-code-editor';
  return {
    name: 'flamelet-without-code-editor',
    enforce: 'pre',
    resolveId(source, importer) {
      if (source === './ReactMonacoEditor.js' && importer?.includes('@grafana/ui')) return id;
      return null;
    },
    load(loaded) {
      if (loaded !== id) return null;
      return "export const ReactMonacoEditor = () => { throw new Error('the code editor is not part of Flamelet\\'s UI'); };";
    },
  };
}

// Built into target/ui/dist, which functions/ui embeds; JSX by esbuild (no React plugin:
// the automatic runtime is all the UI needs).
export default defineConfig({
  base: '/',
  // Grafana's icons, which its components fetch from `__grafana_public_path__` + img/icons/.
  publicDir: 'node_modules/@grafana/ui/dist/public',
  esbuild: { jsx: 'automatic' },
  plugins: [withoutCodeEditor()],
  build: {
    outDir: '../target/ui/dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    chunkSizeWarningLimit: 4096,
  },
  test: { environment: 'happy-dom', include: ['src/**/*.test.ts'] },
});
