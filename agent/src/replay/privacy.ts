// What session replay records and what it never does. rrweb masks the values of every input,
// textarea and select (maskAllInputs: '*' per character, so the length shows but never a
// character), the text inside `.vigil-mask` (every text with maskAllText) and replaces each
// `.vigil-block` element, and by default each image, by a placeholder of its size. rrweb leaves
// attributes as they are, so `scrub` masks those that carry what a person typed or what a masked
// element says, in every snapshot and mutation before an event is kept.
import { record } from '@rrweb/record';

export const MASK_CLASS = 'vigil-mask';
export const BLOCK_CLASS = 'vigil-block';
/** Images as placeholders: an <img> may show a document, a face or a card. */
const IMAGES = 'img,picture,image,video,input[type=image]';
const FIELD = /^(input|textarea|select)$/i;
/** A form field's attributes that may hold a value (a custom select keeps it in data-value). */
const FIELD_ATTR = /^(value|data-.*)$/;
/** A masked element's attributes that say what it says. */
const TEXT_ATTR = /^(value|placeholder|title|alt|aria-(label|valuetext|description)|data-.*)$/;

export interface Privacy {
  maskAllText: boolean;
  images: boolean;
}

/** The length-preserving mask of a value. */
export const stars = (v: string): string => '*'.repeat(v.length);

/** rrweb's options for `p`: everything else of the recorder is left at rrweb's defaults. */
export function privacyOptions(p: Privacy) {
  return {
    maskAllInputs: true,
    maskTextClass: MASK_CLASS,
    maskTextSelector: p.maskAllText ? '*' : undefined,
    blockClass: BLOCK_CLASS,
    blockSelector: p.images ? undefined : IMAGES,
    inlineImages: false,
    recordCanvas: false,
    collectFonts: false,
    recordCrossOriginIframes: false,
  };
}

type Attrs = Record<string, unknown>;
/** rrweb's serialized node, as far as masking needs it (type 2: an element). */
interface SNode {
  type: number;
  tagName?: string;
  attributes?: Attrs;
  childNodes?: SNode[];
}
/** An rrweb event, as far as masking needs it. */
export interface RREvent {
  type: number;
  timestamp: number;
  data: {
    source?: number;
    node?: SNode;
    adds?: Array<{ parentId: number; node: SNode }>;
    attributes?: Array<{ id: number; attributes: Attrs }>;
    text?: unknown;
  };
}

/** Masks `a`'s values: a masked element's (text) or a form field's (field, password). */
function maskAttrs(a: Attrs, text: boolean, field: boolean, password: boolean): void {
  for (const k in a) {
    const v = a[k];
    if (
      typeof v == 'string' &&
      v &&
      ((text && TEXT_ATTR.test(k)) ||
        (field && FIELD_ATTR.test(k)) ||
        (password && k == 'placeholder'))
    )
      a[k] = stars(v);
  }
}

const hasClass = (c: unknown, name: string): boolean =>
  typeof c == 'string' && c.split(/\s+/).includes(name);

function scrubTree(n: SNode, masked: boolean): void {
  const a = n.attributes;
  if (n.type == 2 && a) {
    masked = masked || hasClass(a.class, MASK_CLASS);
    maskAttrs(a, masked, FIELD.test(n.tagName || ''), String(a.type).toLowerCase() == 'password');
  }
  for (const c of n.childNodes || []) scrubTree(c, masked);
}

/** The live element of an rrweb node id, while it is in the page. */
const element = (id: number): Element | undefined => {
  const n = record.mirror.getNode(id) as Element | null;
  return n && n.nodeType == 1 ? n : undefined;
};
const inMask = (el: Element | undefined): boolean => !!el?.closest('.' + MASK_CLASS);

/** Masks what rrweb leaves in clear in `e` (in place). */
export function scrub(e: RREvent, p: Privacy): void {
  const d = e.data;
  if (e.type == 2 && d.node) scrubTree(d.node, p.maskAllText);
  if (e.type != 3) return;
  if (d.source == 0) {
    // a mutation: added subtrees, changed attributes
    for (const add of d.adds || [])
      scrubTree(add.node, p.maskAllText || inMask(element(add.parentId)));
    for (const m of d.attributes || []) {
      const el = element(m.id);
      // An element already gone is masked as if it were in `.vigil-mask`.
      maskAttrs(
        m.attributes,
        p.maskAllText || !el || inMask(el),
        !!el && FIELD.test(el.localName),
        (el as HTMLInputElement | undefined)?.type == 'password',
      );
    }
  }
  // An input: rrweb masks typed values but leaves a checkbox's or radio's value (its state is
  // `isChecked`), which may still be the person's own.
  if (d.source == 5 && typeof d.text == 'string') d.text = stars(d.text);
}
