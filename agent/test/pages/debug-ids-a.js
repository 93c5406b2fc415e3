// A "bundle" that registers its debug id the way bundler plugins do: keyed by a stack taken
// inside it (its innermost frame names this script's URL).
(window._vigilDebugIds = window._vigilDebugIds || {})[new Error().stack] =
  'aaaaaaaa-1111-4111-8111-111111111111';
window.dbg = window.dbg || {};
window.dbg.throwA = function throwA(message) {
  throw new Error(message);
};
