import { OVERVIEW_COLUMNS, overviewCells } from '../cli/list-format.ts';
import type { RecordingOverview } from '../../format/recording-summary.ts';

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const STYLE = `body{font-family:system-ui,sans-serif;margin:2rem;background:#fafafa;color:#222}
table{border-collapse:collapse}td,th{padding:.3rem .8rem;border-bottom:1px solid #ddd;text-align:left}
code{font-size:.9em}a{color:#0645ad}`;

/** One page of recordings, newest first: the columns of `portcullis audit list`, a search box, a link to each terminal. */
export function listPage(overviews: readonly RecordingOverview[], options: { after?: string; next?: string; search?: string; auditor: string }): string {
  const rows = overviews
    .map((overview) => {
      const cells = overviewCells(overview).map((cell, column) => `<td data-column="${OVERVIEW_COLUMNS[column]!.toLowerCase()}">${escapeHtml(cell)}</td>`);
      const plays = overview.casts.map((key) => `<a class="play" href="/play?key=${encodeURIComponent(key)}">${escapeHtml(key.slice(key.indexOf('/') + 1))}</a>`).join(' ');
      return `<tr class="recording">${cells.join('')}<td>${plays || '-'}</td></tr>`;
    })
    .join('\n');
  const query = options.search ? `&q=${encodeURIComponent(options.search)}` : '';
  const next = options.next ? `<a id="next" href="/?after=${encodeURIComponent(options.next)}${query}">Older recordings →</a>` : '';
  const first = options.after ? `<a id="first" href="/${options.search ? `?q=${encodeURIComponent(options.search)}` : ''}">← Newest</a> ` : '';
  const headings = [...OVERVIEW_COLUMNS.map((column) => column.toLowerCase()), 'terminals'].map((name) => `<th>${name}</th>`).join('');
  return `<!doctype html><html><head><meta charset="utf-8"><title>Portcullis recordings</title><style>${STYLE}</style></head>
<body><h1>Recordings</h1><p>Signed in as <b id="auditor">${escapeHtml(options.auditor)}</b>.</p>
<form method="get" action="/"><input id="search" name="q" type="search" placeholder="user, address, id or state" value="${escapeHtml(options.search ?? '')}" maxlength="200"> <button id="search-button" type="submit">Search</button></form>
<table><thead><tr>${headings}</tr></thead><tbody>
${rows || `<tr><td colspan="${OVERVIEW_COLUMNS.length + 1}">No recordings${options.search ? ' match' : ''}.</td></tr>`}
</tbody></table><p>${first}${next}</p></body></html>`;
}

/** One terminal recording in asciinema-player. */
export function playPage(key: string): string {
  const cast = `/cast?key=${encodeURIComponent(key)}`;
  return `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(key)}</title>
<link rel="stylesheet" href="/assets/asciinema-player.css"><style>${STYLE}</style></head>
<body><p><a href="/">← Recordings</a> <code>${escapeHtml(key)}</code></p>
<div id="player"></div>
<script src="/assets/asciinema-player.min.js"></script>
<script>window.player = AsciinemaPlayer.create(${JSON.stringify(cast)}, document.getElementById('player'), { autoPlay: true, idleTimeLimit: 1, fit: 'width' });</script>
</body></html>`;
}
