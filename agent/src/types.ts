// Wire types of the Vigil protocol v1, as the browser agent sends them. They are the types of
// src/wire.ts, generated from docs/protocol.schema.json (itself generated from the collector's
// types, crates/protocol), so the compiler checks every event the agent builds against the wire:
// a field the wire lacks, or of another type, is a type error. Where the agent is stricter than
// the wire (vital names, breadcrumb categories), the wire type is narrowed here, never widened;
// `WireChecks` below fails to compile otherwise. Types only: none of this reaches the bundle.
import type * as W from './wire';

export type Scalar = W.Scalar;
export type Flat = Record<string, Scalar>;
export type Size = W.Size;
export type Context = W.Context;
export type NavigationTiming = W.NavigationTiming;
export type Attribution = W.Attribution;
export type Frame = W.Frame;
export type Breadcrumb = W.Breadcrumb & {
  category: 'click' | 'route' | 'request' | 'console' | 'custom';
};

/** The wire's event of one type (its own fields, without the common ones). */
type Wire<T extends string> = Extract<W.Event1, { type: T }>;

/** The events a browser sends (the mobile ones are left out). */
export type Body =
  | Wire<'view'>
  | (Wire<'vital'> & { name: 'LCP' | 'INP' | 'CLS' | 'FCP' | 'TTFB' })
  | Wire<'resource'>
  | Wire<'resource_error'>
  | Wire<'long_task'>
  | (Wire<'error'> & { breadcrumbs?: Breadcrumb[] })
  | Wire<'request'>
  | Wire<'action'>
  | Wire<'route'>
  | Wire<'custom'>;

/** The fields every event has; `ts` is filled in by `track` when the collector leaves it out. */
type Common = Partial<Pick<W.Event, 'ts' | 'view_id' | 'page_url'>>;

export type Ev = Common & Body;

/** Holds when A is B narrowed (every A is a B). */
type Narrows<A, B> = [A] extends [B] ? true : false;
/**
 * Compile-time checks that the agent's narrowed types are still wire types (they fail to
 * compile, `true` not satisfying `false`, when the wire changes under them).
 */
export type WireChecks = [
  Check<Narrows<Breadcrumb, W.Breadcrumb>>,
  Check<Narrows<Body, W.Event1>>,
  Check<Narrows<Common & { ts: number }, Pick<W.Event, 'ts' | 'view_id' | 'page_url'>>>,
];
type Check<T extends true> = T;
