// Generated from docs/protocol.schema.json by `npm run wire-types`; do not edit.
// The wire protocol v1 as the collector accepts it (crates/protocol is its source).

/**
 * A flat attribute or property value.
 */
export type Scalar = boolean | number | string;
/**
 * One event: the fields every event has, and what its type adds.
 */
export type Event = {
  /**
   * Overrides the context's page URL.
   */
  page_url?: string | null;
  /**
   * When it happened, in ms since the Unix epoch (UTC).
   */
  ts: number;
  /**
   * Overrides the context's view id (a soft navigation inside the batch).
   */
  view_id?: string | null;
} & Event1 & {
    /**
     * Overrides the context's page URL.
     */
    page_url?: string | null;
    /**
     * When it happened, in ms since the Unix epoch (UTC).
     */
    ts: number;
    /**
     * Overrides the context's view id (a soft navigation inside the batch).
     */
    view_id?: string | null;
  } & Event1;
export type Event1 =
  | {
      /**
       * First Contentful Paint, ms from navigation start.
       */
      fcp?: number | null;
      /**
       * `navigate`, `reload`, `back_forward`, `prerender`, `restore` (bfcache).
       */
      navigation_type?: string | null;
      /**
       * Total Blocking Time: the sum over long tasks between FCP and TTI of each task's time
       * past 50 ms.
       */
      tbt?: number | null;
      timing?: NavigationTiming;
      /**
       * Page title (scrubbed like URLs).
       */
      title?: string | null;
      /**
       * Bytes of the document over the wire.
       */
      transfer_size?: number | null;
      /**
       * Time to Interactive, ms from navigation start: the end of the last long task before
       * a 5 s window without long tasks (and at most two requests in flight), after FCP.
       */
      tti?: number | null;
      type: 'view';
    }
  | {
      attribution?: Attribution;
      /**
       * `LCP`, `INP`, `CLS`, `FCP` or `TTFB`.
       */
      name: string;
      /**
       * `good`, `needs-improvement` or `poor`; computed by the collector when absent.
       */
      rating?: string | null;
      type: 'vital';
      /**
       * ms, or unitless for CLS.
       */
      value: number;
    }
  | {
      /**
       * Body bytes decoded.
       */
      decoded_size?: number | null;
      /**
       * DNS phase.
       */
      dns?: number | null;
      /**
       * Download phase.
       */
      download?: number | null;
      /**
       * Total duration.
       */
      duration: number;
      /**
       * Body bytes as received.
       */
      encoded_size?: number | null;
      /**
       * `img`, `script`, `link`, `css`, `fetch`, `xmlhttprequest`, `font`, ….
       */
      initiator: string;
      /**
       * Whether it blocked rendering.
       */
      render_blocking?: boolean | null;
      /**
       * Start, ms from navigation start.
       */
      start?: number | null;
      /**
       * HTTP status when the browser exposes it.
       */
      status?: number | null;
      /**
       * TCP phase.
       */
      tcp?: number | null;
      /**
       * TLS phase.
       */
      tls?: number | null;
      /**
       * Bytes over the wire (0 for a cache hit).
       */
      transfer_size?: number | null;
      /**
       * Time to first byte from request start.
       */
      ttfb?: number | null;
      type: 'resource';
      /**
       * Resource URL.
       */
      url: string;
    }
  | {
      /**
       * The element's tag: `img`, `script`, `link`, `video`, ….
       */
      tag: string;
      type: 'resource_error';
      /**
       * Resource URL.
       */
      url: string;
    }
  | {
      /**
       * Long animation frame: blocking duration.
       */
      blocking_duration?: number | null;
      /**
       * Duration.
       */
      duration: number;
      /**
       * The longest script's invoker (e.g. `BUTTON#buy.onclick`).
       */
      invoker?: string | null;
      /**
       * `longtask` or `long-animation-frame`.
       */
      kind: string;
      /**
       * The longest script's duration.
       */
      script_duration?: number | null;
      /**
       * The longest script's URL.
       */
      script_url?: string | null;
      /**
       * Start, ms from navigation start.
       */
      start?: number | null;
      type: 'long_task';
    }
  | {
      /**
       * The last actions before the error, oldest first.
       */
      breadcrumbs?: Breadcrumb[];
      /**
       * The `cause` chain: the error's cause first, then that one's cause.
       */
      causes?: ErrorCause[];
      /**
       * Debug ids of the scripts in the stack, by script URL, as the bundles registered them:
       * an uploaded source map with the same debug id applies whatever the release or URL.
       */
      debug_ids?: {
        [k: string]: string;
      };
      /**
       * `TypeError`, `Error`, ….
       */
      error_type: string;
      /**
       * The application's own grouping (`vigil.error(e, { fingerprint })`): errors with the
       * same list are one group. `{{ default }}` stands for the collector's fingerprint.
       */
      fingerprint?: string[];
      /**
       * Parsed frames, innermost first.
       */
      frames?: Frame[];
      /**
       * Caught by the application (`vigil.error(e)`) or not.
       */
      handled?: boolean;
      /**
       * The message.
       */
      message: string;
      /**
       * `onerror`, `unhandledrejection`, `console`, `manual`.
       */
      source?: string | null;
      /**
       * The raw stack string.
       */
      stack?: string | null;
      type: 'error';
    }
  | {
      /**
       * `fetch` or `xhr`.
       */
      api?: string | null;
      /**
       * DNS phase.
       */
      dns?: number | null;
      /**
       * Download phase.
       */
      download?: number | null;
      /**
       * Total duration in ms.
       */
      duration: number;
      /**
       * `network`, `abort`, `timeout` when no response came.
       */
      failure?: string | null;
      /**
       * HTTP method.
       */
      method: string;
      /**
       * Request body bytes.
       */
      request_size?: number | null;
      /**
       * Response body bytes.
       */
      response_size?: number | null;
      /**
       * W3C parent span id (16 hex) sent in `traceparent`.
       */
      span_id?: string | null;
      /**
       * HTTP status; absent or 0 when the request failed.
       */
      status?: number | null;
      /**
       * TCP phase.
       */
      tcp?: number | null;
      /**
       * TLS phase.
       */
      tls?: number | null;
      /**
       * W3C trace id (32 hex) sent in `traceparent`.
       */
      trace_id?: string | null;
      /**
       * The `sampled` flag sent in `traceparent`: whether the backend was asked to record
       * the trace (it follows the session's trace sampling).
       */
      trace_sampled?: boolean | null;
      /**
       * Time to first byte from request start.
       */
      ttfb?: number | null;
      type: 'request';
      /**
       * The URL as requested.
       */
      url: string;
      /**
       * The templated URL (`/users/:id`); the collector derives it when absent.
       */
      url_template?: string | null;
    }
  | {
      /**
       * `click`, `rage_click`, `dead_click`, `scroll`, `form_start`, `form_submit`,
       * `form_abandon`.
       */
      action: string;
      /**
       * Rage click: how many clicks.
       */
      count?: number | null;
      /**
       * Scroll: deepest point reached, percent of the page height.
       */
      depth?: number | null;
      /**
       * Form actions: names of the fields touched, never their values.
       */
      fields?: string[];
      /**
       * Form actions: the form's name or id.
       */
      form?: string | null;
      /**
       * Form abandon: the last field touched.
       */
      last_field?: string | null;
      /**
       * Stable CSS selector of the target (never its text).
       */
      selector?: string | null;
      type: 'action';
    }
  | {
      /**
       * From the navigation until the page settled (ms).
       */
      duration?: number | null;
      /**
       * URL before.
       */
      from: string;
      /**
       * The new view id this navigation starts.
       */
      new_view_id?: string | null;
      /**
       * URL after.
       */
      to: string;
      /**
       * `push`, `replace`, `pop`, `hash`.
       */
      trigger?: string | null;
      type: 'route';
    }
  | {
      /**
       * e.g. `signup`, `checkout`.
       */
      name: string;
      /**
       * Flat properties.
       */
      properties?: {
        [k: string]: Scalar;
      };
      type: 'custom';
      /**
       * A number to sum (revenue, quantity).
       */
      value?: number | null;
    }
  | {
      /**
       * ms until the first frame.
       */
      duration: number;
      /**
       * `cold`, `warm` or `hot`.
       */
      start_type: string;
      type: 'app_start';
    }
  | {
      /**
       * ms until the screen was drawn.
       */
      duration: number;
      /**
       * Screen name.
       */
      screen: string;
      type: 'screen_load';
    }
  | {
      /**
       * Exception or signal name.
       */
      error_type: string;
      /**
       * Parsed frames.
       */
      frames?: Frame[];
      /**
       * The message.
       */
      message: string;
      /**
       * The raw stack.
       */
      stack?: string | null;
      type: 'crash';
    }
  | {
      /**
       * How long it was blocked, ms.
       */
      duration: number;
      /**
       * The main thread's stack.
       */
      stack?: string | null;
      type: 'anr';
    }
  | {
      /**
       * How many frames were slower than `threshold`.
       */
      frame_count: number;
      /**
       * The period counted, ms.
       */
      period?: number | null;
      /**
       * The frame time above which a frame counts, ms (16 slow, 700 frozen).
       */
      threshold?: number | null;
      type: 'jank';
    };

