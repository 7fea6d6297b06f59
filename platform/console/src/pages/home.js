// Home: active assets (7 days), new discoveries (24 hours), sensors by
// status, and discoveries over time.
import { html, useGet, Loading, Chart, StatusBadge } from '../ui.js';

const ORDER = ['Sensing', 'Registered', 'Paused', 'Not Connected', 'Unregistered', 'Deregistered'];

export function Home() {
  const s = useGet('/console/summary', 15000);
  return html`<h1>Home</h1>
  <${Loading} state=${s}>${s.data && html`
    <div class="cards">
      <a class="card" href="/assets"><div class="big" data-testid="active-assets">${s.data.active_assets_7d}</div><div>Active Assets (7 days)</div></a>
      <a class="card" href="/assets?sort=first_seen"><div class="big" data-testid="new-discoveries">${s.data.new_discoveries_24h}</div><div>New Discoveries (24 hours)</div></a>
      <a class="card" href="/assets"><div class="big">${s.data.assets_total}</div><div>Assets in the inventory</div></a>
      <a class="card" href="/sensors">
        <div class="card-title">Sensors by status</div>
        ${Object.keys(s.data.sensors_by_status).length === 0 && html`<p class="muted">No sensors yet: add one from Sensors › New Sensor.</p>`}
        <ul class="status-list">${ORDER.filter((k) => s.data.sensors_by_status[k]).map((k) =>
          html`<li><${StatusBadge} status=${k} /> <strong>${s.data.sensors_by_status[k]}</strong></li>`)}</ul>
      </a>
    </div>
    <div class="panel">
      <${Chart} title="Discoveries over time (assets by first sighting)" bars=${true}
        x=${s.data.discoveries.map((b) => b.t)}
        series=${[{ label: 'New assets', values: s.data.discoveries.map((b) => b.n), color: '#2f6fd6' }]} />
    </div>`}
  <//>`;
}
