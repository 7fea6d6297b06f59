// Numbers and times as the guide shows them.
const units = ['B', 'KB', 'MB', 'GB', 'TB'];
export function bytes(n) {
  if (n == null) return '–';
  let v = Number(n), i = 0;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return (i === 0 ? v.toFixed(0) : v.toFixed(2)) + ' ' + units[i];
}
export function gbps(bits) {
  if (bits == null) return null;
  const g = Number(bits) / 1e9;
  return (g >= 10 ? g.toFixed(0) : g.toFixed(1)) + ' Gbps';
}
export function pct(v) { return v == null ? '–' : Math.round(Number(v)) + '%'; }
const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const two = (x) => String(x).padStart(2, '0');
// ns since the epoch -> "Mar 02 2022 19:01" (local time)
export function when(ns) {
  if (!ns) return '–';
  const d = new Date(Number(ns) / 1e6);
  return `${months[d.getMonth()]} ${two(d.getDate())} ${d.getFullYear()} ${two(d.getHours())}:${two(d.getMinutes())}`;
}
export function ago(ns) {
  if (!ns) return 'never';
  const s = Math.max(0, Math.round((Date.now() - Number(ns) / 1e6) / 1000));
  if (s < 90) return s + ' s ago';
  if (s < 5400) return Math.round(s / 60) + ' min ago';
  if (s < 129600) return Math.round(s / 3600) + ' h ago';
  return Math.round(s / 86400) + ' days ago';
}
export function range(a, b) {
  if (!a) return '–';
  const x = when(a), y = when(b);
  return x === y || !b ? x : `${x} – ${y}`;
}
export function bps(bits) {
  const v = Number(bits || 0);
  if (v >= 1e9) return (v / 1e9).toFixed(1) + ' Gbps';
  if (v >= 1e6) return (v / 1e6).toFixed(1) + ' Mbps';
  if (v >= 1e3) return (v / 1e3).toFixed(1) + ' kbps';
  return v.toFixed(0) + ' bps';
}
