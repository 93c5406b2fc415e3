// Registers in Sentry's registry, a debug id without dashes; and a key that is no stack.
window._sentryDebugIds = window._sentryDebugIds || {};
window._sentryDebugIds[new Error().stack] = 'BBBBBBBB2222422282222222222222B2';
window._sentryDebugIds['not a stack'] = 'eeeeeeee-5555-4555-8555-555555555555';
window.dbg.through = function through(fn) {
  return fn();
};
