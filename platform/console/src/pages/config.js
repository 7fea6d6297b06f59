// Configuration (the guide's "Configure Assets"): internal asset groups,
// excluded, monitored external, general settings. Each document is saved
// whole with If-Match, so two admins never overwrite each other unseen; the
// API's validation messages are shown as it gives them.
import { useEffect, useState } from 'preact/hooks';
import { useRoute, useLocation } from 'preact-iso';
import { api, get } from '../api.js';
import { html, useGet, Loading, Tabs, useIsAdmin, notify, reportError, VIEWER_TITLE } from '../ui.js';

const DEFAULT_RANGES = ['192.168.0.0/16', '172.16.0.0/12', '10.0.0.0/8'];
const lines = (s) => s.split(/[\n,]+/).map((x) => x.trim()).filter(Boolean);

async function putDoc(kind, mutate) {
  const { data, etag } = await api('GET', `/config/${kind}`);
  const next = mutate(structuredClone(data));
  return api('PUT', `/config/${kind}`, next, etag ? { 'If-Match': etag } : {});
}

// index null: append.
export function saveInternalGroup(index, group) {
  return putDoc('internal', (doc) => {
    if (index == null) doc.push(group); else doc[index] = group;
    return doc;
  });
}

function source(g) {
  if (g.default_ranges) return 'default';
  if ((g.ip_range_tags || []).length) return 'tags';
  return 'custom';
}

