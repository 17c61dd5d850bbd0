// Loaded with `node --import`: records every module URL the process resolves.
import { register } from 'node:module';
register('./trace-hooks.mjs', import.meta.url);
