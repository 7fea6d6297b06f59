// The console in Debian's chromium, headless, driven by playwright-core
// (platform/console's lockfile). Run by test_console.py, which starts the
// platform and passes: URL, CA, ADMIN_PASS, VIEWER_PASS, SHOTS, CONSOLE_SRC, and the
// real sensor: SUPERVISOR (tapsense-supervisor), CONFIG (its configuration, with
// state_dir and one sniffing interface), STATE_DIR, SAMPLE (the capture the
// project makes, deploy/make-sample.py) and PACKETS (its packet count, capinfos),
// WORK (where each run's output goes).
// Exit 77: Chromium cannot start (the test skips); 1: a check failed.
import { createRequire } from 'node:module';
import { execFile } from 'node:child_process';
import { readFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

const env = process.env;
const require = createRequire(join(env.CONSOLE_SRC, 'package.json'));
const { chromium } = require('playwright-core');
mkdirSync(env.SHOTS, { recursive: true });

let browser;
try {
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
} catch (e) {
  console.error('chromium cannot start: ' + String(e.message).split('\n')[0]);
  process.exit(77);
}
const fail = (msg) => { throw new Error(msg); };
const check = (ok, msg) => { if (!ok) fail(msg); };
const cspViolations = [];

async function newPage() {
  const ctx = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1400, height: 900 } });
  const page = await ctx.newPage();
  page.on('dialog', (d) => d.accept());
  page.on('console', (m) => { if (/Content Security Policy|Refused to/.test(m.text())) cspViolations.push(m.text()); });
  page.on('pageerror', (e) => cspViolations.push('page error: ' + e.message));
  return page;
}
const shot = (page, name) => page.screenshot({ path: join(env.SHOTS, name + '.png'), fullPage: true });
async function login(page, name, pass) {
  await page.goto(env.URL + '/');
  await page.fill('input[name=name]', name);
  await page.fill('input[name=password]', pass);
  await page.click('button[type=submit]');
  await page.waitForSelector('header.top');
}
async function until(what, fn, ms = 20000) {
  const end = Date.now() + ms;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > end) fail('timed out waiting for ' + what);
    await new Promise((r) => setTimeout(r, 250));
  }
}
// The sensor's own record of what it applied (state_dir/platform/state, key = value lines).
function sensorState() {
  const f = join(env.STATE_DIR, 'platform', 'state');
  if (!existsSync(f)) return null;
  const st = {};
  for (const m of readFileSync(f, 'utf8').matchAll(/^(\w+) = (.*)$/gm)) st[m[1]] = m[2].replace(/^'(.*)'$/, '$1');
  return { applied: Number(st.config_revision), paused: st.paused === 'true', lastCommand: Number(st.last_command_id) };
}
// tapsense-supervisor with these arguments, asynchronously (the page keeps polling meanwhile).
function supervisor(args) {
  return new Promise((resolve) => {
    execFile(env.SUPERVISOR, args, { timeout: 240000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}
// One offline run of the registered sensor on the sample capture; its output directory.
// The runs that exited 0 (each one's flows acknowledged by the platform, which adds them up).
let runs = 0;
const reported = [];
async function runSensor(expect = 0) {
  const out = join(env.WORK, 'run-' + ++runs);
  const r = await supervisor(['--pcap', env.SAMPLE, '--output', out, '--config', env.CONFIG, '--quiet']);
  check(r.code === expect, `sensor run ${runs}: exit ${r.code} (expected ${expect}): ${r.stderr.trim()}`);
  if (r.code === 0) reported.push(out);
  return { out, ...r };
}
const readJson = (dir, name) => JSON.parse(readFileSync(join(dir, name), 'utf8'));

let page;
try {
  page = await newPage();
  // Log in: a wrong password says so; the right one opens Home.
  await page.goto(env.URL + '/');
  await shot(page, '01-login');
  await page.fill('input[name=name]', 'admin');
  await page.fill('input[name=password]', 'wrong-password');
  await page.click('button[type=submit]');
  await page.waitForSelector('.login .error-text');
  check((await page.textContent('.login .error-text')).includes('wrong user name or password'), 'login error not shown');
  await login(page, 'admin', env.ADMIN_PASS);
  await page.waitForSelector('[data-testid=active-assets]');
  console.log('ok: logged in as admin');

  // New Sensor wizard: the 14-digit code, then "Sensor not connected" until it registers.
  await page.click('a[href="/sensors"]');
  await page.click('text=New Sensor');
  await page.fill('input[name=sensor-name]', 'PS-AutoVirtual');
  await page.fill('input[name=sensor-location]', 'Pune');
  await page.click('text=Generate Code');
  const code = (await page.textContent('[data-testid=personalization-code]', { timeout: 10000 })).trim();
  check(/^[0-9]{14}$/.test(code), 'personalization code: ' + code);
  await shot(page, '02-new-sensor-code');
  await page.click('.dialog >> text=Next');
  await shot(page, '03-new-sensor-install');
  await page.click('.dialog >> text=Next');
  await page.fill('input[name=group-name]', '');
  await page.click('.dialog >> text=Finish');
  await page.waitForSelector('.dialog .error-text');
  check((await page.textContent('.dialog .error-text')).includes('name'), 'empty group name: no validation message');
  await page.fill('input[name=group-name]', 'Plant network');
  await page.click('.dialog >> text=Finish');
  await page.waitForSelector('[data-testid=connect-status]');
  check((await page.textContent('[data-testid=connect-status]')).includes('Sensor not connected'), 'not connected expected');
  await shot(page, '04-new-sensor-not-connected');
  console.log('ok: sensor created, code ' + code);

  // Register the real sensor with the code the wizard showed; the wizard updates by itself.
  const reg = await supervisor(['--register', code, '--platform', env.URL, '--ca', env.CA, '--config', env.CONFIG]);
  check(reg.code === 0 && reg.stdout.includes('Appliance registration completed successfully'),
    `register: exit ${reg.code}: ${reg.stdout} ${reg.stderr}`);
  await page.waitForSelector('[data-testid=connect-status]:has-text("Registered")', { timeout: 20000 });
  console.log('ok: tapsense-supervisor --register ' + code + ': ' + reg.stdout.split('\n')[0]);
  // An offline run on the sample capture: it checks in, reports and the wizard shows Sensing.
  const first = await runSensor();
  const assets = readJson(first.out, 'assets.json');
  check(assets.length >= 5, 'the sample gave only ' + assets.length + ' assets');
  await page.waitForSelector('[data-testid=connect-status]:has-text("Sensing")', { timeout: 30000 });
  await shot(page, '05-new-sensor-connected');
  check(sensorState().applied >= 1, 'the sensor did not apply the wizard\'s internal group: ' + JSON.stringify(sensorState()));
  await page.click('.dialog >> text=Close');
  const row = 'tr[data-sensor=PS-AutoVirtual]';
  await page.waitForSelector(`${row} .badge:has-text("Sensing")`, { timeout: 20000 });
  await shot(page, '06-sensors');
  console.log(`ok: the sensor ran the sample (${assets.length} assets) and shows Sensing`);

  // Pause and start from Quick Actions; the sensor obeys at its next check-in
  // (an offline run of a paused sensor stops at once and exits 88).
  for (const [action, status, paused, rc] of [['Pause', 'Paused', true, 88], ['Start Sensing', 'Sensing', false, 0]]) {
    await page.click(`${row} >> text=Quick Actions`);
    await page.click(`.menu-list >> text=${action}`);
    await page.waitForSelector('.notice.ok', { timeout: 5000 });
    const r = await runSensor(rc);
    if (paused) check(/paused/.test(r.stderr), 'paused run: ' + r.stderr);
    await page.waitForSelector(`${row} .badge:has-text("${status}")`, { timeout: 20000 });
    check(sensorState().paused === paused, `sensor state after ${action}: ${JSON.stringify(sensorState())}`);
    if (paused) await shot(page, '07-sensors-paused');
  }
  console.log('ok: pause (the sensor\'s run exits 88) and start');

  // Sensor details: one more run while the page is open draws the health charts.
  await page.click(`${row} >> text=Quick Actions`);
  await page.click('.menu-list >> text=View Details');
  await page.waitForSelector('text=Estimated maximum throughput');
  await page.waitForTimeout(1000);
  await runSensor();
  await page.waitForSelector('.charts2 .uplot', { timeout: 15000 });  // two check-ins seen: the health charts draw
  const packets = await page.textContent('.field:has(.label:text-is("Packets / drops")) .value');
  check(packets.trim() === `${env.PACKETS} / 0`, `packets / drops ${packets}, the capture has ${env.PACKETS}`);
  await shot(page, '08-sensor-summary');
  await page.click('.side >> text=Events');
  await page.waitForSelector('th:has-text("Timestamp range")');
  await shot(page, '10-sensor-events');
  await page.click('.side >> text=General Settings');
  await page.waitForSelector('pre.toml');
  await shot(page, '11-sensor-general');
  console.log('ok: sensor details, packets ' + packets.trim());

  // Configuration: change the internal group; the sensor applies the new revision.
  const before = sensorState().applied;
  await page.click('a[href="/configuration"]');
  await page.waitForSelector('tr[data-name="Plant network"]');
  await shot(page, '12-config-internal');
  await page.click('tr[data-name="Plant network"] >> text=Edit');
  await page.selectOption('select[name=range-source]', 'custom');
  await page.fill('textarea[name=ranges]', '192.168.10.0/33');
  await page.click('.editor >> text=Save');
  await page.waitForSelector('.editor [data-testid=validation]');
  check((await page.textContent('.editor [data-testid=validation]')).includes('192.168.10.0/33'), 'bad range: no message');
  await shot(page, '13-config-validation');
  await page.fill('textarea[name=ranges]', '192.168.10.0/24');
  await page.click('.editor >> text=Save');
  await page.waitForSelector('tr[data-name="Plant network"] td:has-text("192.168.10.0/24")');
  const applied = await runSensor();
  check(sensorState().applied > before, `the sensor did not apply the new revision: ${JSON.stringify(sensorState())}, before ${before}`);
  check(readFileSync(join(env.STATE_DIR, 'platform', 'config.toml'), 'utf8').includes('192.168.10.0/24'),
    'the applied configuration (state_dir/platform/config.toml) lacks the new range');
  check(readJson(applied.out, 'assets.json').every((a) => !a.ip || a.ip.startsWith('192.168.10.')),
    'an asset outside the new internal range is still inventoried');
  console.log('ok: internal group changed; the sensor applied revision ' + sensorState().applied);
  for (const tab of ['Excluded Assets', 'Monitor External Assets', 'General Settings']) {
    await page.click(`.tabs >> text=${tab}`);
    await page.waitForTimeout(400);
    await shot(page, '14-config-' + tab.split(' ')[0].toLowerCase());
  }
  await page.click('a[href="/sensors"]');
  await page.click(`${row} >> text=Quick Actions`);
  await page.click('.menu-list >> text=View Details');
  await page.waitForSelector(`text=applied ${sensorState().applied}`);
  console.log('ok: the sensor page says revision ' + sensorState().applied + ' applied');

  // The asset data below is that of the last run.
  const last = readJson(applied.out, 'assets.json');
  const traffic = readJson(applied.out, 'traffic.json');
  const flows = readJson(applied.out, 'flows.json');

  // Home with data: the inventory's assets, active ones counted against the wall clock.
  await page.click('a[href="/"]');
  await page.waitForSelector('.uplot');
  const week = Date.now() - 7 * 86400e3;
  const active = last.filter((a) => Date.parse(a.last_seen) >= week).length;
  check((await page.textContent('[data-testid=active-assets]')).trim() === String(active), 'home: active assets (expected ' + active + ')');
  await shot(page, '15-home');

  // Find an asset by host name (the one with the most traffic) and open its raw data.
  const withName = traffic.filter((a) => a.hostname).sort((x, y) => y.total - x.total);
  check(withName.length > 0, 'no asset with a host name in traffic.json');
  const target = withName[0];
  const record = last.find((a) => a.ip === target.ip && a.mac === target.mac);
  await page.click('a[href="/assets"]');
  await page.waitForSelector('table.assets');
  check((await page.textContent('.pager .count')).trim().endsWith('of ' + last.length), 'assets page total: ' + await page.textContent('.pager .count'));
  await shot(page, '16-assets');
  await page.fill('input[name=search]', target.hostname.slice(0, 6));
  await page.waitForSelector(`table.assets tbody tr:only-child >> text=${target.hostname}`);
  await page.click(`table.assets >> text=${target.hostname}`);
  await page.waitForSelector('h2:has-text("Raw discovery data")');
  await page.waitForSelector('table.traffic-summary');
  const evidence = await page.$$eval('table.evidence tbody tr', (rows) => rows.map((r) => [...r.cells].slice(0, 3).map((c) => c.textContent).join('|')));
  const want = record.evidence.map((e) => `${e.source}|${e.field}|${e.value}`);
  check(JSON.stringify([...evidence].sort()) === JSON.stringify([...want].sort()),
    `raw data: the page shows ${evidence.length} evidence rows, assets.json ${want.length}: ${evidence} vs ${want}`);

  // The traffic summary against the sensor's own traffic.json, row by row: per family
  // (nDPI's, as the Family column shows it), service (App/Service) and role
  // (client/server), ingress (bytes to the asset), egress, total and flows. Every run
  // that exited 0 sent its flows and the platform adds them up, so the page holds the
  // sum of those runs' traffic.json entries for this asset, its unassigned client's
  // flows (DHCP from 0.0.0.0, attributed by MAC) included.
  const rows = await page.$$eval('table.traffic-summary tbody tr', (trs) => trs.filter((r) => r.cells.length === 7).map((r) => ({
    family: r.cells[0].textContent, service: r.cells[1].textContent, role: r.cells[2].textContent.toLowerCase(),
    ingress: Number(r.cells[3].dataset.bytes), egress: Number(r.cells[4].dataset.bytes),
    total: Number(r.cells[5].dataset.bytes), flows: Number(r.cells[6].textContent) })));
  const byKey = (list) => {
    const out = {};
    for (const r of list) {
      const k = `${r.family}|${r.service}|${r.role}`;
      const s = out[k] || (out[k] = { ingress: 0, egress: 0, total: 0, flows: 0 });
      for (const f of Object.keys(s)) s[f] += r[f];
    }
    return Object.fromEntries(Object.entries(out).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)));
  };
  const runsTraffic = reported.map((dir) => readJson(dir, 'traffic.json').find((a) => a.ip === target.ip && a.mac === target.mac));
  check(runsTraffic.every(Boolean), `${target.hostname} is missing from a run's traffic.json`);
  const gotRows = byKey(rows);
  const wantRows = byKey(runsTraffic.flatMap((a) => a.traffic));
  check(JSON.stringify(gotRows) === JSON.stringify(wantRows),
    `traffic summary of ${target.hostname}: page ${JSON.stringify(gotRows)}, traffic.json of ${reported.length} runs ${JSON.stringify(wantRows)}`);
  // The device's DHCP before it had an address (flows.json src_class "unassigned",
  // src_mac = its MAC) is counted in those rows: named in the line below.
  const unassigned = reported.flatMap((dir) => readJson(dir, 'flows.json'))
    .filter((f) => f.src_class === 'unassigned' && f.src_mac === target.mac);
  const all = rows.reduce((n, r) => n + r.total, 0);
  const tjTotal = runsTraffic.reduce((n, a) => n + a.total, 0);
  check(all === tjTotal, `traffic total ${all} != traffic.json ${tjTotal}`);
  await page.waitForSelector('.uplot');
  await shot(page, '17-asset');
  console.log(`ok: found ${target.hostname}, ${evidence.length} evidence rows as in assets.json, traffic summary ` +
    `${rows.length} rows, ${all} bytes = traffic.json of ${reported.length} runs (${tjTotal}), ` +
    `${unassigned.length} unassigned (DHCP) client flows of its MAC included`);

  // Interface settings last (a pushed interface change restarts a live pipeline). An
  // offline run reports no sniffing interface, so the admin names one over the API
  // first (as a script would: the session's CSRF token); the page lists it "Not reported".
  const ifname = 'eth1';
  const sid = await page.evaluate(async ([name, ifn]) => {
    const me = await (await fetch('/api/v1/me')).json();
    const s = (await (await fetch('/api/v1/sensors')).json()).items.find((x) => x.name === name);
    const r = await fetch(`/api/v1/sensors/${s.id}/interfaces`, { method: 'PUT', headers: { 'Content-Type': 'application/json',
      'X-CSRF-Token': me.csrf_token }, body: JSON.stringify([{ name: ifn, mode: 'default' }]) });
    return r.ok ? s.id : -r.status;
  }, ['PS-AutoVirtual', ifname]);
  check(sid > 0, 'PUT interfaces answered ' + -sid);
  await page.click('a[href="/sensors"]');
  await page.click(`${row} >> text=Quick Actions`);
  await page.click('.menu-list >> text=View Details');
  await page.click('.side >> text=Interface Settings');
  await page.waitForSelector(`select[aria-label="Mode of ${ifname}"]`);
  await page.selectOption(`select[aria-label="Mode of ${ifname}"]`, 'erspan');
  await page.fill(`input[aria-label="ERSPAN address of ${ifname}"]`, '10.0.0.300');
  await page.click('button.primary:has-text("Update")');
  await page.waitForSelector('.panel .error-text li');
  check((await page.textContent('.panel .error-text')).includes('ERSPAN mode needs'), 'bad ERSPAN address: no message');
  await page.fill(`input[aria-label="ERSPAN address of ${ifname}"]`, '10.0.0.30');
  await page.click('button.primary:has-text("Update")');
  await page.waitForSelector('.notice.ok:has-text("Interface settings saved")');
  await shot(page, '09-sensor-interfaces');
  console.log('ok: interface settings with ERSPAN validation');

  // A viewer sees everything and changes nothing: buttons disabled, and the API refuses.
  const v = await newPage();
  await login(v, 'watcher', env.VIEWER_PASS);
  await v.click('a[href="/sensors"]');
  await v.waitForSelector('tr[data-sensor=PS-AutoVirtual]');
  check(await v.isDisabled('text=New Sensor'), 'viewer: New Sensor enabled');
  await shot(v, '18-viewer-sensors');
  const refused = await v.evaluate(async () => {
    const me = await (await fetch('/api/v1/me')).json();
    const r = await fetch('/api/v1/sensors', { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf_token },
      body: JSON.stringify({ name: 'viewer-made' }) });
    return { status: r.status, body: await r.json() };
  });
  check(refused.status === 403 && refused.body.detail.includes('viewer'), 'viewer change: ' + JSON.stringify(refused));
  console.log('ok: a viewer change is refused (403)');

  // Logout.
  await page.click('text=Log out');
  await page.waitForSelector('input[name=password]');
  check(cspViolations.length === 0, 'CSP violations or page errors: ' + cspViolations.join(' | '));
  console.log('ok: logged out; no CSP violation');
} catch (e) {
  console.error('FAILED: ' + e.message);
  process.exitCode = 1;
  if (page) await shot(page, 'zz-failed').catch(() => {});
} finally {
  await browser.close();
}
