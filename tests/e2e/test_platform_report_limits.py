"""What the platform's front says about reports, and what the sensor does:
a front of this test (HTTPS with the platform's own certificate, so the
sensor's pinned CA accepts it) passes every call on to the real platform,
except that it answers 413 to a report body (inflated) larger than a limit,
and 503 with Retry-After to the first report. The sensor must:
- send report bodies gzip-compressed (Content-Encoding: gzip, a valid gzip
  member holding the packed report);
- wait at least about the Retry-After it was given (with jitter: from half of it)
  before the next try, where its own back-off would be 1 s;
- cut a report refused with 413 in two, again until the parts fit, and
  deliver them all: the platform's assets equal assets.json, its flow rows
  equal the flow records of the run's reports, and nothing is dropped."""
import gzip
import http.server
import os
import re
import sqlite3
import ssl
import sys
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tapsense_test as t
from sensor_platform import PLATFORM, Platform, canonical, supervisor

LIMIT = 8000          # bytes of packed report the front accepts
RETRY_AFTER = 6       # seconds, with the first report's 503


class Front(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, plat):
        super().__init__(("127.0.0.1", 0), Handler)
        self.plat = plat
        self.url = "https://127.0.0.1:%d" % self.server_address[1]
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(plat.data, "server.pem"), os.path.join(plat.data, "server.key"))
        self.socket = ctx.wrap_socket(self.socket, server_side=True)
        self.log = []          # (time, path, status, encoding, inflated bytes)
        self.busy_once = True
        threading.Thread(target=self.serve_forever, daemon=True).start()


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def answer(self, status, body, ctype="text/plain", extra=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        f = self.server
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        enc = self.headers.get("Content-Encoding", "")
        plain = gzip.decompress(body) if enc == "gzip" else body
        report = self.path == "/sensor/v1/reports"
        if report and f.busy_once:
            f.busy_once = False
            f.log.append((time.time(), self.path, 503, enc, len(plain)))
            return self.answer(503, b"busy\n", extra=[("Retry-After", str(RETRY_AFTER))])
        if report and len(plain) > LIMIT:
            f.log.append((time.time(), self.path, 413, enc, len(plain)))
            return self.answer(413, b"report too large\n")
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() in ("authorization", "content-type", "content-encoding")}
        req = urllib.request.Request(f.plat.url + self.path, data=body, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(req, context=f.plat.ctx, timeout=30) as r:
                status, data, ctype = r.status, r.read(), r.headers.get("Content-Type", "")
        except urllib.error.HTTPError as e:
            status, data, ctype = e.code, e.read(), e.headers.get("Content-Type", "")
        f.log.append((time.time(), self.path, status, enc, len(plain)))
        self.answer(status, data, ctype)


SPOOLED = re.compile(r"report (\d+) spooled: (?:full, )?(\d+) assets, (\d+) removed, (\d+) flows")


def run():
    if not os.access(PLATFORM, os.X_OK):
        t.skip("tapsense-platform is not built")
    work = t.tmpdir()
    sample, _ = t.sample_capture(work, 1)
    state = os.path.join(work, "state")
    config = t.write_config(work, '[sensor]\nname = "limits-1"\nstate_dir = "%s"\n' % state)
    plat = Platform(work, poll_seconds=600)
    front = Front(plat)
    try:
        created = plat.api("POST", "/api/v1/sensors", {"name": "limits-1", "location": "lab"})
        sid = created["id"]
        p = supervisor("--register", created["personalization_code"], "--platform", front.url, "--ca", plat.ca,
                       "--config", config)
        t.check(p.returncode == 0, "register through the front: %d %s" % (p.returncode, p.stderr))
        out = os.path.join(work, "out")
        assets, _, _ = t.run_sensor(sample, out, config=config)
        reports = [e for e in front.log if e[1] == "/sensor/v1/reports"]
        t.check(reports and all(e[3] == "gzip" for e in reports), "report bodies not gzip: %s" % reports)
        # Retry-After honoured.
        t.check(reports[0][2] == 503, "the first report was not the one answered 503: %s" % reports[:2])
        gap = reports[1][0] - reports[0][0]
        t.check(gap >= RETRY_AFTER / 2 - 0.2, "next try %.1f s after a 503 with Retry-After %d" % (gap, RETRY_AFTER))
        # 413: cut until it fits.
        refused = [e for e in reports if e[2] == 413]
        t.check(refused, "no report was larger than %d bytes: %s" % (LIMIT, reports))
        with open(os.path.join(out, "tapsense.log")) as f:
            log = f.read()
        t.check(len(re.findall(r"too large for the platform .*cut in two", log)) == len(refused),
                "the log does not show each 413 cut in two")
        t.check("not divisible" not in log, "a report was dropped")
        t.check(all(e[4] <= LIMIT for e in reports if e[2] == 200), "a report over the limit was accepted")
        t.check(canonical(plat.assets(sid)) == canonical(assets), "platform assets differ from assets.json after 413s")
        con = sqlite3.connect("file:%s?mode=ro" % os.path.join(plat.data, "platform.db"), uri=True, timeout=10)
        flows = con.execute("SELECT COUNT(*) FROM flows WHERE sensor_id = ?", (sid,)).fetchone()[0]
        stored = con.execute("SELECT COUNT(*) FROM reports WHERE sensor_id = ?", (sid,)).fetchone()[0]
        con.close()
        reported = sum(int(m.group(4)) for m in SPOOLED.finditer(log))
        t.check(flows == reported, "%d flow rows on the platform, %d flow records reported" % (flows, reported))
        spool = os.path.join(state, "platform", "spool")
        t.check(not [x for x in os.listdir(spool) if x.endswith(".report")] and
                not os.path.exists(os.path.join(spool, "dropped")), "spool after the run: %s" % os.listdir(spool))
        print("report limits: bodies gzip; next try %.1f s after Retry-After %d; %d report(s) refused with 413 cut "
              "until they fit (%d stored); %d assets and %d flows equal" %
              (gap, RETRY_AFTER, len(refused), stored, len(assets), flows))
    finally:
        front.shutdown()
        plat.stop()
        plat.log.close()


t.main(run)
