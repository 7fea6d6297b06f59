"""A day without the platform, compressed in time, and kill -9 on either side.

1. Outage: the platform is stopped while the sensor runs (three runs of the
   sample, each exiting 87 with its reports kept in the spool); the platform
   comes back and the next run delivers every kept report once, oldest first
   (the platform's reports table, in arrival order), before its own; nothing
   is dropped (no spool/dropped).
2. The platform killed -9 in the middle of a report: a CONNECT relay of this
   test (the sensor's [uplink] proxy) holds the platform's answer to the
   first report of the spool (the platform has stored it, the sensor does not
   know); the platform is killed -9 and restarted; the sensor sends it again
   and the platform acknowledges it as a duplicate: stored once.
3. The sensor killed -9 in the middle of sending (the same held answer): the
   next run sends the spool again; stored once.
After each: the platform's assets equal the sensor's assets.json, every
report id the sensor spooled (its logs) is on the platform exactly once, and
the platform's flow rows equal the flow records of those reports (a report
stored twice would double them)."""
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tapsense_test as t
from sensor_platform import PLATFORM, Platform, canonical, one_line, supervisor, wait_for, UNACKED


class Relay:
    """An HTTP CONNECT proxy (the sensor's [uplink] proxy) that holds the
    platform's answer on the tunnels from `hold_from` on: the platform has
    done the work, the sensor never hears of it."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = "http://127.0.0.1:%d" % self.sock.getsockname()[1]
        self.hold_from = 1 << 30  # tunnels from this one on (1-based) have their answer held
        self.held = threading.Event()
        self.tunnels = 0
        self.conns = []
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.one, args=(c,), daemon=True).start()

    def one(self, c):
        up = None
        try:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = c.recv(4096)
                if not chunk:
                    return
                head += chunk
            host, port = head.split(b" ")[1].decode().rsplit(":", 1)
            up = socket.create_connection((host, int(port)), timeout=30)
            c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self.tunnels += 1
            self.conns += [c, up]
            hold = self.tunnels >= self.hold_from
            # Client to platform, as is.
            threading.Thread(target=self.pump, args=(c, up, False), daemon=True).start()
            self.pump(up, c, hold)
        except OSError:
            pass

    def pump(self, src, dst, hold):
        # Record by record, so that the platform's answer can be told from
        # what TLS 1.3 sends before it as application data records: the
        # encrypted handshake (EncryptedExtensions, Certificate,
        # CertificateVerify, Finished) and OpenSSL's two session tickets. The
        # seventh is the answer (checked below: the report is then stored by
        # the platform and still in the sensor's spool).
        buf = b""
        app_records = 0
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if not hold:
                    dst.sendall(data)
                    continue
                buf += data
                while len(buf) >= 5 and len(buf) >= 5 + int.from_bytes(buf[3:5], "big"):
                    n = 5 + int.from_bytes(buf[3:5], "big")
                    record, buf = buf[:n], buf[n:]
                    if record[0] == 23:
                        app_records += 1
                        if app_records >= 7:
                            self.held.set()
                            while True:
                                time.sleep(1)
                    dst.sendall(record)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self):
        """Drops every open tunnel (what a dead peer looks like)."""
        for s in self.conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass
        self.conns = []
        self.hold_from = 1 << 30

    def stop(self):
        self.cut()
        self.sock.close()


def db_reports(plat, sid):
    con = sqlite3.connect("file:%s?mode=ro" % os.path.join(plat.data, "platform.db"), uri=True, timeout=10)
    try:
        rows = [r[0] for r in con.execute("SELECT report_id FROM reports WHERE sensor_id = ? ORDER BY rowid", (sid,))]
        flows = con.execute("SELECT COUNT(*) FROM flows WHERE sensor_id = ?", (sid,)).fetchone()[0]
    finally:
        con.close()
    return rows, flows


SPOOLED = re.compile(r"report (\d+) spooled: (?:full, )?(\d+) assets, (\d+) removed, (\d+) flows")


def spooled(outs):
    """report id -> flow records, from every run's log."""
    ids = {}
    for out in outs:
        log = os.path.join(out, "tapsense.log")
        if os.path.exists(log):
            with open(log) as f:
                for m in SPOOLED.finditer(f.read()):
                    ids[int(m.group(1))] = int(m.group(4))
    return ids


def spool_ids(state):
    d = os.path.join(state, "platform", "spool")
    return sorted(int(f.split(".")[0]) for f in os.listdir(d) if f.endswith(".report"))


