// The hashing worker lives in @drover/core (the image builder uses it too); re-exported for this package's modules.
export type { HashSession } from '@drover/core';
export { WorkerHasher } from '@drover/core';
