// Shared pieces: the user context, the result/error banner every action
// reports to, data loading, a pager for server-side lists, tabs, and a uPlot
// chart.
import { h, createContext } from 'preact';
import { useContext, useEffect, useRef, useState, useCallback } from 'preact/hooks';
import htm from 'htm';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { get } from './api.js';

export const html = htm.bind(h);

export const UserContext = createContext(null);
export const useUser = () => useContext(UserContext);
export const useIsAdmin = () => useUser()?.role === 'admin';
export const VIEWER_TITLE = 'Viewers see everything and change nothing';

// --- results and errors: one banner at the top of the page
let pushNotice = () => {};
export function notify(kind, text, errors) {
  pushNotice({ kind, text, errors: errors || [], id: Date.now() + Math.random(), at: Date.now() });
}
export function reportError(what, e) {
  notify('error', `${what} failed${e.status ? ` (${e.status})` : ''}`, e.errors || [String(e.message || e)]);
}
export function Notices({ path }) {
  const [list, setList] = useState([]);
  useEffect(() => setList((l) => l.filter((n) => Date.now() - n.at < 1500)), [path]); // a new page starts clean
  useEffect(() => {
    pushNotice = (n) => {
      // A success supersedes earlier errors; errors stay longer to be read.
      setList((l) => [...l.filter((x) => n.kind === 'error' || x.kind !== 'error').slice(-3), n]);
      setTimeout(() => setList((l) => l.filter((x) => x.id !== n.id)), n.kind === 'error' ? 20000 : 6000);
    };
  }, []);
  if (!list.length) return null;
  return html`<div class="notices">
    ${list.map((n) => html`<div class=${'notice ' + n.kind} role=${n.kind === 'error' ? 'alert' : 'status'} key=${n.id}>
      <button class="close" aria-label="Dismiss" onClick=${() => setList((l) => l.filter((x) => x.id !== n.id))}>×</button>
      <strong>${n.text}</strong>
      ${n.errors.length ? html`<ul>${n.errors.map((e) => html`<li>${e}</li>`)}</ul>` : null}
    </div>`)}
  </div>`;
}

// --- data: GET a path (re-fetched when it changes, or every `pollMs`)
export function useGet(path, pollMs) {
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const [n, setN] = useState(0);
  const reload = useCallback(() => setN((x) => x + 1), []);
  useEffect(() => {
    if (!path) return undefined;
    let live = true;
    get(path).then((data) => live && setState({ data, error: null, loading: false }),
      (error) => live && setState((s) => ({ data: s.data, error, loading: false })));
    let t;
    if (pollMs) t = setTimeout(reload, pollMs);
    return () => { live = false; clearTimeout(t); };
  }, [path, n]);
  return { ...state, reload };
}

export function Loading({ state, children }) {
  if (state.error && !state.data) {
    return html`<div class="panel error-box" role="alert">Could not load: ${state.error.errors?.join('; ') || String(state.error)}</div>`;
  }
  if (!state.data) return html`<div class="panel muted">Loading…</div>`;
  return children;
}

// --- an action button: disabled for viewers, reports its result or error
export function Action({ label, run, done, confirm: question, kind = '', disabled, title, ...rest }) {
  const admin = useIsAdmin();
  const [busy, setBusy] = useState(false);
  const click = async () => {
    if (question && !window.confirm(question)) return;
    setBusy(true);
    try {
      const r = await run();
      notify('ok', typeof done === 'function' ? done(r) : (done || `${label}: done`));
    } catch (e) {
      reportError(label, e);
    } finally {
      setBusy(false);
    }
  };
  return html`<button class=${'btn ' + kind} disabled=${!admin || busy || disabled}
    title=${admin ? title : VIEWER_TITLE} onClick=${click} ...${rest}>${busy ? label + '…' : label}</button>`;
}

export function StatusBadge({ status }) {
  const cls = { Sensing: 'good', Registered: 'info', Paused: 'warn', 'Not Connected': 'bad',
    Unregistered: 'muted', Deregistered: 'muted' }[status] || 'muted';
  return html`<span class=${'badge ' + cls}>${status}</span>`;
}

export function Pager({ offset, limit, total, onChange }) {
  const first = total === 0 ? 0 : offset + 1;
  const last = Math.min(offset + limit, total);
  return html`<div class="pager">
    <span class="count">${first} - ${last} of ${total}</span>
    <button class="btn small" aria-label="Previous page" disabled=${offset === 0}
      onClick=${() => onChange(Math.max(0, offset - limit))}>◀</button>
    <button class="btn small" aria-label="Next page" disabled=${last >= total}
      onClick=${() => onChange(offset + limit)}>▶</button>
  </div>`;
}

export function Tabs({ tabs, current, onSelect }) {
  return html`<nav class="tabs" role="tablist">
    ${tabs.map(([id, label]) => html`<button role="tab" aria-selected=${current === id}
      class=${current === id ? 'tab active' : 'tab'} onClick=${() => onSelect(id)}>${label}</button>`)}
  </nav>`;
}

// --- a uPlot chart. series: [{label, values, color}], x: times in ns.
export function Chart({ title, x, series, bars = false, height = 220, yFormat }) {
  const ref = useRef(null);
  useEffect(() => {
    if (!ref.current || !x.length) return undefined;
    const width = Math.max(320, ref.current.clientWidth || 600);
    const opts = {
      title, width, height,
      scales: { x: { time: true } },
      axes: [{ stroke: '#445' }, { stroke: '#445', size: 95, values: yFormat ? (u, v) => v.map(yFormat) : undefined }],
      series: [{}, ...series.map((s) => ({
        label: s.label, stroke: s.color, width: 2, fill: s.color + '33',
        paths: bars ? uPlot.paths.bars({ size: [0.8, 40] }) : undefined,
        value: yFormat ? (u, v) => (v == null ? '–' : yFormat(v)) : undefined,
      }))],
    };
    const data = [x.map((t) => Number(t) / 1e9), ...series.map((s) => s.values)];
    const plot = new uPlot(opts, data, ref.current);
    return () => plot.destroy();
  }, [JSON.stringify([x, series.map((s) => s.values), title])]);
  if (!x.length) return html`<div class="chart empty"><div class="chart-title">${title}</div><p class="muted">No data yet.</p></div>`;
  return html`<div class="chart" ref=${ref}></div>`;
}
