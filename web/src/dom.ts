// DOM helpers shared by every view. All event data is rendered as text (text nodes,
// attributes), never as HTML.
export type Child = Node | string | number | null | undefined;
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(
      typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c,
    );
  }
  return e;
}

const SVG_NS = 'http://www.w3.org/2000/svg';
export function svgEl(tag: string, attrs: Record<string, string> = {}): SVGElement {
  const e = document.createElementNS(SVG_NS, tag) as SVGElement;
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

/** A button that acts on its second click (its label asks for it after the first); a
 * failure is shown in `msg` and the button can be clicked again. */
export function confirmButton(
  label: string,
  armedLabel: string,
  testid: string,
  msg: HTMLElement,
  act: () => Promise<void>,
): HTMLButtonElement {
  const button = el('button', { type: 'button', 'data-testid': testid }, label);
  button.addEventListener('click', async () => {
    if (button.dataset.armed !== '1') {
      button.dataset.armed = '1';
      button.textContent = armedLabel;
      return;
    }
    button.disabled = true;
    try {
      await act();
    } catch (e) {
      msg.textContent = (e as Error).message;
      button.disabled = false;
    }
  });
  return button;
}
