export { generateNights, threeSeeds, THREE_SEEDS, type GeneratedNight, type NightsOptions } from './nights.js';
export { inMemory } from './memory.js';
