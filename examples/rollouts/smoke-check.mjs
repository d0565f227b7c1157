#!/usr/bin/env node
// A stand-in for a real smoke test, used by local-gate-fails.yaml: it reports the 5xx error rate of the
// canaries and fails (exit 1) when the rate is above --max-error-rate. The local fleet serves no traffic, so
// the rate is simulated: DROVER_SMOKE_ERROR_RATE (default 0.048, above the example's 1% limit).
// Gate exit codes: 0 = successful, 3 = inconclusive, anything else = failed; the last stderr line is the reason.
const args = process.argv.slice(2);
const at = args.indexOf('--max-error-rate');
const max = at >= 0 ? Number(args[at + 1]) : 0.01;
const rate = Number(process.env.DROVER_SMOKE_ERROR_RATE ?? '0.048');
if (!Number.isFinite(rate) || !Number.isFinite(max)) {
  process.stderr.write('smoke-check: no error rate to compare\n');
  process.exit(3);
}
if (rate > max) {
  process.stderr.write(`5xx error rate ${(rate * 100).toFixed(1)}% is above ${(max * 100).toFixed(1)}%\n`);
  process.exit(1);
}
process.stderr.write(`5xx error rate ${(rate * 100).toFixed(1)}% is within ${(max * 100).toFixed(1)}%\n`);
