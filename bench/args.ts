/** What the benchmarks on the e2e node (release.ts, appliers.ts) share: their arguments, and how they print seconds. */

/** `[--quick] [--rate N]`: requests a second of the load, `quickRate` by default with `--quick`, else `fullRate`. */
export function parseRateArgs(argv: string[], script: string, quickRate: number, fullRate: number): { quick: boolean; rate: number } {
  const quick = argv.includes('--quick');
  for (const a of argv) if (a.startsWith('--') && !['--quick', '--rate'].includes(a)) throw new Error(`usage: bench/${script} [--quick] [--rate N] (got ${a})`);
  const rate = argv.includes('--rate') ? Number(argv[argv.indexOf('--rate') + 1]) : quick ? quickRate : fullRate;
  if (!(rate > 0)) throw new Error('--rate must be a positive number');
  return { quick, rate };
}

/** Milliseconds as seconds with two decimals, `-` when not measured. */
export const seconds = (ms?: number) => (ms === undefined ? '-' : (ms / 1000).toFixed(2));
