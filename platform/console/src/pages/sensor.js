// Sensor details: Summary, General Settings, Interface Settings (DEFAULT or
// ERSPAN with the interface's address) and Events.
import { useEffect, useRef, useState } from 'preact/hooks';
import { useRoute, useLocation } from 'preact-iso';
import { api } from '../api.js';
import { html, useGet, Loading, StatusBadge, Tabs, Action, Chart, Pager, useIsAdmin, notify, reportError, VIEWER_TITLE } from '../ui.js';
import { gbps, bps, pct, when, ago, range } from '../format.js';
import { actionsFor, runAction, COMMANDS } from './sensors.js';

function Field({ label, children }) {
  return html`<div class="field"><div class="label">${label}</div><div class="value">${children}</div></div>`;
}

// Health samples while this page is open (the platform keeps the latest
// check-in's health; the chart draws each new one as it arrives).
function useHealthHistory(sensor) {
  const hist = useRef([]);
  if (sensor && sensor.last_checkin && (!hist.current.length || hist.current[hist.current.length - 1].t !== sensor.last_checkin)) {
    hist.current = [...hist.current.slice(-119), { t: sensor.last_checkin, cpu: sensor.cpu_percent, ram: sensor.ram_percent,
      disk: sensor.disk_percent, net: sensor.network_bits_per_second }];
  }
  return hist.current;
}

function Summary({ sensor }) {
  const hist = useHealthHistory(sensor);
  const h = sensor.health || {};
  return html`<div class="fields">
      <${Field} label="Status"><${StatusBadge} status=${sensor.status} /><//>
      <${Field} label="Version">${sensor.version || '–'}<//>
      <${Field} label="Host name">${sensor.hostname || '–'}<//>
      <${Field} label="Addresses">${(sensor.addresses || []).join(', ') || '–'}<//>
      <${Field} label="MAC">${(sensor.macs || []).join(', ') || '–'}<//>
      <${Field} label="Estimated maximum throughput">${gbps(sensor.estimated_max_throughput_bps) || '–'}<//>
      <${Field} label="Network utilization">${sensor.network_bits_per_second == null ? '–' : bps(sensor.network_bits_per_second)} of ${gbps(sensor.link_capacity_bits_per_second) || '?'}<//>
      <${Field} label="CPU / RAM / HDD">${pct(sensor.cpu_percent)} / ${pct(sensor.ram_percent)} / ${pct(sensor.disk_percent)}<//>
      <${Field} label="Packets / drops">${h.packets ?? '–'} / ${h.drops ?? '–'}<//>
      <${Field} label="Active assets (1 hour)">${sensor.active_assets_1h ?? 0}<//>
      <${Field} label="Registered">${sensor.registered_at ? when(sensor.registered_at) : 'not yet'}<//>
      <${Field} label="Last check-in">${ago(sensor.last_checkin)}<//>
      <${Field} label="Configuration">revision ${sensor.config.revision}, applied ${sensor.config.applied_revision}${sensor.config.pending ? ' (pending)' : ''}
        ${sensor.config.error ? html`<div class="error-text">Rejected revision ${sensor.config.failed_revision}: ${sensor.config.error}</div>` : ''}<//>
    </div>
    ${hist.length < 2 ? html`<p class="muted">Health charts: waiting for a second check-in since this page opened…</p>` : html`<div class="charts2">
      <${Chart} title="CPU, RAM, HDD (%) — check-ins since this page opened" x=${hist.map((p) => p.t)} yFormat=${(v) => v.toFixed(0) + '%'}
        series=${[{ label: 'CPU', values: hist.map((p) => p.cpu), color: '#2f6fd6' }, { label: 'RAM', values: hist.map((p) => p.ram), color: '#d6842f' },
          { label: 'HDD', values: hist.map((p) => p.disk), color: '#5a9e3a' }]} />
      <${Chart} title="Network utilization (sniffed)" x=${hist.map((p) => p.t)} yFormat=${bps}
        series=${[{ label: 'bits/s', values: hist.map((p) => p.net), color: '#7a3fd6' }]} />
    </div>`}`;
}

