// Loaded later (a chunk): the registry grows.
window._vigilDebugIds[new Error().stack] = 'dddddddd-4444-4444-8444-444444444444';
window.dbg.throwD = function throwD(message) {
  throw new Error(message);
};
