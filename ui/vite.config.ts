import { defineConfig } from 'vite';

// Built into target/ui/dist, which functions/ui embeds; JSX by esbuild (no React plugin:
// the automatic runtime is all the UI needs).
export default defineConfig({
  base: '/',
  // Grafana's icons, which its components fetch from `__grafana_public_path__` + img/icons/.
  publicDir: 'node_modules/@grafana/ui/dist/public',
  esbuild: { jsx: 'automatic' },
  build: {
    outDir: '../target/ui/dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    chunkSizeWarningLimit: 4096,
  },
  test: { environment: 'happy-dom', include: ['src/**/*.test.ts'] },
});