/**
 * The JSON body of POST /api/v1/ingest: one batch of events with their shared context. Generated from crates/protocol/src/events.rs. Enforced by the collector but not expressible here: nesting depth at most 6 (the batch is depth 1); strings and keys at most 16384 raw bytes; at most 500 events; integers written without a fraction or exponent; numbers within ±10^15; flat objects (attributes, properties) at most 64 keys and 8 KiB; ts from 2020-01-01 within the project's retention and at most a day ahead; durations and vital values finite and ≥ 0; sample_rate in (0, 1]; vital names LCP, INP, CLS, FCP, TTFB and ratings good, needs-improvement, poor. The limits are the server defaults and are configurable. See docs/protocol.md.
 */
export interface VigilIngestBatchProtocolV1 {
  context: Context;
  /**
   * The events, in any order.
   *
   * @minItems 1
   * @maxItems 500
   */
  events: [Event, ...Event[]];
  /**
   * The project's public key, when not given in the query string or header.
   */
  key?: string | null;
  /**
   * Protocol version, always 1.
   */
  v: number;
}
/**
 * What is the same for every event of the batch.
 */
export interface Context {
  agent: Agent;
  /**
   * Mobile: the app.
   */
  app?: App | null;
  /**
   * Custom attributes set by the application; flat, scalar values.
   */
  attributes?: {
    [k: string]: Scalar;
  };
  /**
   * Mobile: the carrier name.
   */
  carrier?: string | null;
  /**
   * Network Information API values, or the mobile network.
   */
  connection?: Connection | null;
  /**
   * Mobile: the device.
   */
  device?: Device | null;
  /**
   * `navigator.deviceMemory` in GiB.
   */
  device_memory?: number | null;
  /**
   * Environment such as production or staging.
   */
  environment?: string | null;
  /**
   * Mobile: the operating system as the SDK knows it (browsers are read from User-Agent).
   */
  os?: Os | null;
  /**
   * The page or screen URL; events may override it.
   */
  page_url?: string | null;
  /**
   * `document.referrer`.
   */
  referrer?: string | null;
  /**
   * The application release (for comparing deploys).
   */
  release?: string | null;
  /**
   * The share of sessions the SDK keeps (0 < rate ≤ 1, default 1): each kept session
   * stands for `1 / sample_rate` sessions when totals are estimated.
   */
  sample_rate?: number | null;
  /**
   * Screen size in CSS pixels.
   */
  screen?: Size | null;
  /**
   * Session id chosen by the SDK (kept across pages, 30 min idle, 4 h max).
   */
  session_id: string;
  /**
   * The application's own user id, when it set one.
   */
  user_id?: string | null;
  /**
   * The current view (page load, soft navigation or screen); events may override it.
   */
  view_id?: string | null;
  /**
   * Viewport size in CSS pixels.
   */
  viewport?: Size | null;
}
/**
 * Which SDK sent the batch.
 */