export function InternalGroupForm({ initial, onChange, fixedSensor }) {
  const sensors = useGet(fixedSensor ? null : '/sensors');
  const tags = useGet('/config/ip-range-tags');
  const [g, setG] = useState({ ...initial });
  const [src, setSrc] = useState(source(initial));
  const [rangesText, setRangesText] = useState((initial.ranges || []).join('\n'));
  useEffect(() => {
    onChange({
      name: g.name, sensors: g.sensors, inventory: g.inventory, type: g.type,
      default_ranges: src === 'default', ip_range_tags: src === 'tags' ? g.ip_range_tags : [],
      ranges: src === 'custom' ? lines(rangesText) : [], ...(g.network ? { network: g.network } : {}),
    });
  }, [g, src, rangesText]);
  const set = (patch) => setG({ ...g, ...patch });
  const toggle = (list, v) => (list.includes(v) ? list.filter((x) => x !== v) : [...list, v]);
  return html`<div class="form">
    <label>Name *<input name="group-name" value=${g.name} onInput=${(e) => set({ name: e.target.value })} /></label>
    <fieldset><legend>Include the following sensors</legend>
      ${fixedSensor ? html`<div>${fixedSensor.name}</div>` : html`<${Loading} state=${sensors}>${sensors.data && html`
        <div class="muted small">${g.sensors.length ? `${g.sensors.length} sensor(s) selected` : 'None selected: every sensor'}</div>
        ${sensors.data.items.map((s) => html`<label class="inline"><input type="checkbox" checked=${g.sensors.includes(s.id)}
          onChange=${() => set({ sensors: toggle(g.sensors, s.id) })} /> ${s.name}</label>`)}`}<//>`}
    </fieldset>
    <fieldset><legend>Do you want to inventory the assets?</legend>
      <label class="inline"><input type="radio" name="inventory" checked=${g.inventory} onChange=${() => set({ inventory: true })} /> Yes</label>
      <label class="inline"><input type="radio" name="inventory" checked=${!g.inventory} onChange=${() => set({ inventory: false })} /> No (monitor the traffic only)</label>
    </fieldset>
    <label>Internal asset IP range<select name="range-source" value=${src} onChange=${(e) => setSrc(e.target.value)}>
      <option value="default">Default IP Ranges</option><option value="tags">IP Range Tags</option><option value="custom">Custom IP Ranges</option></select></label>
    ${src === 'default' && html`<ul class="ranges">${DEFAULT_RANGES.map((r) => html`<li>☒ ${r}</li>`)}</ul>`}
    ${src === 'tags' && html`<${Loading} state=${tags}>${tags.data && (tags.data.length === 0 ? html`<p class="muted">No IP-range tags defined.</p>`
      : tags.data.map((t) => html`<label class="inline"><input type="checkbox" checked=${(g.ip_range_tags || []).includes(t.name)}
          onChange=${() => set({ ip_range_tags: toggle(g.ip_range_tags || [], t.name) })} /> ${t.name} (${t.ranges.length} ranges)</label>`))}<//>`}
    ${src === 'custom' && html`<label>IP ranges * (one per line: CIDR or first-last)
      <textarea name="ranges" rows="4" value=${rangesText} onInput=${(e) => setRangesText(e.target.value)}></textarea></label>`}
    <label>Type<select name="type" value=${g.type} onChange=${(e) => set({ type: e.target.value })}>
      <option value="dhcp">DHCP</option><option value="static">Static</option></select></label>
  </div>`;
}

function Errors({ list }) {
  return list.length ? html`<ul class="error-text" role="alert" data-testid="validation">${list.map((e) => html`<li>${e}</li>`)}</ul>` : null;
}

function Editor({ title, children, onSave, onCancel, errors }) {
  const admin = useIsAdmin();
  return html`<div class="panel editor"><h2>${title}</h2>${children}<${Errors} list=${errors} />
    <div class="dialog-buttons"><button class="btn" onClick=${onCancel}>Cancel</button>
    <button class="btn primary" disabled=${!admin} title=${admin ? '' : VIEWER_TITLE} onClick=${onSave}>Save</button></div></div>`;
}

// A list document (internal, excluded, monitored): table, add, edit, delete.
function ListDoc({ kind, columns, rows, blank, Form, explain }) {
  const admin = useIsAdmin();
  const doc = useGet(`/config/${kind}`);
  const sensors = useGet('/sensors');
  const [editing, setEditing] = useState(null); // {index, value}
  const [draft, setDraft] = useState(null);
  const [errors, setErrors] = useState([]);
  const save = async () => {
    setErrors([]);
    try {
      await putDoc(kind, (d) => { if (editing.index == null) d.push(draft); else d[editing.index] = draft; return d; });
      notify('ok', `Saved "${draft.name}": the sensors it concerns get the new configuration at their next check-in`);
      setEditing(null);
      doc.reload();
    } catch (e) {
      setErrors(e.errors);
      reportError('Save', e);
    }
  };
  const remove = async (i) => {
    const name = doc.data[i].name;
    if (!window.confirm(`Delete "${name}"?`)) return;
    try {
      await putDoc(kind, (d) => { d.splice(i, 1); return d; });
      notify('ok', `Deleted "${name}"`);
      doc.reload();
    } catch (e) {
      reportError('Delete', e);
    }
  };
  const names = new Map((sensors.data?.items || []).map((s) => [s.id, s.name]));
  if (editing) {
    return html`<${Editor} title=${editing.index == null ? 'Add' : `Edit ${editing.value.name}`} errors=${errors}
      onSave=${save} onCancel=${() => { setEditing(null); setErrors([]); }}>
      <${Form} initial=${editing.value} onChange=${setDraft} /><//>`;
  }
  return html`<p class="muted">${explain}</p>
    <div class="toolbar"><span class="grow"></span>
      <span class="count">${doc.data ? `${doc.data.length} defined` : ''}</span>
      <button class="btn primary" disabled=${!admin} title=${admin ? '' : VIEWER_TITLE}
        onClick=${() => { setErrors([]); setEditing({ index: null, value: structuredClone(blank) }); }}>Add</button></div>
    <${Loading} state=${doc}>${doc.data && html`<table class="grid">
      <thead><tr>${columns.map((c) => html`<th>${c}</th>`)}<th></th></tr></thead>
      <tbody>${doc.data.length === 0 && html`<tr><td colspan=${columns.length + 1} class="muted">Nothing defined.</td></tr>`}
      ${doc.data.flatMap((item, i) => rows(item, names).map((cells, j) => html`<tr data-name=${item.name}>
        ${cells.map((c) => html`<td>${c}</td>`)}
        <td>${j === 0 && html`<button class="btn small" disabled=${!admin} title=${admin ? '' : VIEWER_TITLE}
            onClick=${() => { setErrors([]); setEditing({ index: i, value: structuredClone(item) }); }}>Edit</button>
          <button class="btn small danger" disabled=${!admin} title=${admin ? '' : VIEWER_TITLE} onClick=${() => remove(i)}>Delete</button>`}</td>
      </tr>`))}</tbody></table>`}<//>`;
}

function rangesOf(g) {
  if (g.default_ranges) return 'Default: ' + DEFAULT_RANGES.join(', ');
  if ((g.ip_range_tags || []).length) return 'Tags: ' + g.ip_range_tags.join(', ');
  return (g.ranges || []).join(', ');
}

function SimpleForm({ initial, onChange, fields }) {
  const [v, setV] = useState(Object.fromEntries(fields.map(([k]) => [k, (initial[k] || []).join('\n')])));
  const [name, setName] = useState(initial.name || '');
  useEffect(() => onChange({ name, ...Object.fromEntries(fields.map(([k]) => [k, lines(v[k])])) }), [v, name]);
  return html`<div class="form"><label>Name *<input name="name" value=${name} onInput=${(e) => setName(e.target.value)} /></label>
    ${fields.map(([k, label]) => html`<label>${label}<textarea name=${k} rows="3" value=${v[k]}
      onInput=${(e) => setV({ ...v, [k]: e.target.value })}></textarea></label>`)}</div>`;
}