function General({ sensor, reload }) {
  const cfg = useGet(`/sensors/${sensor.id}/config`);
  return html`<div class="fields">
      <${Field} label="Sensor name">${sensor.name}<//>
      <${Field} label="Deploy location">${sensor.location || '–'}<//>
      <${Field} label="Created">${when(sensor.created)}<//>
      ${sensor.personalization_code && html`<${Field} label="Personalization code"><span class="code">${sensor.personalization_code}</span><//>`}
    </div>
    ${(sensor.status === 'Unregistered' || sensor.status === 'Deregistered') && html`<${Action} label="New personalization code"
      run=${() => runAction(sensor, 'new_code')} done=${(r) => { reload(); return `New code: ${r.data.personalization_code}`; }} />`}
    <h3>Configuration the sensor runs</h3>
    <${Loading} state=${cfg}>${cfg.data && html`<p class="muted">Revision ${cfg.data.revision} (hash ${cfg.data.hash.slice(0, 12)})</p><pre class="toml">${cfg.data.toml}</pre>`}<//>`;
}

function Interfaces({ sensor, reload }) {
  const admin = useIsAdmin();
  const settings = useGet(`/sensors/${sensor.id}/interfaces`);
  const [rows, setRows] = useState(null);
  const [errors, setErrors] = useState([]);
  useEffect(() => {
    if (!settings.data) return;
    const byName = new Map(settings.data.map((s) => [s.name, s]));
    const names = [...new Set([...(sensor.interfaces || []).map((i) => i.name), ...settings.data.map((s) => s.name)])];
    setRows(names.map((n) => {
      const rep = (sensor.interfaces || []).find((i) => i.name === n) || {};
      const set = byName.get(n) || { mode: 'default', erspan_address: '' };
      return { name: n, reported: rep, mode: set.mode, erspan_address: set.erspan_address || '' };
    }));
  }, [settings.data, sensor.interfaces]);
  const update = (i, patch) => setRows(rows.map((r, j) => (j === i ? { ...r, ...patch } : r)));
  const save = async () => {
    if (!window.confirm('Saving interface settings makes the sensor restart its pipeline once to apply them. Continue?')) return;
    setErrors([]);
    try {
      await api('PUT', `/sensors/${sensor.id}/interfaces`, rows.map((r) => ({ name: r.name, mode: r.mode,
        ...(r.mode === 'erspan' ? { erspan_address: r.erspan_address } : {}) })));
      notify('ok', 'Interface settings saved: the sensor restarts its pipeline once to apply them');
      settings.reload();
      reload();
    } catch (e) {
      setErrors(e.errors);
      reportError('Update interface settings', e);
    }
  };
  return html`<${Loading} state=${settings}>${rows && html`
    <p class="muted">Each sniffing interface the sensor reports. DEFAULT takes mirrored traffic as it comes (SPAN, RSPAN);
      ERSPAN decapsulates GRE-mirrored traffic sent to the interface's own address.</p>
    <table class="grid">
      <thead><tr><th>Interface name</th><th>Port state</th><th>Link up</th><th>MAC</th><th class="num">Packets</th><th class="num">Drops</th><th>Mode</th><th>IP address (ERSPAN)</th></tr></thead>
      <tbody>${rows.length === 0 && html`<tr><td colspan="8" class="muted">The sensor has not reported its interfaces yet.</td></tr>`}
      ${rows.map((r, i) => html`<tr>
        <td>${r.name}</td><td>${r.reported.name ? 'Active' : 'Not reported'}</td>
        <td>${r.reported.name ? (r.reported.up ? 'Up' : 'Down') + (r.reported.link_mbps ? ` (${r.reported.link_mbps} Mbps)` : '') : '–'}</td>
        <td>${r.reported.mac || '–'}</td><td class="num">${r.reported.packets ?? '–'}</td><td class="num">${r.reported.drops ?? '–'}</td>
        <td><select aria-label=${'Mode of ' + r.name} disabled=${!admin} value=${r.mode} onChange=${(e) => update(i, { mode: e.target.value })}>
          <option value="default">DEFAULT</option><option value="erspan">ERSPAN</option></select></td>
        <td>${r.mode === 'erspan' ? html`<input aria-label=${'ERSPAN address of ' + r.name} placeholder="address, e.g. 10.1.2.3" disabled=${!admin}
            value=${r.erspan_address} onInput=${(e) => update(i, { erspan_address: e.target.value })} />` : 'DEFAULT'}</td>
      </tr>`)}</tbody>
    </table>
    ${errors.length > 0 && html`<ul class="error-text" role="alert">${errors.map((e) => html`<li>${e}</li>`)}</ul>`}
    <button class="btn primary" disabled=${!admin || rows.length === 0} title=${admin ? '' : VIEWER_TITLE} onClick=${save}>Update</button>
    <p class="muted small">Saving warns first: the sensor restarts its pipeline once to apply new interface settings.</p>`}<//>`;
}