export interface Agent {
  /**
   * e.g. `vigil-browser`, `vigil-android`.
   */
  name: string;
  /**
   * Semver of the SDK.
   */
  version: string;
}
/**
 * A mobile application.
 */
export interface App {
  /**
   * Build number.
   */
  build?: string | null;
  /**
   * Bundle or package id.
   */
  name: string;
  /**
   * Marketing version.
   */
  version: string;
}
/**
 * The network the device is on.
 */
export interface Connection {
  /**
   * Estimated downlink in Mbit/s.
   */
  downlink?: number | null;
  /**
   * `4g`, `3g`, `2g`, `slow-2g` (`navigator.connection.effectiveType`).
   */
  effective_type?: string | null;
  /**
   * Estimated round trip in ms.
   */
  rtt?: number | null;
  /**
   * `wifi`, `cellular`, `ethernet`, … (`navigator.connection.type`).
   */
  type?: string | null;
}
/**
 * A mobile device.
 */
export interface Device {
  /**
   * e.g. `Google`.
   */
  manufacturer?: string | null;
  /**
   * e.g. `Pixel 8`.
   */
  model: string;
  /**
   * `mobile`, `tablet`, `desktop`, `tv`.
   */
  type?: string | null;
}
/**
 * An operating system.
 */
export interface Os {
  /**
   * e.g. `Android`, `iOS`.
   */
  name: string;
  /**
   * e.g. `14`.
   */
  version: string;
}
/**
 * A width and height in CSS pixels.
 */
