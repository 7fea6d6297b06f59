// One asset: every field with its confidence, the raw discovery data
// (evidence with source, first and last seen), the traffic summary and flows
// as the guide shows them, and its traffic over time.
import { useState } from 'preact/hooks';
import { useRoute } from 'preact-iso';
import { html, useGet, Loading, Chart, Pager } from '../ui.js';
import { bytes, when, range } from '../format.js';

const FIELDS = [['ip', 'IP address'], ['mac', 'MAC address'], ['hostname', 'Host name'], ['vendor', 'Vendor'], ['os', 'Operating system'],
  ['os_family', 'OS family'], ['os_version', 'OS version'], ['device_type', 'Device type'], ['device_class', 'Device class'],
  ['model', 'Model'], ['firmware', 'Firmware'], ['network', 'Network']];

// The value of a field and its best confidence over the sensors' records.
function fieldOf(asset, f) {
  let value = asset[f] || '', conf = null;
  for (const d of asset.discovery) {
    const r = d.record || {};
    if (!value && r[f]) value = r[f];
    const c = r.confidence?.[f];
    if (c != null && (conf == null || c > conf)) conf = c;
  }
  return { value, conf };
}

function Traffic({ id }) {
  const [offset, setOffset] = useState(0);
  const t = useGet(`/console/assets/${id}/traffic?limit=25&offset=${offset}`);
  return html`<${Loading} state=${t}>${t.data && html`
    <h2>Traffic summary</h2>
    <table class="grid traffic-summary"><thead><tr><th>Family</th><th>App/Service</th><th>Client/Server</th>
      <th class="num">Ingress</th><th class="num">Egress</th><th class="num">Total</th><th class="num">Flows</th></tr></thead>
    <tbody>${t.data.summary.length === 0 && html`<tr><td colspan="7" class="muted">No flows reported for this asset.</td></tr>`}
    ${t.data.summary.map((r) => html`<tr><td>${r.family}</td><td>${r.application}</td><td>${r.role}</td>
      <td class="num" data-bytes=${r.ingress}>${bytes(r.ingress)}</td><td class="num" data-bytes=${r.egress}>${bytes(r.egress)}</td>
      <td class="num" data-bytes=${r.total}>${bytes(r.total)}</td><td class="num">${r.flows}</td></tr>`)}</tbody></table>
    <div class="panel"><${Chart} title="Traffic over time" x=${t.data.timeline.map((b) => b.t)} yFormat=${bytes}
      series=${[{ label: 'Ingress', values: t.data.timeline.map((b) => b.ingress), color: '#2f6fd6' },
        { label: 'Egress', values: t.data.timeline.map((b) => b.egress), color: '#d6842f' }]} /></div>
    <div class="toolbar"><h2 class="grow">Flows</h2><${Pager} offset=${offset} limit=${25} total=${t.data.flows_total} onChange=${setOffset} /></div>
    <table class="grid flows"><thead><tr><th>Timestamp</th><th>This asset</th><th>From/To</th><th>Protocol</th><th class="num">Port</th>
      <th>Application</th><th class="num">Ingress</th><th class="num">Egress</th><th class="num">Total</th></tr></thead>
    <tbody>${t.data.flows.map((f) => html`<tr><td>${when(f.start)}</td><td>${t.data.ip} (${f.role})</td><td>${f.peer}</td>
      <td>${f.protocol}</td><td class="num">${f.port}</td><td>${f.application || '–'}</td>
      <td class="num">${bytes(f.ingress)}</td><td class="num">${bytes(f.egress)}</td><td class="num">${bytes(f.total)}</td></tr>`)}</tbody></table>`}<//>`;
}

export function AssetPage() {
  const { params } = useRoute();
  const a = useGet(`/assets/${params.id}`);
  const asset = a.data;
  return html`<div class="crumbs"><a href="/assets">Assets</a> ›</div>
  <${Loading} state=${a}>${asset && html`
    <h1>${asset.hostname || asset.ip || asset.mac || `Asset ${asset.id}`}</h1>
    <div class="two-col">
      <section class="panel">
        <h2>Fields</h2>
        <table class="grid fields-table"><thead><tr><th>Field</th><th>Value</th><th class="num">Confidence</th></tr></thead>
        <tbody>${FIELDS.map(([f, label]) => { const v = fieldOf(asset, f); return html`<tr><td>${label}</td><td>${v.value || '–'}</td>
          <td class="num">${v.conf == null ? '–' : v.conf + '%'}</td></tr>`; })}
          <tr><td>Sensors</td><td>${asset.sensors.map((s) => s.name).join(', ')}</td><td></td></tr>
          <tr><td>First seen</td><td>${when(asset.first_seen)}</td><td></td></tr>
          <tr><td>Last seen</td><td>${when(asset.last_seen)}</td><td></td></tr></tbody></table>
      </section>
      <section class="panel">
        <h2>Services</h2>
        ${(() => { const svc = asset.discovery.flatMap((d) => d.record?.services || []);
          return svc.length ? html`<table class="grid"><thead><tr><th>Protocol</th><th class="num">Port</th><th>Service</th></tr></thead>
            <tbody>${svc.map((s) => html`<tr><td>${{ 6: 'tcp', 17: 'udp' }[s.protocol] || s.protocol}</td><td class="num">${s.port}</td><td>${s.service || '–'}</td></tr>`)}</tbody></table>`
            : html`<p class="muted">No services seen.</p>`; })()}
        <h2>Bytes</h2>
        <p>In ${bytes(asset.traffic.bytes_in)} · out ${bytes(asset.traffic.bytes_out)} · packets in ${asset.traffic.packets_in}, out ${asset.traffic.packets_out}</p>
      </section>
    </div>
    <section class="panel" id="raw">
      <h2>Raw discovery data</h2>
      ${asset.discovery.map((d) => html`<div class="discovery">
        <h3>From ${d.sensor_name} <span class="muted small">(key ${d.key}, updated ${when(d.updated)})</span></h3>
        <table class="grid evidence"><thead><tr><th>Source</th><th>Field</th><th>Value</th><th class="num">Confidence</th><th>First seen – last seen</th></tr></thead>
        <tbody>${(d.record?.evidence || []).length === 0 && html`<tr><td colspan="5" class="muted">No evidence recorded.</td></tr>`}
        ${(d.record?.evidence || []).map((e) => html`<tr><td>${e.source}</td><td>${e.field}</td><td class="mono">${e.value}</td>
          <td class="num">${e.confidence}%</td><td>${range(e.first_seen, e.last_seen)}</td></tr>`)}</tbody></table>
        <details><summary>The whole record as JSON</summary><pre class="json">${JSON.stringify(d.record, null, 2)}</pre></details>
      </div>`)}
    </section>
    <section class="panel"><${Traffic} id=${params.id} /></section>`}<//>`;
}
