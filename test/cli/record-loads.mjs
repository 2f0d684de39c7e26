// Preload for the lazy-import test (`node --import ./record-loads.mjs ...`): records every module URL
// this process loads and every `process.binding` call, and writes them as JSON to the file named by
// SWITCHYARD_TEST_LOADS_FILE when the process exits. Plain JavaScript: it runs before tsx is registered.
import { writeFileSync } from 'node:fs';
import { registerHooks } from 'node:module';

const out = process.env.SWITCHYARD_TEST_LOADS_FILE;
delete process.env.SWITCHYARD_TEST_LOADS_FILE;
/** @type {string[]} */
const modules = [];
/** @type {string[]} */
const bindings = [];

registerHooks({
  load(url, context, nextLoad) {
    modules.push(url);
    return nextLoad(url, context);
  },
});

const binding = process.binding;
process.binding = function recordedBinding(name) {
  bindings.push(String(name));
  return binding.call(process, name);
};

process.on('exit', () => {
  if (out) writeFileSync(out, JSON.stringify({ modules, bindings }));
});
