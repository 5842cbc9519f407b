// The dashboard's browser side: one page at a time, chosen by the path; its data from the page's JSON
// endpoint; a server-sent event stream says when that data changed, and the page is fetched and drawn
// again without a reload. When the stream drops, the header says so and the browser reconnects by itself.
import type { VersionsEvent } from '../model.js';
import { h } from './dom.js';
import { overviewPage } from './page-overview.js';
import { topologyPage } from './page-topology.js';
import { servicesPage } from './page-services.js';
import { trafficPage } from './page-traffic.js';
import { identityPage } from './page-identity.js';
import { checkPage } from './page-check.js';
import type { Page } from './page.js';

const PAGES: Record<string, Page> = {
  '/': overviewPage,
  '/topology': topologyPage,
  '/services': servicesPage,
  '/traffic': trafficPage,
  '/identity': identityPage,
  '/check': checkPage,
};

const main = document.getElementById('main') as HTMLElement;
const live = document.getElementById('live') as HTMLElement;
let current: Page = overviewPage;
let shownVersion = -1;
let latest: VersionsEvent = { state: 0, traffic: 0, check: 0 };
let inFlight = false;
let again = false;

async function load(): Promise<void> {
  if (inFlight) {
    again = true;
    return;
  }
  inFlight = true;
  const page = current;
  try {
    const res = await fetch(page.endpoint, { headers: { Accept: 'application/json' }, cache: 'no-store' });
    const data: unknown = await res.json();
    if (!res.ok) throw new Error((data as { error?: string }).error ?? `HTTP ${res.status}`);
    if (page !== current) return;
    const scrollY = window.scrollY;
    const content = page.render(data, reload);
    main.replaceChildren(content);
    window.scrollTo(0, scrollY);
    shownVersion = (data as { version?: number }).version ?? latest[page.resource];
    document.body.dataset.page = page.id;
    document.body.dataset.rendered = String(Number(document.body.dataset.rendered ?? '0') + 1);
  } catch (err) {
    main.replaceChildren(h('div', { class: 'banner failed' }, `Could not load ${page.endpoint}: ${(err as Error).message}`));
  } finally {
    inFlight = false;
    if (again) {
      again = false;
      void load();
    }
  }
}

function reload(): void {
  void load();
}

function route(path: string): void {
  current = PAGES[path] ?? overviewPage;
  shownVersion = -1;
  document.title = `${current.title} · mesh dashboard`;
  for (const a of document.querySelectorAll<HTMLAnchorElement>('header nav a')) a.classList.toggle('active', a.getAttribute('href') === path);
  void load();
}

document.addEventListener('click', (ev) => {
  const a = (ev.target as Element | null)?.closest?.('a[data-nav]');
  if (!(a instanceof HTMLAnchorElement) || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.button !== 0) return;
  ev.preventDefault();
  const path = new URL(a.href).pathname;
  if (path !== location.pathname) history.pushState(null, '', path);
  route(path);
});
window.addEventListener('popstate', () => route(location.pathname));

function connect(): void {
  const es = new EventSource('/api/events');
  es.addEventListener('open', () => {
    live.dataset.state = 'live';
    live.textContent = 'live';
  });
  es.addEventListener('versions', (ev) => {
    latest = JSON.parse((ev as MessageEvent<string>).data) as VersionsEvent;
    live.dataset.state = 'live';
    live.textContent = `live · ${new Date().toLocaleTimeString()}`;
    if (latest[current.resource] > shownVersion) void load();
  });
  es.addEventListener('error', () => {
    live.dataset.state = 'down';
    live.textContent = 'disconnected from the dashboard server; retrying…';
  });
}

route(location.pathname);
connect();