const ExcludedForm = (p) => html`<${SimpleForm} ...${p} fields=${[['ranges', 'IP ranges (one per line)'], ['macs', 'MAC addresses (one per line)']]} />`;
const MonitoredForm = (p) => html`<${SimpleForm} ...${p} fields=${[['addresses', 'IP addresses (one per line)'], ['domains', 'Domain names (one per line)']]} />`;

function General() {
  const admin = useIsAdmin();
  const doc = useGet('/config/general');
  const [v, setV] = useState(null);
  const [errors, setErrors] = useState([]);
  useEffect(() => {
    if (doc.data) setV({ consent: doc.data.fingerprint_data_consent, emails: doc.data.email_recipients.join(', '), hosts: doc.data.hostname_exclusions.join('\n') });
  }, [doc.data]);
  const save = async () => {
    setErrors([]);
    try {
      await putDoc('general', () => ({ fingerprint_data_consent: v.consent, email_recipients: lines(v.emails), hostname_exclusions: lines(v.hosts) }));
      notify('ok', 'General settings saved');
      doc.reload();
    } catch (e) {
      setErrors(e.errors);
      reportError('Save general settings', e);
    }
  };
  return html`<${Loading} state=${doc}>${v && html`<div class="panel form">
    <h2>General Configuration</h2>
    <label class="inline"><input type="checkbox" name="consent" disabled=${!admin} checked=${v.consent} onChange=${(e) => setV({ ...v, consent: e.target.checked })} />
      Access to Fingerprint Data (consent to use assets' metadata to improve OS and device predictions)</label>
    <label>Mail ID recipients (separate e-mails with commas)<input name="emails" disabled=${!admin} value=${v.emails} onInput=${(e) => setV({ ...v, emails: e.target.value })} /></label>
    <label>Hostname exclusions (never merge assets on these host names; one per line)
      <textarea name="hostnames" rows="3" disabled=${!admin} value=${v.hosts} onInput=${(e) => setV({ ...v, hosts: e.target.value })}></textarea></label>
    <${Errors} list=${errors} />
    <button class="btn primary" disabled=${!admin} title=${admin ? '' : VIEWER_TITLE} onClick=${save}>Save</button>
  </div>`}<//>`;
}

const TABS = [['internal', 'Internal Assets'], ['excluded', 'Excluded Assets'], ['monitored', 'Monitor External Assets'], ['general', 'General Settings']];

export function Configuration() {
  const { query } = useRoute();
  const { route } = useLocation();
  const tab = query.tab || 'internal';
  return html`<h1>Configuration</h1>
    <${Tabs} tabs=${TABS} current=${tab} onSelect=${(t) => route(`/configuration?tab=${t}`)} />
    <section class="panel">
    ${tab === 'internal' && html`<${ListDoc} key="internal" kind="internal" columns=${['Name', 'IP range', 'Sensor', 'Type', 'Inventoried']}
      explain="The IP ranges within your network each sensor monitors: their assets are tracked for traffic analysis, and inventoried when Inventoried is Yes."
      blank=${{ name: '', sensors: [], inventory: true, default_ranges: false, ranges: [], ip_range_tags: [], type: 'dhcp' }}
      rows=${(g, names) => (g.sensors.length ? g.sensors : [0]).map((sid) => [g.name, rangesOf(g), sid ? names.get(sid) || `#${sid}` : 'All sensors',
        g.type === 'static' ? 'Static' : 'DHCP', g.inventory ? 'Yes' : 'No'])}
      Form=${InternalGroupForm} />`}
    ${tab === 'excluded' && html`<${ListDoc} key="excluded" kind="excluded" columns=${['Name', 'Details']}
      explain='IP ranges or MAC addresses to keep out of the inventory: their assets show as "Excluded" in traffic summaries.'
      blank=${{ name: '', ranges: [], macs: [] }} rows=${(g) => [[g.name, [...(g.ranges || []), ...(g.macs || [])].join(', ')]]} Form=${ExcludedForm} />`}
    ${tab === 'monitored' && html`<${ListDoc} key="monitored" kind="monitored" columns=${['Name', 'Details']}
      explain="External sites reported individually in traffic summaries, by IP address or domain name; they are not inventoried."
      blank=${{ name: '', addresses: [], domains: [] }} rows=${(g) => [[g.name, [...(g.addresses || []), ...(g.domains || [])].join(', ')]]} Form=${MonitoredForm} />`}
    ${tab === 'general' && html`<${General} />`}
    </section>`;
}
