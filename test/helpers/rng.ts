/** A seeded PRNG (mulberry32, shared with the bench maths), so that a failure is reproducible from its seed. */
export { mulberry32 as rng } from '../../src/core/bench/summary.js';
