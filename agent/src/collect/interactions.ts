// Clicks (with rage and dead clicks), the deepest scroll of each view, and form start,
// submit and abandon. Selectors and field names only: never text or values.
import { activity, crumb, lastActivity, onEnd, st, track } from '../core';
import { D, W, clickTarget, clip, now, on, safe, sel, watchMutations } from '../util';

const RAGE_MS = 1000;
const RAGE_PX = 30;
const DEAD_MS = 1000;
const NOT_DEAD = 'input,textarea,select,option,label,[contenteditable],video,audio,iframe';

interface Rage {
  x: number;
  y: number;
  n: number;
  t: number;
  last: number;
  s?: string;
  timer?: ReturnType<typeof setTimeout>;
}

interface FormState {
  el: HTMLFormElement;
  fields: string[];
  last?: string;
  done?: boolean; // submitted or reported as abandoned
}

export function initInteractions(): void {
  // ---- clicks, rage clicks, dead clicks
  let rage: Rage | undefined;
  const endRage = (): void => {
    const r = rage;
    rage = undefined;
    if (r?.timer) clearTimeout(r.timer);
    if (r && r.n >= 3)
      track({ type: 'action', ts: r.t, action: 'rage_click', selector: r.s, count: r.n });
  };
  const dead = new Set<string>();
  // The selector is taken when the interaction starts, in the window's capture phase (before the
  // page's own handlers, which may add `is-open` or remove the element from its container):
  // at pointerdown for a pointer, at the click itself for a keyboard.
  let pressed: Element | null = null;
  let pressedSel: string | undefined;
  on(W, 'pointerdown', (e: PointerEvent) => {
    pressed = clickTarget(e.target);
    pressedSel = sel(pressed);
  });
  on(W, 'click', (e: MouseEvent) => {
    const el = clickTarget(e.target);
    const s = el && el == pressed ? pressedSel : sel(el);
    pressed = null;
    if (!el) return;
    const t = now();
    track({ type: 'action', action: 'click', selector: s });
    crumb('click', s || el.localName, { x: Math.round(e.clientX), y: Math.round(e.clientY) });
    // Rage: 3+ clicks, each within 1 s of the one before, within 30 px.
    if (
      rage &&
      t - rage.last <= RAGE_MS &&
      Math.abs(e.clientX - rage.x) <= RAGE_PX &&
      Math.abs(e.clientY - rage.y) <= RAGE_PX
    ) {
      rage.n++;
      rage.last = t;
      clearTimeout(rage.timer);
    } else {
      endRage();
      rage = { x: e.clientX, y: e.clientY, n: 1, t, last: t, s };
    }
    rage.timer = setTimeout(safe(endRage), RAGE_MS);
    // Dead: no DOM change, navigation or request within 1 s.
    if (!s || dead.has(s) || el.closest(NOT_DEAD)) return;
    const sn = W.getSelection && String(W.getSelection() || '');
    if (sn) return; // selecting text
    dead.add(s);
    const stop = watchMutations(activity);
    setTimeout(
      safe(() => {
        stop();
        dead.delete(s);
        const link = el.closest('a[href]');
        if (lastActivity() >= t || (link && !e.defaultPrevented) || !st.on) return;
        track({ type: 'action', ts: t, action: 'dead_click', selector: s });
      }),
      DEAD_MS,
    );
  });
  on(D, 'submit', activity);

  // ---- deepest scroll of the view
  let depth = 0;
  let sent = 0;
  let scrolled = false;
  let lastMeasure = 0;
  const measure = (): void => {
    const de = D.documentElement;
    const h = Math.max(de.scrollHeight, D.body ? D.body.scrollHeight : 0);
    if (h > 0) depth = Math.max(depth, Math.min(100, ((W.scrollY + W.innerHeight) / h) * 100));
  };
  let trailing: ReturnType<typeof setTimeout> | 0 = 0;
  // The document's scroll only (not inner elements'), measured at most every 200 ms.
  on(
    W,
    'scroll',
    () => {
      scrolled = true;
      const t = now();
      if (t - lastMeasure > 200) {
        lastMeasure = t;
        measure();
      } else if (!trailing)
        trailing = setTimeout(
          safe(() => {
            trailing = 0;
            measure();
          }),
          250,
        );
    },
    { passive: true },
  );

  // ---- forms
  let forms: FormState[] = [];
  const formOf = (t: EventTarget | null): FormState | undefined => {
    const el = t as HTMLInputElement | null;
    const f = el && (el.form || (el.closest && (el.closest('form') as HTMLFormElement | null)));
    if (!f) return undefined;
    for (const s of forms) if (s.el == f) return s;
    const s: FormState = { el: f, fields: [] };
    forms.push(s);
    return s;
  };
  const formName = (f: HTMLFormElement): string | undefined => {
    const n = f.getAttribute('name') || f.id;
    return n ? clip(n, 200) : undefined;
  };
  const field = (e: Event): void => {
    const el = e.target as HTMLInputElement;
    if (
      !el ||
      !el.localName ||
      !/^(input|select|textarea)$/.test(el.localName) ||
      el.type == 'hidden'
    )
      return;
    const s = formOf(el);
    if (!s) return;
    const name = clip(el.getAttribute('name') || el.id || el.type || el.localName, 200);
    const first = !s.fields.length;
    if (s.fields.indexOf(name) < 0 && s.fields.length < 50) s.fields.push(name);
    s.last = name;
    if (first) {
      s.done = false;
      track({
        type: 'action',
        action: 'form_start',
        selector: sel(s.el),
        form: formName(s.el),
        fields: [name],
      });
    }
  };
  on(D, 'input', field);
  on(D, 'change', field);
  on(D, 'submit', (e: SubmitEvent) => {
    const s = formOf(e.target);
    if (!s) return;
    s.done = true;
    track({
      type: 'action',
      action: 'form_submit',
      selector: sel(s.el),
      form: formName(s.el),
      fields: s.fields.slice(),
    });
    forms = forms.filter((x) => x != s);
  });

  // ---- at the end of a view
  onEnd((reason) => {
    endRage();
    if (scrolled) measure();
    if (scrolled && depth > sent) {
      sent = depth;
      track({ type: 'action', action: 'scroll', depth: Math.round(depth * 10) / 10 });
    }
    for (const s of forms)
      if (!s.done && s.fields.length) {
        s.done = true;
        track({
          type: 'action',
          action: 'form_abandon',
          selector: sel(s.el),
          form: formName(s.el),
          fields: s.fields.slice(),
          last_field: s.last,
        });
      }
    if (reason == 'route') {
      depth = sent = 0;
      scrolled = false;
      forms = [];
    }
  });
}