function Events({ sensor }) {
  const [cursors, setCursors] = useState([0]);
  const cur = cursors[cursors.length - 1];
  const ev = useGet(`/sensors/${sensor.id}/events?limit=50&cursor=${cur}`, 10000);
  return html`<${Loading} state=${ev}>${ev.data && html`
    <div class="toolbar"><span class="grow"></span>
      <button class="btn small" disabled=${cursors.length === 1} onClick=${() => setCursors(cursors.slice(0, -1))}>◀</button>
      <button class="btn small" disabled=${!ev.data.next_cursor} onClick=${() => setCursors([...cursors, Number(ev.data.next_cursor)])}>▶</button></div>
    <table class="grid">
      <thead><tr><th>Events</th><th class="num">Count</th><th>Module</th><th>Type</th><th>Timestamp range</th><th>Message</th></tr></thead>
      <tbody>${ev.data.items.length === 0 && html`<tr><td colspan="6" class="muted">No events.</td></tr>`}
      ${ev.data.items.map((e) => html`<tr><td>${e.event}</td><td class="num">${e.count}</td><td>${e.module}</td><td>${e.type}</td>
        <td>${range(e.first_seen, e.last_seen)}</td><td>${e.message}</td></tr>`)}</tbody>
    </table>`}<//>`;
}

export function SensorDetails() {
  const { params, query } = useRoute();
  const { route } = useLocation();
  const tab = query.tab || 'summary';
  const s = useGet(`/sensors/${params.id}`, 5000);
  const sensor = s.data;
  return html`<div class="crumbs"><a href="/sensors">Sensors</a> ›</div>
  <${Loading} state=${s}>${sensor && html`
    <h1>Sensor Details: ${sensor.name} <${StatusBadge} status=${sensor.status} /></h1>
    <div class="toolbar">${actionsFor(sensor.status).filter((a) => COMMANDS[a]).map((a) => html`<${Action} label=${COMMANDS[a]}
      confirm=${a === 'deregister' || a === 'delete_assets' ? `${sensor.name}: ${COMMANDS[a]}?` : undefined}
      run=${() => runAction(sensor, a)} done=${() => { s.reload(); return `${sensor.name}: ${COMMANDS[a]} sent (applied at its next check-in)`; }} />`)}</div>
    <div class="side-layout">
      <nav class="side"><div class="label">VIEW MODE</div>
        ${[['summary', 'Summary'], ['general', 'General Settings'], ['interfaces', 'Interface Settings'], ['events', 'Events']].map(([id, l]) =>
          html`<a href=${`/sensors/${sensor.id}?tab=${id}`} class=${tab === id ? 'active' : ''}>${l}</a>`)}</nav>
      <section class="panel grow">
        ${tab === 'summary' && html`<${Summary} sensor=${sensor} />`}
        ${tab === 'general' && html`<${General} sensor=${sensor} reload=${s.reload} />`}
        ${tab === 'interfaces' && html`<${Interfaces} sensor=${sensor} reload=${s.reload} />`}
        ${tab === 'events' && html`<${Events} sensor=${sensor} />`}
      </section>
    </div>`}<//>`;
}
