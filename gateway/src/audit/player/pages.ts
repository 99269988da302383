import type { RecordingPage } from '../recording-store.ts';

const escape = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const STYLE = `body{font-family:system-ui,sans-serif;margin:2rem;background:#fafafa;color:#222}
table{border-collapse:collapse}td,th{padding:.3rem .8rem;border-bottom:1px solid #ddd;text-align:left}
code{font-size:.9em}a{color:#0645ad}`;

function started(id: string): string {
  const match = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z/.exec(id);
  return match ? `${match[1]}-${match[2]}-${match[3]} ${match[4]}:${match[5]}:${match[6]} UTC` : id;
}

/** One page of recordings, newest first, with a link to each terminal and to the next page. */
export function listPage(page: RecordingPage, after: string | undefined): string {
  const rows = page.recordings
    .map((recording) => {
      const connection = recording.id.slice(recording.id.indexOf('-') + 1);
      const streams = recording.streams
        .map((key) => {
          const name = key.slice(key.indexOf('/') + 1);
          return name.endsWith('.cast') ? `<a class="play" href="/play?key=${encodeURIComponent(key)}">${escape(name)}</a>` : `<code>${escape(name)}</code>`;
        })
        .join(' ');
      return `<tr><td>${escape(started(recording.id))}</td><td><code>${escape(connection)}</code></td><td>${streams}</td></tr>`;
    })
    .join('\n');
  const next = page.next ? `<a id="next" href="/?after=${encodeURIComponent(page.next)}">Older recordings →</a>` : '';
  const first = after ? `<a id="first" href="/">← Newest</a> ` : '';
  return `<!doctype html><html><head><meta charset="utf-8"><title>Portcullis recordings</title><style>${STYLE}</style></head>
<body><h1>Recordings</h1>
<table><thead><tr><th>Started</th><th>Connection</th><th>Streams</th></tr></thead><tbody>
${rows || '<tr><td colspan="3">No recordings.</td></tr>'}
</tbody></table><p>${first}${next}</p></body></html>`;
}

/** One terminal recording in asciinema-player. */
export function playPage(key: string): string {
  const cast = `/cast?key=${encodeURIComponent(key)}`;
  return `<!doctype html><html><head><meta charset="utf-8"><title>${escape(key)}</title>
<link rel="stylesheet" href="/assets/asciinema-player.css"><style>${STYLE}</style></head>
<body><p><a href="/">← Recordings</a> <code>${escape(key)}</code></p>
<div id="player"></div>
<script src="/assets/asciinema-player.min.js"></script>
<script>window.player = AsciinemaPlayer.create(${JSON.stringify(cast)}, document.getElementById('player'), { autoPlay: true, idleTimeLimit: 1, fit: 'width' });</script>
</body></html>`;
}
