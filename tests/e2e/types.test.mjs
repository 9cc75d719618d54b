// The TypeScript types shipped in www/clickscript.d.ts compile against their documented usage.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

test('the PT types accept the documented calls and refuse wrong ones', () => {
  const tsc = join(root, 'node_modules/.bin/tsc');
  const args = ['--noEmit', '--strict', '--target', 'es2020', '--moduleResolution', 'node', join(root, 'tests/types/usage.ts')];
  let out = '';
  try {
    execFileSync(tsc, args, { encoding: 'utf8' });
  } catch (e) {
    out = e.stdout + e.stderr;
  }
  assert.equal(out, '', out);
});
