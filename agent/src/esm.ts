// npm entry (dist/vigil.esm.js):
//   import { init } from '@vigil/browser';
//   const vigil = init({ key: 'pk_…', endpoint: 'https://rum.example.com/api/v1/ingest' });
import { create, type Vigil } from './api';
import type { Options } from './config';

export type { Vigil, Options };

let instance: Vigil | undefined;

/** Starts the agent once (later calls return the same instance) and sets window.vigil. */
export function init(options: Options): Vigil {
  if (!instance) {
    instance = create(options);
    try {
      (window as unknown as { vigil?: Vigil }).vigil = instance;
    } catch {
      /* ignore */
    }
  }
  return instance;
}
