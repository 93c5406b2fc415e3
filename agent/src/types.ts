// Wire types of the Vigil protocol v1 (docs/protocol.md; crates/protocol/src/events.rs is the
// source of truth). Only what the browser agent sends is declared here.

/** Timing phases shared by resource timings and requests (ms). */
export interface Phases {
  dns?: number;
  tcp?: number;
  tls?: number;
  ttfb?: number;
  download?: number;
}

export type Scalar = string | number | boolean;
export type Flat = Record<string, Scalar>;

export interface Size {
  width: number;
  height: number;
}

export interface Context {
  session_id: string;
  view_id?: string;
  agent: { name: string; version: string };
  page_url?: string;
  referrer?: string;
  screen?: Size;
  viewport?: Size;
  connection?: { type?: string; effective_type?: string; rtt?: number; downlink?: number };
  device_memory?: number;
  user_id?: string;
  release?: string;
  environment?: string;
  attributes?: Flat;
  sample_rate?: number;
}

export interface NavigationTiming {
  redirect?: number;
  dns?: number;
  tcp?: number;
  tls?: number;
  request?: number;
  ttfb?: number;
  download?: number;
  dom_interactive?: number;
  dom_content_loaded?: number;
  dom_complete?: number;
  load?: number;
}

export interface Attribution {
  element?: string;
  url?: string;
  ttfb?: number;
  load_delay?: number;
  load_duration?: number;
  render_delay?: number;
  event_type?: string;
  input_delay?: number;
  processing?: number;
  presentation_delay?: number;
  script_url?: string;
  script_duration?: number;
  shift_time?: number;
  load_state?: string;
}

export interface Frame {
  function?: string;
  file?: string;
  line?: number;
  column?: number;
}

export interface Breadcrumb {
  ts: number;
  category: 'click' | 'route' | 'request' | 'console' | 'custom';
  message: string;
  data?: Flat;
}

interface Common {
  ts?: number;
  view_id?: string;
  page_url?: string;
}

export type Body =
  | {
      type: 'view';
      navigation_type?: string;
      timing?: NavigationTiming;
      fcp?: number;
      transfer_size?: number;
      title?: string;
      tbt?: number;
      tti?: number;
    }
  | {
      type: 'vital';
      name: 'LCP' | 'INP' | 'CLS' | 'FCP' | 'TTFB';
      value: number;
      rating?: string;
      attribution?: Attribution;
    }
  | ({
      type: 'resource';
      url: string;
      initiator: string;
      start?: number;
      duration: number;
    } & Phases & {
        transfer_size?: number;
        encoded_size?: number;
        decoded_size?: number;
        render_blocking?: boolean;
        status?: number;
      })
  | { type: 'resource_error'; url: string; tag: string }
  | {
      type: 'long_task';
      kind: string;
      start?: number;
      duration: number;
      blocking_duration?: number;
      script_url?: string;
      invoker?: string;
      script_duration?: number;
    }
  | {
      type: 'error';
      error_type: string;
      message: string;
      stack?: string;
      frames?: Frame[];
      handled?: boolean;
      source?: string;
      breadcrumbs?: Breadcrumb[];
    }
  | ({
      type: 'request';
      api?: string;
      method: string;
      url: string;
      url_template?: string;
      status?: number;
      duration: number;
    } & Phases & {
        request_size?: number;
        response_size?: number;
        trace_id?: string;
        span_id?: string;
        failure?: string;
      })
  | {
      type: 'action';
      action: string;
      selector?: string;
      count?: number;
      depth?: number;
      form?: string;
      fields?: string[];
      last_field?: string;
    }
  | {
      type: 'route';
      from: string;
      to: string;
      new_view_id?: string;
      trigger?: string;
      duration?: number;
    }
  | { type: 'custom'; name: string; properties?: Flat; value?: number };

export type Ev = Common & Body;
