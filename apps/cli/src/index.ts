import Doctor from './commands/doctor.js';

export { commandNotFound, main } from './main.js';

/** Every command, by id (topic and verb joined with ':'); oclif's explicit strategy reads this map. */
export const COMMANDS = {
  doctor: Doctor,
};
