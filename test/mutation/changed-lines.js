/*
 * The quick mode's mutate list: the lines of src/*.ts (but index.ts) added or
 * changed since a base commit, as Stryker's `file:start-end` ranges, joined by
 * commas; nothing when none changed. The base is where HEAD left main, or, on
 * main itself (as in CI), the commit before HEAD (with a merge, its first parent:
 * what the merge brought in). Uncommitted changes count too.
 */
const { execFileSync } = require('child_process');

const git = (...args) => execFileSync('git', args, { encoding: 'utf-8' }).trim();
const tryGit = (...args) => { try { return git(...args); } catch { return ''; } };

const head = git('rev-parse', 'HEAD');
const main = tryGit('rev-parse', '--verify', '-q', 'main');
const base = process.env.MUTATION_BASE
  || (main && main !== head ? tryGit('merge-base', 'HEAD', 'main') : tryGit('rev-parse', '--verify', '-q', 'HEAD^1'));
if (!base) {
  process.stderr.write('quick mode: no base commit to compare with\n');
  process.exit(0);
}

const diff = git('diff', '-U0', '--no-color', base, '--', 'src/*.ts', ':!src/index.ts');
const ranges = [];
let file;
for (const line of diff.split('\n')) {
  const plus = /^\+\+\+ (?:b\/(.*)|\/dev\/null)$/.exec(line);
  if (plus) { file = plus[1]; continue; }
  const hunk = /^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@/.exec(line);
  if (hunk && file) {
    const start = Number(hunk[1]);
    const count = hunk[2] === undefined ? 1 : Number(hunk[2]);
    if (count > 0) ranges.push(`${file}:${start}-${start + count - 1}`);
  }
}
process.stderr.write(`quick mode: ${ranges.length} changed range(s) of src/ since ${base.slice(0, 12)}\n`);
process.stdout.write(ranges.join(','));
