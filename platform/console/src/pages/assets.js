// Assets: the de-duplicated inventory, paged, searched, sorted and filtered
// by the platform (/api/v1/console/assets), so it stays fast at 100,000.
import { useEffect, useState } from 'preact/hooks';
import { useRoute, useLocation } from 'preact-iso';
import { html, useGet, Loading, Pager } from '../ui.js';
import { when } from '../format.js';

const COLS = [['ip', 'IP'], ['mac', 'MAC'], ['hostname', 'Hostname'], ['vendor', 'Vendor'], ['os', 'OS'],
  ['device_type', 'Device type'], [null, 'Sensors'], ['first_seen', 'First seen'], ['last_seen', 'Last seen']];
const FILTERS = [['vendor', 'Vendor'], ['os', 'OS'], ['device_type', 'Device type'], ['network', 'Network']];

export function Assets() {
  const { query } = useRoute();
  const { route } = useLocation();
  const q = { sort: 'last_seen', dir: 'desc', offset: '0', q: '', ...query };
  const [text, setText] = useState(q.q);
  const set = (patch) => {
    const next = { ...q, offset: '0', ...patch };
    const qs = new URLSearchParams(Object.entries(next).filter(([, v]) => v !== '' && v != null)).toString();
    route('/assets?' + qs, true);
  };
  useEffect(() => {
    if (text === q.q) return undefined;
    const t = setTimeout(() => set({ q: text }), 300);
    return () => clearTimeout(t);
  }, [text]);
  const params = new URLSearchParams({ limit: '50', offset: q.offset, sort: q.sort, dir: q.dir });
  for (const k of ['q', 'vendor', 'os', 'device_type', 'network', 'sensor']) if (q[k]) params.set(k, q[k]);
  const page = useGet('/console/assets?' + params.toString());
  const facets = useGet('/console/asset-facets');
  const sensors = useGet('/sensors');
  const sortBy = (c) => set({ sort: c, dir: q.sort === c && q.dir === 'asc' ? 'desc' : 'asc' });
  return html`<h1>Assets</h1>
    <div class="toolbar filters">
      <input type="search" name="search" class="search" placeholder="Search IP, MAC, hostname, vendor, OS, device type"
        value=${text} onInput=${(e) => setText(e.target.value)} aria-label="Search assets" />
      ${FILTERS.map(([k, label]) => html`<select aria-label=${label} value=${q[k] || ''} onChange=${(e) => set({ [k]: e.target.value })}>
        <option value="">${label}: any</option>
        ${(facets.data?.[k] || []).map((f) => html`<option value=${f.value}>${f.value} (${f.count})</option>`)}</select>`)}
      <select aria-label="Sensor" value=${q.sensor || ''} onChange=${(e) => set({ sensor: e.target.value })}>
        <option value="">Sensor: any</option>${(sensors.data?.items || []).map((s) => html`<option value=${String(s.id)}>${s.name}</option>`)}</select>
      <span class="grow"></span>
      ${page.data && html`<${Pager} offset=${page.data.offset} limit=${page.data.limit} total=${page.data.total}
        onChange=${(o) => set({ offset: String(o) })} />`}
    </div>
    <${Loading} state=${page}>${page.data && html`<table class="grid assets">
      <thead><tr>${COLS.map(([c, label]) => (c ? html`<th><button class="sort" onClick=${() => sortBy(c)}
        aria-sort=${q.sort === c ? (q.dir === 'asc' ? 'ascending' : 'descending') : 'none'}>${label}${q.sort === c ? (q.dir === 'asc' ? ' ▲' : ' ▼') : ''}</button></th>`
        : html`<th>${label}</th>`))}</tr></thead>
      <tbody>${page.data.items.length === 0 && html`<tr><td colspan="9" class="muted">No asset matches.</td></tr>`}
      ${page.data.items.map((a) => html`<tr key=${a.id}>
        <td><a href=${`/assets/${a.id}`}>${a.ip || '(no IP)'}</a>${a.network ? html`<div class="sub">${a.network}</div>` : ''}</td>
        <td class="mono">${a.mac || '–'}</td><td><a href=${`/assets/${a.id}`}>${a.hostname || '–'}</a></td>
        <td>${a.vendor || '–'}</td><td>${a.os || '–'}</td><td>${a.device_type || '–'}${a.model ? html`<div class="sub">${a.model}</div>` : ''}</td>
        <td>${a.sensors.map((s) => s.name).join(', ')}</td><td>${when(a.first_seen)}</td><td>${when(a.last_seen)}</td>
      </tr>`)}</tbody></table>`}<//>`;
}
