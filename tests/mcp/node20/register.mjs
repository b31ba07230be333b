// Node 20 (what this project's machines have) lacks fs.globSync, which the
// conformance suite imports for its tier-check command only. Server runs
// never call it: the import just has to resolve. Loaded with
// `node --import ./node20/register.mjs`; on Node 22+ it changes nothing.
import { register } from 'node:module';
import fs from 'node:fs';

if (typeof fs.globSync !== 'function') {
  register(new URL('./hooks.mjs', import.meta.url));
}
