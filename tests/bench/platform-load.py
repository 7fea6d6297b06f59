#!/usr/bin/python3
"""Scale benchmark (not a test): N simulated sensors against one
tapsense-platform on PostgreSQL 15 (a throwaway cluster, tests/lib/platform_test.py).

    /usr/bin/python3 tests/bench/platform-load.py [--sensors 1000] [--assets 100]
        [--rounds 3] [--clients 32] [--threads 1,4]

Per platform --threads value: creates and registers N sensors, then
  check-ins: every sensor checks in --rounds times (--clients concurrent
            keep-alive HTTPS connections) -> check-ins per second;
  reports:  every sensor sends one full report of --assets distinct assets
            -> reports per second, latency p50/p99, errors, 503 (Retry-After);
and the database size (pg_database_size). Messages are encoded once by
`capnp convert` (json:binary, packed here) so the clients only send bytes.
Needs root (initdb runs as user postgres) and Debian's postgresql-15."""
import argparse
import http.client
import json
import os
import queue
import re
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import shutil

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tapsense_test as t  # noqa: E402
import platform_test as pt  # noqa: E402

SCHEMA = os.path.join(t.SOURCE, "common", "schema", "platform.capnp")


def encode_many(struct, objs):
    """capnp convert json:binary over many messages, split on each message's
    segment table, then packed (the Cap'n Proto packing) here."""
    data = "\n".join(json.dumps(o) for o in objs).encode()
    r = subprocess.run(["capnp", "convert", "json:binary", "-I/usr/include", SCHEMA, struct], input=data,
                       capture_output=True, timeout=600)
    if r.returncode != 0:
        raise SystemExit("capnp convert: " + r.stderr.decode())
    out, buf, i = [], r.stdout, 0
    while i < len(buf):
        nseg = int.from_bytes(buf[i:i + 4], "little") + 1
        sizes = [int.from_bytes(buf[i + 4 + 4 * k:i + 8 + 4 * k], "little") for k in range(nseg)]
        head = 4 + 4 * nseg
        head += (8 - head % 8) % 8
        total = head + 8 * sum(sizes)
        msg = buf[i:i + total]
        out.append(pack(msg))
        i += total
    if len(out) != len(objs):
        raise SystemExit("capnp convert gave %d messages for %d" % (len(out), len(objs)))
    return out


def pack(data):
    out = bytearray()
    i, n = 0, len(data)
    zero = bytes(8)
    while i < n:
        w = data[i:i + 8]
        i += 8
        tag = 0
        nz = bytearray()
        for b in range(8):
            if w[b]:
                tag |= 1 << b
                nz.append(w[b])
        out.append(tag)
        out += nz
        if tag == 0:
            run = 0
            while run < 255 and i < n and data[i:i + 8] == zero:
                run += 1
                i += 8
            out.append(run)
        elif tag == 0xff:
            start, run = i, 0
            while run < 255 and i < n and sum(1 for x in data[i:i + 8] if x) >= 7:
                run += 1
                i += 8
            out.append(run)
            out += data[start:i]
    return bytes(out)


def unpack(data):
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        tag = data[i]
        i += 1
        for b in range(8):
            if tag >> b & 1:
                out.append(data[i])
                i += 1
            else:
                out.append(0)
        if tag in (0, 0xff):
            run = data[i]
            i += 1
            if tag == 0:
                out += bytes(8 * run)
            else:
                out += data[i:i + 8 * run]
                i += 8 * run
    return bytes(out)


class Client:
    """Keep-alive HTTPS connections, one per worker thread."""

    def __init__(self, port, ca):
        self.port = port
        self.ctx = ssl.create_default_context(cafile=ca)
        self.local = threading.local()

    def request(self, method, path, body, headers):
        for attempt in range(2):
            c = getattr(self.local, "c", None)
            if c is None:
                c = self.local.c = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=120)
            try:
                c.request(method, path, body=body, headers=headers)
                r = c.getresponse()
                return r.status, dict(r.getheaders()), r.read()
            except (http.client.HTTPException, OSError):
                c.close()
                self.local.c = None
                if attempt == 1:
                    return 0, {}, b""
        return 0, {}, b""


