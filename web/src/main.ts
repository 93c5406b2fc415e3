// Vigil dashboard: a small client-side app. The URL path picks a view; every view reads the
// query API for one project, over the range and filters in the URL.
import { api, currentUser, HttpError, Me, setMe } from './api';
import { el } from './dom';
import { href, navigate, param, Range, setRenderer, state, timeRange, urlFilters } from './url';
import { NAV, loginView, noAccess, projectPicker, shell } from './shell';
import { overview } from './views/overview';
import { explorer } from './views/explorer';
import { geography } from './views/geography';
import { errorsView } from './views/errors';
import { sessionsView } from './views/sessions';
import { pageView, pagesView } from './views/pages';
import { networkView } from './views/network';
import { resourcesView } from './views/resources';
import { businessView } from './views/business';
import { settingsView } from './views/settings';
import { inviteView } from './views/invite';
import { servicesView } from './views/services';
import { traceView } from './views/trace';
import { alertsView } from './views/alerts';
import { mobileView } from './views/mobile';
import 'uplot/dist/uPlot.min.css';
import './style.css';

let renderSeq = 0;
const root = document.getElementById('app') as HTMLElement;

/** A view fills `box` with the data of project `pid` over `range` (also in box's data-from/data-to). */
const VIEWS: Record<string, (pid: number, box: HTMLElement, range: Range) => Promise<void>> = {
  '/pages': pagesView,
  '/page': pageView,
  '/network': networkView,
  '/resources': resourcesView,
  '/business': businessView,
  '/settings': settingsView,
  '/overview': overview,
  '/explorer': explorer,
  '/geography': geography,
  '/errors': errorsView,
  '/sessions': sessionsView,
  '/services': servicesView,
  '/traces': traceView,
  '/alerts': alertsView,
  '/mobile': mobileView,
};

async function render(): Promise<void> {
  const seq = ++renderSeq;
  const { path } = state();
  if (path === '/login') {
    root.replaceChildren(loginView());
    return;
  }
  if (path === '/invite') {
    await inviteView(root);
    return;
  }
  let m = currentUser();
  if (!m) {
    try {
      m = setMe(await api<Me>('GET', '/api/v1/me'));
    } catch (e) {
      if (seq !== renderSeq) return;
      if (e instanceof HttpError && e.status === 401) {
        navigate(href('/login', { next: location.pathname + location.search }, false), true);
        return;
      }
      root.replaceChildren(
        el('p', { class: 'error' }, `Could not reach the server: ${(e as Error).message}`),
      );
      return;
    }
  }
  if (seq !== renderSeq) return;
  const pid = param('project', '');
  const project = m.projects.find((p) => String(p.id) === pid);
  if (!project) {
    if (pid) {
      root.replaceChildren(noAccess(m));
      document.title = 'Vigil · no access';
      return;
    }
    if (m.projects.length === 1) {
      navigate(href(VIEWS[path] ? path : '/overview', { project: String(m.projects[0].id) }), true);
      return;
    }
    root.replaceChildren(projectPicker(m));
    return;
  }
  const viewFn = VIEWS[path];
  if (!viewFn) {
    navigate(href('/overview'), true);
    return;
  }
  if (new URLSearchParams(location.search).has('filter')) {
    navigate(href(path, {}, true, urlFilters()), true);
    return;
  }
  const range = timeRange();
  const box = el(
    'section',
    {
      'data-testid': 'view',
      'data-view': path.slice(1),
      'data-state': 'loading',
      'data-from': String(range.from),
      'data-to': String(range.to),
    },
    el('p', { class: 'loading' }, 'Loading…'),
  );
  root.replaceChildren(shell(m, project, box));
  const title = path === '/traces' ? 'Trace' : param('page', '');
  document.title = `Vigil · ${NAV.find(([p]) => p === path)?.[1] ?? title} · ${project.name}`;
  try {
    await viewFn(project.id, box, range);
    if (seq === renderSeq) box.dataset.state = 'ready';
  } catch (e) {
    if (seq !== renderSeq) return;
    if (e instanceof HttpError && e.status === 401) {
      setMe(null);
      navigate(href('/login', { next: location.pathname + location.search }, false), true);
      return;
    }
    box.replaceChildren(el('p', { class: 'error' }, `Failed to load: ${(e as Error).message}`));
    box.dataset.state = 'error';
  }
}

setRenderer(render);
window.addEventListener('popstate', () => void render());
void render();
