// Check: `mesh check` for every cluster, as the CLI prints it — one ✔/✘ line per check with a hint for each
// ✘ — re-run periodically and on request. The data path check (it starts pods) is left to the CLI.
import type { CheckLineView, CheckResponse } from '../model.js';
import { ago, h } from './dom.js';
import { definePage } from './page.js';

function line(l: CheckLineView): Node {
  return h('div', { class: 'check-line', 'data-check': `${l.cluster}: ${l.check}`, 'data-ok': String(l.ok) },
    h('span', { class: 'mark' }, l.ok ? '✔' : '✘'), h('strong', {}, l.check), `: ${l.detail}`,
    !l.ok && l.hint ? h('div', { class: 'hint' }, `hint: ${l.hint}`) : null);
}

export const checkPage = definePage<CheckResponse>({
  id: 'check',
  title: 'Check',
  endpoint: '/api/check',
  resource: 'check',
  render(d) {
    const failed = d.lines.filter((l) => !l.ok).length;
    const clusters = [...new Set(d.lines.map((l) => l.cluster))];
    const run = h('button', { type: 'button', onclick: () => void fetch('/api/check?run=true', { cache: 'no-store' }) }, d.running ? 'running…' : 'Run again');
    if (d.running) run.setAttribute('disabled', '');
    return h('div', {},
      h('h1', {}, 'Check'),
      h('p', { class: 'muted' }, `mesh check for every cluster (without the data path check, which starts pods: run mesh check for it). ${d.ranAt ? `Last run ${ago(d.ranAt)}${d.durationMs !== null ? ` in ${(d.durationMs / 1000).toFixed(1)} s` : ''}` : 'Not run yet'}${d.ranAt ? `: ${failed ? `${failed} check(s) failed` : 'all passed'}` : ''}. `, run),
      d.error ? h('div', { class: 'banner failed' }, d.error) : null,
      ...clusters.map((c) => h('div', { class: 'card', 'data-health': d.lines.some((l) => l.cluster === c && !l.ok) ? 'failed' : 'ok', 'data-check-cluster': c },
        h('h3', {}, c), ...d.lines.filter((l) => l.cluster === c).map(line))),
    );
  },
});
