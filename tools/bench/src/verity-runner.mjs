// Runs one drover verity operation in its own process, so the benchmark can time it and read its peak RSS like
// veritysetup's. Imports the built package (dist), as users get it. Usage:
//   node verity-runner.mjs format <data> <hash> <salt> <uuid> [fecPath fecRoots]
//   node verity-runner.mjs verify <data> <hash> <rootHash>
import { formatVerity, verifyVerity } from '@drover/verity';

const [op, data, hash, a, b, fecPath, fecRoots] = process.argv.slice(2);
if (op === 'format') {
  const options = { dataPath: data, hashPath: hash, salt: a, uuid: b };
  if (fecPath) Object.assign(options, { fecPath, fecRoots: Number(fecRoots) });
  const result = await formatVerity(options);
  process.stdout.write(`${result.rootHash}\n`);
} else if (op === 'verify') {
  const result = await verifyVerity({ dataPath: data, hashPath: hash, rootHash: a });
  process.stdout.write(`${result.ok}\n`);
  if (!result.ok) process.exitCode = 1;
} else {
  process.stderr.write(`unknown operation ${op}\n`);
  process.exitCode = 2;
}
