// The page shell every dashboard page shares: head, the top bar (who is signed in, sign out), and <main>, the part
// the live script replaces when the server says something changed. A fragment request (the live script's) gets
// <main>'s content alone.
import type { Session } from './session.ts';
import { html } from './html.ts';
import type { Html } from './html.ts';

/** Header the live script sends: answer with <main>'s content only. */
export const FRAGMENT_HEADER = 'x-vaquero-fragment';

export interface PageOptions {
  title: string;
  session?: Session;
  /** What changes refresh the page: `all`, `host:<site>/<host>`, `rollout:<id>` (see assets/live.js). */
  live?: string;
  body: Html;
}

export function page(o: PageOptions): Html {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${o.title} · vaquero</title>
<link rel="stylesheet" href="/ui/assets/dashboard.css">
${o.live ? html`<script type="module" src="/ui/assets/live.js"></script>` : ''}
</head>
<body>
<header>
<a class="brand" href="/">vaquero</a>
${
  o.session
    ? html`<span class="who">${o.session.principal.name} (${o.session.principal.role})</span>
        <span class="live-state" id="live-state"></span>
        <form method="post" action="/ui/logout" class="inline">
          <input type="hidden" name="csrf" value="${o.session.csrf}" /><button type="submit">Sign out</button>
        </form>`
    : ''
}
</header>
<main${o.live ? html` data-live="${o.live}"` : ''}>
${o.body}
</main>
</body>
</html>
`;
}
