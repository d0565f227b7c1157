// Child process for src/oci.ts: runs one drover operation on the built @drover/oci (plain node, no transpiler
// start-up cost) and prints its time and peak RSS as JSON. Build first: pnpm nx run @drover/oci:build
import { flattenImage, pullImage } from '@drover/oci';

const [op, a, b] = process.argv.slice(2);
const start = performance.now();
if (op === 'flatten') {
  const { tree } = await flattenImage({ layout: a, reference: 'bench' });
  if (tree.summary().files === 0) throw new Error('empty tree');
} else if (op === 'pull') {
  await pullImage({ reference: a, layout: b, registry: { plainHttp: true, credentials: null } });
} else {
  throw new Error(`unknown op ${op}`);
}
const ms = performance.now() - start;
const usage = process.resourceUsage();
const cpuMs = (usage.userCPUTime + usage.systemCPUTime) / 1000;
process.stdout.write(`${JSON.stringify({ ms, maxRssKiB: usage.maxRSS, cpuMs })}\n`);
