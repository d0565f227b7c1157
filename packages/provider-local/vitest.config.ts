import { droverProject } from '../../vitest.shared.js';

export default droverProject('provider-local');
