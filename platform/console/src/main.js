// The tapsense web console: a Preact app (htm templates, preact-iso router)
// over the platform's JSON API. Served by tapsense-platform at /.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { LocationProvider, Router, Route, useLocation } from 'preact-iso';
import './style.css';
import { api, setCsrf, onUnauthorized } from './api.js';
import { html, UserContext, Notices, notify, reportError } from './ui.js';
import { Home } from './pages/home.js';
import { Sensors } from './pages/sensors.js';
import { SensorDetails } from './pages/sensor.js';
import { Configuration } from './pages/config.js';
import { Assets } from './pages/assets.js';
import { AssetPage } from './pages/asset.js';

function Login({ onLogin }) {
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      const { data } = await api('POST', '/login', { name, password });
      setCsrf(data.csrf_token);
      onLogin(data);
    } catch (err) {
      setError(err.errors.join('; '));
    } finally {
      setBusy(false);
    }
  };
  return html`<main class="login">
    <form class="panel login-box" onSubmit=${submit}>
      <h1>tapsense</h1>
      <p class="muted">Passive network sensors: log in to the platform.</p>
      <label>User name<input name="name" autocomplete="username" value=${name} onInput=${(e) => setName(e.target.value)} required /></label>
      <label>Password<input name="password" type="password" autocomplete="current-password" value=${password}
        onInput=${(e) => setPassword(e.target.value)} required /></label>
      ${error && html`<p class="error-text" role="alert">${error}</p>`}
      <button class="btn primary" type="submit" disabled=${busy}>${busy ? 'Logging in…' : 'Log in'}</button>
    </form>
  </main>`;
}

function PageNotices() {
  const { url } = useLocation();
  return html`<${Notices} path=${url} />`;
}

function Nav({ user, onLogout }) {
  const { path } = useLocation();
  const links = [['/', 'Home'], ['/sensors', 'Sensors'], ['/configuration', 'Configuration'], ['/assets', 'Assets']];
  const active = (p) => (p === '/' ? path === '/' : path.startsWith(p));
  const logout = async () => {
    try {
      await api('POST', '/logout');
      onLogout();
    } catch (e) {
      reportError('Log out', e);
    }
  };
  return html`<header class="top">
    <span class="brand">tapsense</span>
    <nav class="main-nav">${links.map(([p, l]) => html`<a href=${p} class=${active(p) ? 'active' : ''}>${l}</a>`)}</nav>
    <span class="who">${user.name} <span class=${'badge ' + (user.role === 'admin' ? 'info' : 'muted')}>${user.role}</span></span>
    <button class="btn small" onClick=${logout}>Log out</button>
  </header>`;
}

function App() {
  const [user, setUser] = useState(undefined); // undefined: asking; null: logged out
  useEffect(() => {
    onUnauthorized(() => setUser(null));
    api('GET', '/me').then(({ data }) => { setCsrf(data.csrf_token); setUser(data); }, () => setUser(null));
  }, []);
  if (user === undefined) return html`<p class="muted pad">Loading…</p>`;
  if (user === null) {
    return html`<${Notices} /><${Login} onLogin=${(u) => setUser(u)} />`;
  }
  return html`<${UserContext.Provider} value=${user}>
    <${LocationProvider}>
      <${Nav} user=${user} onLogout=${() => { setCsrf(''); setUser(null); notify('ok', 'Logged out'); }} />
      <${PageNotices} />
      ${user.role !== 'admin' && html`<div class="viewer-note">You are logged in as a viewer: you see everything and change nothing.</div>`}
      <main class="content">
        <${Router}>
          <${Route} path="/" component=${Home} />
          <${Route} path="/sensors" component=${Sensors} />
          <${Route} path="/sensors/:id" component=${SensorDetails} />
          <${Route} path="/configuration" component=${Configuration} />
          <${Route} path="/assets" component=${Assets} />
          <${Route} path="/assets/:id" component=${AssetPage} />
          <${Route} default component=${() => html`<div class="panel">No such page. <a href="/">Home</a></div>`} />
        <//>
      </main>
    <//>
  <//>`;
}

render(html`<${App} />`, document.getElementById('app'));
