// Runs one drover signing operation in its own process, so the benchmark can time it and read its peak RSS like
// openssl's. Imports the built package (dist), as users get it. Usage:
//   node sign-runner.mjs sign <file> <key.pem> <bundle.json> <sig.der>
//   node sign-runner.mjs verify <file> <bundle.json> <policy.json>
import { fileSigner, loadPolicy, signArtifact, verifyArtifact } from '@drover/sign';

const [op, file, a, b, c] = process.argv.slice(2);
if (op === 'sign') {
  const result = await signArtifact({
    file,
    signer: await fileSigner({ path: a }),
    bundlePath: b,
    signaturePath: c,
  });
  process.stdout.write(`${result.digest}\n`);
} else if (op === 'verify') {
  const result = await verifyArtifact({ artifact: file, bundle: a, policy: await loadPolicy({ path: b }) });
  process.stdout.write(`${result.digest}\n`);
} else {
  process.stderr.write(`unknown operation ${op}\n`);
  process.exitCode = 2;
}