export interface Size {
  /**
   * Height.
   */
  height: number;
  /**
   * Width.
   */
  width: number;
}
/**
 * Phase durations and milestones.
 */
export interface NavigationTiming {
  /**
   * DNS lookup.
   */
  dns?: number | null;
  /**
   * DOM complete milestone.
   */
  dom_complete?: number | null;
  /**
   * DOMContentLoaded end.
   */
  dom_content_loaded?: number | null;
  /**
   * DOM interactive milestone.
   */
  dom_interactive?: number | null;
  /**
   * Response download.
   */
  download?: number | null;
  /**
   * Load event end.
   */
  load?: number | null;
  /**
   * Redirect time.
   */
  redirect?: number | null;
  /**
   * From request start to the first byte.
   */
  request?: number | null;
  /**
   * TCP connect (including TLS).
   */
  tcp?: number | null;
  /**
   * TLS handshake.
   */
  tls?: number | null;
  /**
   * Time to first byte from navigation start.
   */
  ttfb?: number | null;
}
/**
 * Why the value is what it is.
 */
export interface Attribution {
  /**
   * LCP: the element; INP: the interaction target; CLS: the largest shift's source.
   */
  element?: string | null;
  /**
   * INP: `pointerdown`, `click`, `keydown`, ….
   */
  event_type?: string | null;
  /**
   * INP phase: input delay.
   */
  input_delay?: number | null;
  /**
   * LCP phase: resource load delay.
   */
  load_delay?: number | null;
  /**
   * LCP phase: resource load duration.
   */
  load_duration?: number | null;
  /**
   * Document or page load state when the metric was taken.
   */
  load_state?: string | null;
  /**
   * INP phase: presentation delay.
   */
  presentation_delay?: number | null;
  /**
   * INP phase: processing duration.
   */
  processing?: number | null;
  /**
   * LCP phase: element render delay.
   */
  render_delay?: number | null;
  /**
   * INP: that script's duration.
   */
  script_duration?: number | null;
  /**
   * INP: the long-animation-frame script that took longest.
   */
  script_url?: string | null;
  /**
   * CLS: time of the largest shift, ms from navigation start.
   */
  shift_time?: number | null;
  /**
   * LCP phase: time to first byte.
   */
  ttfb?: number | null;
  /**
   * LCP: the image or resource URL.
   */
  url?: string | null;
}
/**
 * Something that happened before an error.
 */
export interface Breadcrumb {
  /**
   * `click`, `route`, `request`, `console`, `custom`.
   */
  category: string;
  /**
   * Extra flat values.
   */
  data?: {
    [k: string]: Scalar;
  };
  /**
   * Human summary (selector, URL, status, message).
   */
  message: string;
  /**
   * When, ms since the epoch.
   */
  ts: number;
}
/**
 * An error in the `cause` chain of another.
 */
export interface ErrorCause {
  /**
   * `TypeError`, `Error`, ….
   */
  error_type: string;
  /**
   * The message.
   */
  message: string;
  /**
   * The raw stack string; the collector parses it (a cause's frames would nest deeper
   * than a batch may).
   */
  stack?: string | null;
}
/**
 * A stack frame.
 */
export interface Frame {
  /**
   * 1-based column.
   */
  column?: number | null;
  /**
   * Script URL or file.
   */
  file?: string | null;
  /**
   * Function name.
   */
  function?: string | null;
  /**
   * 1-based line.
   */
  line?: number | null;
}
