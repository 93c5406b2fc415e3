// Registers something that is not a debug id: the collector would refuse the whole batch.
window._vigilDebugIds[new Error().stack] = 'not-a-debug-id';
window.dbg.throwC = function throwC(message) {
  throw new Error(message);
};