def run():
    if not os.access(PLATFORM, os.X_OK):
        t.skip("tapsense-platform is not built")
    work = t.tmpdir()
    sample, _ = t.sample_capture(work, 1)
    state = os.path.join(work, "state")
    direct = t.write_config(work, '[sensor]\nname = "away-1"\nstate_dir = "%s"\n' % state)
    relay = Relay()
    rdir = os.path.join(work, "relayed")
    os.makedirs(rdir)
    relayed = t.write_config(rdir, '[sensor]\nname = "away-1"\nstate_dir = "%s"\n[uplink]\nproxy = "%s"\n' %
                             (state, relay.url))
    plat = Platform(work, poll_seconds=600)  # check-ins only at start and end: the relay holds a report
    outs = []

    def out(name):
        outs.append(os.path.join(work, name))
        return outs[-1]

    def consistent(assets, what):
        rows, flows = db_reports(plat, sid)
        t.check(len(rows) == len(set(rows)), "%s: a report stored twice: %s" % (what, rows))
        sent = spooled(outs)
        t.check(set(rows) == set(sent), "%s: platform has reports %s, the sensor spooled %s" %
                (what, sorted(rows), sorted(sent)))
        t.check(flows == sum(sent.values()), "%s: %d flow rows on the platform, %d flow records reported" %
                (what, flows, sum(sent.values())))
        t.check(canonical(plat.assets(sid)) == canonical(assets), "%s: platform assets differ from assets.json" % what)
        t.check(not os.path.exists(os.path.join(state, "platform", "spool", "dropped")), "%s: reports dropped" % what)
        return rows

    try:
        created = plat.api("POST", "/api/v1/sensors", {"name": "away-1", "location": "WAN"})
        sid = created["id"]
        p = supervisor("--register", created["personalization_code"], "--platform", plat.url, "--ca", plat.ca,
                       "--config", direct)
        t.check(p.returncode == 0, "register: %d %s" % (p.returncode, p.stderr))
        assets, _, _ = t.run_sensor(sample, out("first"), config=direct)
        consistent(assets, "first run")

        # --- 1. the outage --------------------------------------------------------------
        plat.stop()
        for i in range(3):
            _, _, p = t.run_sensor(sample, out("away-%d" % i), config=direct, expect_rc=UNACKED)
            t.check("not acknowledged" in one_line(p, "run %d of the outage" % i), "%r" % p.stderr)
        kept = spool_ids(state)
        t.check(len(kept) >= 3, "the outage kept only %s" % kept)
        before, _ = db_reports(plat, sid)
        plat.start()
        assets, _, _ = t.run_sensor(sample, out("back"), config=direct)
        rows = consistent(assets, "after the outage")
        arrived = rows[len(before):]
        t.check(arrived[:len(kept)] == kept, "the kept reports arrived as %s, not oldest first %s" % (arrived, kept))
        t.check(arrived == sorted(arrived), "reports arrived out of order: %s" % arrived)
        t.check(spool_ids(state) == [], "the spool kept %s" % spool_ids(state))

        # --- 2. the platform killed -9 in the middle of a report -----------------------------
        plat.stop()
        _, _, p = t.run_sensor(sample, out("away-k1"), config=direct, expect_rc=UNACKED)
        kept = spool_ids(state)
        plat.start()
        relay.held.clear()
        # The run's first tunnel is its check-in before the stages start; the
        # second, the uplink sending the spool's first report: its answer is held.
        relay.hold_from = relay.tunnels + 2
        proc = subprocess.Popen([t.SUPERVISOR, "--pcap", sample, "--output", out("kill-platform"), "--config",
                                 relayed, "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        t.check(relay.held.wait(60), "the relay never held a report's answer")
        # In the middle: stored by the platform, still in the sensor's spool (no answer yet).
        stored_then, _ = db_reports(plat, sid)
        mid = [i for i in spool_ids(state) if i in stored_then]
        t.check(mid, "no report both stored and unacknowledged (spool %s, stored %s)" % (spool_ids(state), stored_then))
        plat.proc.send_signal(signal.SIGKILL)
        plat.proc.wait()
        relay.cut()
        plat.start()
        _, err = proc.communicate(timeout=300)
        t.check(proc.returncode == 0, "run through the platform's kill -9: exit %d: %s" % (proc.returncode, err))
        with open(os.path.join(outs[-1], "assets.json")) as f:
            assets = json.load(f)
        consistent(assets, "platform killed -9")
        t.check(spool_ids(state) == [], "the spool kept %s" % spool_ids(state))

        # --- 3. the sensor killed -9 in the middle of sending -------------------------------
        plat.stop()
        _, _, p = t.run_sensor(sample, out("away-k2"), config=direct, expect_rc=UNACKED)
        kept = spool_ids(state)
        plat.start()
        relay.held.clear()
        relay.hold_from = relay.tunnels + 2
        proc = subprocess.Popen([t.SUPERVISOR, "--pcap", sample, "--output", out("kill-sensor"), "--config",
                                 relayed, "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        t.check(relay.held.wait(60), "the relay never held a report's answer")
        # The whole sensor: its stages are in process groups of their own
        # (killed alone, the supervisor's stages get SIGTERM and end their run,
        # the uplink delivering what it holds, beside the next start).
        run_dir = "/tmp/tapsense.%d" % proc.pid
        stage_pids = t.stage_pids(run_dir)
        t.check(stage_pids, "the killed sensor's stages were gone before the kill")
        os.killpg(proc.pid, signal.SIGKILL)
        for pid in stage_pids:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait()
        relay.cut()
        deadline = time.time() + 10
        while t.stage_pids(run_dir) and time.time() < deadline:
            time.sleep(0.05)
        t.check(not t.stage_pids(run_dir), "the killed sensor's stages still run")
        shutil.rmtree(run_dir, ignore_errors=True)
        stored_then, _ = db_reports(plat, sid)
        mid = [i for i in spool_ids(state) if i in stored_then]
        t.check(mid, "no report both stored and left in the killed sensor's spool (spool %s, stored %s)" %
                (spool_ids(state), stored_then))
        assets, _, _ = t.run_sensor(sample, out("after-kill"), config=direct)
        rows = consistent(assets, "sensor killed -9")
        t.check(spool_ids(state) == [], "the spool kept %s" % spool_ids(state))
        print("outage: %d report(s) kept through a stopped platform delivered once, oldest first; platform and "
              "sensor killed -9 mid-report: %d reports on the platform, each once, flows and assets equal" %
              (len(kept), len(rows)))
    finally:
        relay.stop()
        plat.stop()
        plat.log.close()


t.main(run)
