import { droverProject } from '../../vitest.shared.js';

export default droverProject('oci', { testTimeout: 60_000 });
