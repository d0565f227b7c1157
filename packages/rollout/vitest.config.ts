import { droverProject } from '../../vitest.shared.js';
export default droverProject('rollout');