def run_jobs(n_clients, jobs):
    """jobs: callables; returns the wall time to run them all."""
    q = queue.Queue()
    for j in jobs:
        q.put(j)

    def worker():
        while True:
            try:
                j = q.get_nowait()
            except queue.Empty:
                return
            j()

    ths = [threading.Thread(target=worker) for _ in range(n_clients)]
    t0 = time.monotonic()
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    return time.monotonic() - t0


def cpu_seconds(pids):
    """utime + stime of these processes (/proc/PID/stat), in seconds."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / tick


def postgres_pids():
    out = subprocess.run(["pgrep", "-u", "postgres", "postgres"], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def one_run(pg, args, threads, msgs):
    url = pg.new_database()
    work = tempfile.mkdtemp(prefix="tps-load-")
    p = pt.Platform(os.path.join(work, "data"), db=url)
    try:
        p.add_user("admin", "admin", "admin-password")
        tok = p.add_token("admin")
        p.start(extra=["--threads", str(threads), "--max-reports", str(max(2 * threads, args.clients))])
        cl = Client(p.port, p.ca)
        api_h = {"Authorization": "Bearer " + tok, "Content-Type": "application/json"}
        n = args.sensors
        sensors = [None] * n

        def create(i):
            st, _, body = cl.request("POST", "/api/v1/sensors", json.dumps({"name": "s%05d" % i, "location": "x"}),
                                     api_h)
            if st != 201:
                raise SystemExit("create sensor: %d %r" % (st, body[:200]))
            sensors[i] = json.loads(body)

        run_jobs(args.clients, [lambda i=i: create(i) for i in range(n)])
        regs = encode_many("RegisterRequest", [
            {"protocolVersion": 1, "code": s["personalization_code"], "sensorUid": "uid-%d" % i, "version": "0.1.0",
             "hostname": "s%05d" % i} for i, s in enumerate(sensors)])
        auth = [None] * n

        def register(i):
            st, _, body = cl.request("POST", "/sensor/v1/register", regs[i],
                                     {"Content-Type": "application/x-capnp-packed"})
            if st != 200:
                raise SystemExit("register: %d %r" % (st, body[:200]))
            key = re.search(rb"[0-9a-f]{64}", unpack(body))
            auth[i] = "Sensor %d:%s" % (sensors[i]["id"], key.group(0).decode())

        reg_time = run_jobs(args.clients, [lambda i=i: register(i) for i in range(n)])

        # Check-ins.
        lat_c, err_c = [], []
        lock = threading.Lock()

        def checkin(i):
            t0 = time.monotonic()
            st, _, body = cl.request("POST", "/sensor/v1/checkin", msgs["checkin"],
                                     {"Content-Type": "application/x-capnp-packed", "Authorization": auth[i]})
            dt = time.monotonic() - t0
            with lock:
                (lat_c if st == 200 else err_c).append(dt if st == 200 else st)

        cpu0 = (cpu_seconds([p.proc.pid]), cpu_seconds(postgres_pids()))
        chk_time = run_jobs(args.clients, [lambda i=i: checkin(i) for _ in range(args.rounds) for i in range(n)])
        cpu1 = (cpu_seconds([p.proc.pid]), cpu_seconds(postgres_pids()))

        # Reports.
        lat_r, err_r, busy = [], [], []

        def report(i):
            t0 = time.monotonic()
            st, h, body = cl.request("POST", "/sensor/v1/reports", msgs["reports"][i],
                                     {"Content-Type": "application/x-capnp-packed", "Authorization": auth[i]})
            dt = time.monotonic() - t0
            with lock:
                if st == 200:
                    lat_r.append(dt)
                elif st == 503:
                    busy.append(h.get("Retry-After"))
                else:
                    err_r.append((st, body[:100]))

        rep_time = run_jobs(args.clients, [lambda i=i: report(i) for i in range(n)])
        cpu2 = (cpu_seconds([p.proc.pid]), cpu_seconds(postgres_pids()))
        size = subprocess.run(["runuser", "-u", "postgres", "--", pt.PG_BIN + "/psql", "-h", pg.sock, "-d",
                               url.split("/")[3].split("?")[0], "-Atc",
                               "SELECT pg_database_size(current_database()), (SELECT count(*) FROM assets), "
                               "(SELECT count(*) FROM sensor_assets)"],
                              capture_output=True, text=True).stdout.strip().split("|")
        res = {
            "threads": threads, "sensors": n, "assets_per_report": args.assets, "clients": args.clients,
            "register_per_s": round(n / reg_time, 1),
            "checkins": len(lat_c) + len(err_c), "checkins_per_s": round((len(lat_c) + len(err_c)) / chk_time, 1),
            "checkin_p50_ms": round(1000 * pct(lat_c, 50), 1), "checkin_p99_ms": round(1000 * pct(lat_c, 99), 1),
            "checkin_errors": len(err_c),
            "reports_per_s": round(n / rep_time, 1), "assets_per_s": round(len(lat_r) * args.assets / rep_time),
            "report_p50_ms": round(1000 * pct(lat_r, 50), 1), "report_p99_ms": round(1000 * pct(lat_r, 99), 1),
            "report_errors": len(err_r), "report_503": len(busy),
            # CPU per operation: the platform process, and PostgreSQL (every
            # postgres process: a backend per worker plus the cluster's own).
            "checkin_cpu_ms_platform": round(1000 * (cpu1[0] - cpu0[0]) / max(1, len(lat_c) + len(err_c)), 2),
            "checkin_cpu_ms_postgres": round(1000 * (cpu1[1] - cpu0[1]) / max(1, len(lat_c) + len(err_c)), 2),
            "report_cpu_ms_platform": round(1000 * (cpu2[0] - cpu1[0]) / max(1, n), 1),
            "report_cpu_ms_postgres": round(1000 * (cpu2[1] - cpu1[1]) / max(1, n), 1),
            "db_bytes": int(size[0]) if size and size[0].isdigit() else None,
            "db_assets": int(size[1]) if len(size) > 1 else None,
            "db_sensor_assets": int(size[2]) if len(size) > 2 else None,
        }
        if err_r:
            res["first_report_error"] = repr(err_r[0])
        return res
    finally:
        p.stop()
        shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sensors", type=int, default=1000)
    ap.add_argument("--assets", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--threads", default="1,4", help="platform --threads values to compare")
    args = ap.parse_args()
    if not os.path.exists(pt.PLATFORM):
        raise SystemExit("build/bin/tapsense-platform is not built")
    pg = pt.Postgres()
    if not pg.running:
        raise SystemExit("PostgreSQL: " + pg.why)
    try:
        t0 = time.monotonic()
        msgs = {"checkin": encode_many("CheckIn", [{
            "protocolVersion": 1, "state": "sensing", "version": "0.1.0", "hostname": "h",
            "health": {"cpuPercent": 20, "ramUsedBytes": 22, "ramTotalBytes": 100, "diskUsedBytes": 4,
                       "diskTotalBytes": 100, "activeAssets1h": 100},
            "interfaces": [{"name": "eth1", "up": True, "linkMbps": 1000, "mode": "default"}]}])[0]}
        reports = []
        for i in range(args.sensors):
            assets = []
            for k in range(args.assets):
                mac = "02:%02x:%02x:%02x:00:%02x" % (i >> 16 & 255, i >> 8 & 255, i & 255, k)
                assets.append({"key": mac, "mac": mac, "ip": "10.%d.%d.%d" % (i >> 8 & 255, i & 255, k + 1),
                               "hostname": "dev-%d-%d" % (i, k), "vendor": "Siemens", "os": "Linux",
                               "deviceType": "PLC", "network": "", "firstSeen": 1, "lastSeen": 2,
                               "bytesIn": 1000, "packetsIn": 10,
                               "evidence": [{"source": "dhcp", "field": "hostname", "value": "dev-%d-%d" % (i, k),
                                             "confidence": 90}]})
            reports.append({"protocolVersion": 1, "reportId": 1, "full": True, "assets": assets})
        msgs["reports"] = encode_many("Report", reports)
        print("encoded %d reports (%.0f KiB each, packed) in %.1f s" %
              (len(reports), len(msgs["reports"][0]) / 1024.0, time.monotonic() - t0), file=sys.stderr)
        for th in [int(x) for x in args.threads.split(",")]:
            t1 = time.monotonic()
            res = one_run(pg, args, th, msgs)
            res["run_seconds"] = round(time.monotonic() - t1, 1)
            print(json.dumps(res), flush=True)
    finally:
        pg.stop()


if __name__ == "__main__":
    main()
