// Sensors: the guide's list (Step 5), Quick Actions per status (Manage
// Sensors) and the New Sensor wizard (Step 2) ending with the 14-digit code
// and "Sensor not connected" until the sensor registers.
import { useEffect, useState } from 'preact/hooks';
import { useLocation } from 'preact-iso';
import { api, get } from '../api.js';
import { html, useGet, Loading, StatusBadge, Action, notify, reportError, useIsAdmin, VIEWER_TITLE } from '../ui.js';
import { gbps, pct, ago } from '../format.js';
import { InternalGroupForm, saveInternalGroup } from './config.js';

export const COMMANDS = {
  start_sensing: 'Start Sensing', pause: 'Pause', reboot: 'Reboot', delete_assets: 'Delete Assets', deregister: 'Deregister',
};
// Which Quick Actions each status offers (the API refuses the others).
export function actionsFor(status) {
  switch (status) {
    case 'Unregistered': return ['deregister', 'delete_sensor'];
    case 'Deregistered': return ['new_code', 'delete_sensor'];
    case 'Sensing': return ['pause', 'reboot', 'delete_assets', 'deregister'];
    case 'Paused': return ['start_sensing', 'reboot', 'delete_assets', 'deregister'];
    default: return ['start_sensing', 'pause', 'reboot', 'delete_assets', 'deregister'];
  }
}

export function runAction(sensor, action) {
  if (action === 'delete_sensor') return api('DELETE', `/sensors/${sensor.id}`);
  if (action === 'new_code') return api('POST', `/sensors/${sensor.id}/code`);
  return api('POST', `/sensors/${sensor.id}/commands`, { command: action });
}
const LABELS = { ...COMMANDS, delete_sensor: 'Delete Sensor', new_code: 'New Code' };
const CONFIRM = {
  delete_assets: 'Delete every asset this sensor discovered?', deregister: 'Deregister this sensor? It must register again with a new code.',
  delete_sensor: 'Delete this sensor and its assets?', reboot: 'Reboot this sensor?',
};

function QuickActions({ sensor, onDone }) {
  const admin = useIsAdmin();
  const { route } = useLocation();
  const [open, setOpen] = useState(false);
  const act = async (a) => {
    setOpen(false);
    if (CONFIRM[a] && !window.confirm(`${sensor.name}: ${CONFIRM[a]}`)) return;
    try {
      const r = await runAction(sensor, a);
      notify('ok', a === 'new_code' ? `${sensor.name}: new personalization code ${r.data.personalization_code}`
        : `${sensor.name}: ${LABELS[a]} ${a === 'delete_sensor' ? 'done' : 'sent (the sensor applies it at its next check-in)'}`);
      onDone();
    } catch (e) {
      reportError(`${sensor.name}: ${LABELS[a]}`, e);
    }
  };
  return html`<div class="menu">
    <button class="btn small" aria-haspopup="true" aria-expanded=${open} onClick=${() => setOpen(!open)}>Quick Actions ▾</button>
    ${open && html`<div class="menu-list" role="menu">
      <button role="menuitem" onClick=${() => route(`/sensors/${sensor.id}`)}>View Details</button>
      ${actionsFor(sensor.status).map((a) => html`<button role="menuitem" disabled=${!admin}
        title=${admin ? '' : VIEWER_TITLE} onClick=${() => act(a)}>${LABELS[a]}</button>`)}
    </div>`}
  </div>`;
}

function utilisation(s) {
  const cap = gbps(s.link_capacity_bits_per_second);
  if (s.network_bits_per_second == null && !cap) return '–';
  return `${gbps(s.network_bits_per_second || 0)}/${cap || '?'}`;
}

