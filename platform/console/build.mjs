// esbuild bundle of src/ into one script and one style sheet: no inline
// script or style, so the platform's Content-Security-Policy can forbid both.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

const out = resolve(process.argv[2] || 'dist');
mkdirSync(out, { recursive: true });
const t0 = Date.now();
await build({
  entryPoints: { app: 'src/main.js' },
  bundle: true,
  minify: true,
  sourcemap: false,
  format: 'iife',
  target: ['chrome110', 'firefox110', 'safari16'],
  outdir: out,
  legalComments: 'linked',
  logLevel: 'warning',
});
copyFileSync('src/index.html', join(out, 'index.html'));
const kb = (f) => (statSync(join(out, f)).size / 1024).toFixed(0) + ' KiB';
console.log(`console: bundled into ${out} (app.js ${kb('app.js')}, app.css ${kb('app.css')}) in ${Date.now() - t0} ms`);
