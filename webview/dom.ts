// Small DOM makers shared by the panel's renderers (render.ts, members.ts).

/** A `vscode-button` with a codicon, its label as its text and its accessible name. */
export function button(className: string, label: string, icon: string, secondary = true): HTMLElement {
  const b = document.createElement('vscode-button');
  b.className = className;
  b.setAttribute('icon', icon);
  if (secondary) b.setAttribute('secondary', '');
  b.setAttribute('aria-label', label);
  b.textContent = label;
  return b;
}