// The wizard: name and location → code; installation; internal assets;
// then "Sensor not connected" until the sensor registers.
function NewSensorWizard({ onClose }) {
  const [step, setStep] = useState(1);
  const [name, setName] = useState('');
  const [location, setLocation] = useState('');
  const [sensor, setSensor] = useState(null);
  const [errors, setErrors] = useState([]);
  const [group, setGroup] = useState(null);
  const [live, setLive] = useState(null);
  const generate = async () => {
    setErrors([]);
    try {
      const { data } = await api('POST', '/sensors', { name, location });
      setSensor(data);
      notify('ok', `Sensor ${data.name} created: personalization code ${data.personalization_code}`);
    } catch (e) {
      setErrors(e.errors);
    }
  };
  const finish = async (skip) => {
    setErrors([]);
    if (!skip) {
      try {
        await saveInternalGroup(null, group);
        notify('ok', `Internal assets "${group.name}" saved for ${sensor.name}`);
      } catch (e) {
        setErrors(e.errors);
        return;
      }
    }
    setStep(4);
  };
  useEffect(() => {
    if (step !== 4 || !sensor) return undefined;
    let stop = false;
    const poll = async () => {
      try { setLive(await get(`/sensors/${sensor.id}`)); } catch { /* shown by the status line */ }
      if (!stop) t = setTimeout(poll, 2000);
    };
    let t = setTimeout(poll, 0);
    return () => { stop = true; clearTimeout(t); };
  }, [step, sensor]);
  const origin = window.location.origin;
  const connected = live && live.status !== 'Unregistered';
  return html`<div class="overlay" role="dialog" aria-modal="true" aria-labelledby="wizard-title">
    <div class="dialog">
      <h2 id="wizard-title">New Sensor</h2>
      <ol class="steps">${['Name and code', 'Installation', 'Internal assets', 'Connect'].map((l, i) =>
        html`<li class=${step === i + 1 ? 'current' : step > i + 1 ? 'done' : ''}>${l}</li>`)}</ol>
      ${step === 1 && html`<div>
        <label>Sensor name *<input name="sensor-name" value=${name} disabled=${!!sensor} onInput=${(e) => setName(e.target.value)} /></label>
        <label>Deploy location<input name="sensor-location" value=${location} disabled=${!!sensor} onInput=${(e) => setLocation(e.target.value)} /></label>
        ${!sensor && html`<button class="btn primary" onClick=${generate} disabled=${!name}>Generate Code</button>`}
        ${sensor && html`<div class="code-box">
          <div>Personalization code (single use; copy it and keep it handy):</div>
          <div class="code" data-testid="personalization-code">${sensor.personalization_code}</div>
          <div class="muted">Expires ${ago(sensor.code_expires).replace(' ago', '') === 'never' ? '' : new Date(sensor.code_expires / 1e6).toLocaleString()}</div>
        </div>`}
      </div>`}
      ${step === 2 && html`<div>
        <p>Install tapsense on the sensor host (deploy/install-deps.sh, then the build), then register it once with the code:</p>
        <pre class="cmd">tapsense-supervisor --register ${sensor.personalization_code} --platform ${origin} --ca ca.pem --config sensor.toml</pre>
        <p class="muted">ca.pem is the platform's CA certificate (in its data directory); the sensor pins it.</p>
      </div>`}
      ${step === 3 && html`<div>
        <p>Define the IP ranges within your network this sensor monitors. You can change them later under Configuration › Internal Assets.</p>
        <${InternalGroupForm} initial=${{ name: `${sensor.name} internal`, sensors: [sensor.id], inventory: true,
          default_ranges: true, ranges: [], ip_range_tags: [], type: 'dhcp' }} onChange=${setGroup} fixedSensor=${sensor} />
      </div>`}
      ${step === 4 && html`<div class="connect">
        ${connected
          ? html`<p class="big-status good" data-testid="connect-status">Sensor connected: <${StatusBadge} status=${live.status} /></p>`
          : html`<p class="big-status bad" data-testid="connect-status">Sensor not connected</p>
                 <p class="muted">This updates by itself when the sensor registers with code <strong>${sensor.personalization_code}</strong>.</p>`}
      </div>`}
      ${errors.length > 0 && html`<ul class="error-text" role="alert">${errors.map((e) => html`<li>${e}</li>`)}</ul>`}
      <div class="dialog-buttons">
        <button class="btn" onClick=${onClose}>${step === 4 ? 'Close' : 'Cancel'}</button>
        ${step > 1 && step < 4 && html`<button class="btn" onClick=${() => setStep(step - 1)}>Back</button>`}
        ${step < 3 && html`<button class="btn primary" disabled=${!sensor} onClick=${() => setStep(step + 1)}>Next</button>`}
        ${step === 3 && html`<button class="btn" onClick=${() => finish(true)}>Skip</button>
          <button class="btn primary" onClick=${() => finish(false)}>Finish</button>`}
      </div>
    </div>
  </div>`;
}

export function Sensors() {
  const s = useGet('/sensors', 5000);
  const [wizard, setWizard] = useState(false);
  const admin = useIsAdmin();
  const summary = useGet('/console/summary', 5000);
  const items = s.data ? s.data.items : [];
  return html`<h1>Sensors</h1>
    <div class="toolbar">
      <span>${summary.data ? html`<strong>${summary.data.active_assets_7d}</strong> Active Assets (7 days) · <strong>${summary.data.new_discoveries_24h}</strong> New Discoveries (24 hours)` : ''}</span>
      <span class="grow"></span>
      <span class="count">${items.length ? `1 - ${items.length} of ${items.length}` : ''}</span>
      <button class="btn primary" disabled=${!admin} title=${admin ? '' : VIEWER_TITLE} onClick=${() => setWizard(true)}>New Sensor</button>
    </div>
    <${Loading} state=${s}>
      <table class="grid sensors">
        <thead><tr><th>Sensor</th><th>Deploy location</th><th class="num">Active assets (1 hour)</th>
          <th>Network utilization</th><th class="num">CPU</th><th class="num">RAM</th><th class="num">HDD</th><th>Status</th><th></th></tr></thead>
        <tbody>${items.length === 0 && html`<tr><td colspan="9" class="muted">No sensors yet: click New Sensor.</td></tr>`}
        ${items.map((x) => html`<tr key=${x.id} data-sensor=${x.name}>
          <td><a href=${`/sensors/${x.id}`}><strong>${x.name}</strong></a><div class="sub">${x.version || ''}</div></td>
          <td>${x.location || '–'}<div class="sub">${(x.addresses || []).join(' / ')}</div><div class="sub">${(x.macs || []).join(' ')}</div></td>
          <td class="num">${x.active_assets_1h ?? 0}</td>
          <td>${utilisation(x)}</td>
          <td class="num">${pct(x.cpu_percent)}</td><td class="num">${pct(x.ram_percent)}</td><td class="num">${pct(x.disk_percent)}</td>
          <td><${StatusBadge} status=${x.status} />${x.config?.pending && x.status !== 'Unregistered' ? html`<div class="sub">configuration pending</div>` : ''}
            ${x.config?.error ? html`<div class="sub error-text">${x.config.error}</div>` : ''}
            <div class="sub">${x.last_checkin ? 'checked in ' + ago(x.last_checkin) : ''}</div></td>
          <td><${QuickActions} sensor=${x} onDone=${s.reload} /></td>
        </tr>`)}</tbody>
      </table>
      <p class="muted small">Statuses: Sensing, Paused, Registered (connected, not sensing yet), Not Connected (no check-in for ${s.data?.window?.not_connected_after_seconds ?? '?'} s), Unregistered (waiting for its code), Deregistered.</p>
    <//>
    ${wizard && html`<${NewSensorWizard} onClose=${() => { setWizard(false); s.reload(); }} />`}`;
}
