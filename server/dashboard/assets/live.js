// The dashboard's only script: listens to the server's change events (GET /ui/events) and, when one concerns this
// page (<main data-live>: `all`, `host:<site>/<host>` or `rollout:<id>`), fetches the page again as a fragment and
// swaps <main>'s content. At most one redraw is in flight, and changes that arrive meanwhile cause one more: a
// busy fleet redraws as fast as the server answers, a quiet one never. No timer asks the server anything.
const main = document.querySelector('main[data-live]');
const state = document.getElementById('live-state');

function concerns(scope, key) {
  if (scope === 'all') return true;
  return scope === key;
}

let inFlight = false;
let again = false;

async function redraw() {
  if (inFlight) {
    again = true;
    return;
  }
  inFlight = true;
  try {
    const r = await fetch(location.href, {
      headers: { 'x-vaquero-fragment': '1' },
      credentials: 'same-origin',
    });
    if (r.status === 401 || r.redirected) {
      location.reload();
      return;
    }
    if (r.ok) {
      main.innerHTML = await r.text();
      main.dataset.redrawn = String(Number(main.dataset.redrawn ?? '0') + 1);
    }
  } finally {
    inFlight = false;
    if (again) {
      again = false;
      void redraw();
    }
  }
}

if (main) {
  const scope = main.dataset.live;
  const source = new EventSource('/ui/events');
  // Changes between drawing this page and the stream opening (or while it reconnected) came over no stream: one
  // redraw on every opening catches up with them.
  let opened = false;
  source.addEventListener('open', () => {
    if (state) state.textContent = 'live';
    if (opened) void redraw();
    else void redraw().then(() => (opened = true));
  });
  source.addEventListener('error', () => {
    if (state) state.textContent = 'reconnecting';
  });
  source.addEventListener('change', (e) => {
    if (concerns(scope, JSON.parse(e.data))) void redraw();
  });
}
