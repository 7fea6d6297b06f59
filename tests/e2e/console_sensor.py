"""A stand-in sensor for the console's browser test, speaking the real
sensor protocol (common/schema/platform.capnp, packed, over HTTPS) with
Debian's `capnp encode/decode`: registers with a personalization code,
checks in every second as Sensing or Paused (obeying start_sensing/pause
commands, reporting the configuration revision it is sent as applied),
and sends one report of two assets and their flows.

    console_sensor.py URL CA CODE STATEFILE

It writes STATEFILE (JSON: sensor id, state, applied revision) after each
check-in and runs until killed. It is not the real sensor (tapsense's
platform client): the browser test uses it where that is not built."""
import json
import os
import re
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMA = os.path.join(HERE, "..", "..", "common", "schema", "platform.capnp")


def encode(struct, text):
    return subprocess.run(["capnp", "encode", "--packed", "-I", "/usr/include", SCHEMA, struct], input=text.encode(),
                          capture_output=True, check=True).stdout


def decode(struct, data):
    return subprocess.run(["capnp", "decode", "--packed", "--short", "-I", "/usr/include", SCHEMA, struct], input=data,
                          capture_output=True, check=True).stdout.decode()


def field(text, name):
    m = re.search(r"\b%s = (\"(?:[^\"\\]|\\.)*\"|[^,)]+)" % name, text)
    return None if m is None else m.group(1).strip('"')


def post(url, ctx, path, body, auth=None):
    h = {"Content-Type": "application/x-capnp-packed"}
    if auth:
        h["Authorization"] = auth
    req = urllib.request.Request(url + path, data=body, method="POST", headers=h)
    with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
        return r.read()


def q(s):
    return json.dumps(s)


def main():
    url, ca, code, statefile = sys.argv[1:5]
    ctx = ssl.create_default_context(cafile=ca)
    reg = decode("RegisterResponse", post(url, ctx, "/sensor/v1/register", encode(
        "RegisterRequest", "(protocolVersion = 1, code = %s, sensorUid = \"console-test-uid\", version = \"tapsense-test\", "
        "hostname = \"sensor-under-test\", addresses = [\"10.113.231.61\", \"fe80::20c:29ff:febb:fd03\"], "
        "macs = [\"00:0c:29:bb:fd:03\"])" % q(code))))
    auth = "Sensor %s:%s" % (field(reg, "sensorId"), field(reg, "sensorKey"))
    now = time.time_ns()
    minute = 60 * 10**9
    ev = "(source = %s, field = %s, value = %s, confidence = %d, firstSeen = %d, lastSeen = %d)"
    assets = [
        "(key = \"00:1b:21:3a:4f:10\", ip = \"192.168.10.20\", mac = \"00:1b:21:3a:4f:10\", hostname = \"plc-line-3\", "
        "vendor = \"Siemens\", os = \"\", deviceType = \"PLC\", deviceClass = \"OT\", model = \"S7-1200\", "
        "firstSeen = %d, lastSeen = %d, bytesIn = 120000, bytesOut = 45000, packetsIn = 900, packetsOut = 700, "
        "services = [(protocol = 6, port = 102, service = \"s7comm\")], evidence = [%s, %s], "
        "confidence = [(field = \"vendor\", confidence = 90), (field = \"device_type\", confidence = 80)])"
        % (now - 50 * minute, now - minute, ev % (q("oui"), q("vendor"), q("Siemens"), 90, now - 50 * minute, now - minute),
           ev % (q("s7comm"), q("model"), q("S7-1200"), 80, now - 40 * minute, now - minute)),
        "(key = \"3c:22:fb:01:02:03\", ip = \"192.168.10.55\", mac = \"3c:22:fb:01:02:03\", hostname = \"eng-laptop\", "
        "vendor = \"Apple\", os = \"macOS\", osFamily = \"macOS\", deviceType = \"Laptop\", deviceClass = \"IT\", "
        "firstSeen = %d, lastSeen = %d, bytesIn = 8620000, bytesOut = 110000, packetsIn = 6100, packetsOut = 2100, "
        "evidence = [%s], confidence = [(field = \"os\", confidence = 70), (field = \"hostname\", confidence = 95)])"
        % (now - 30 * minute, now - minute, ev % (q("dhcp"), q("hostname"), q("eng-laptop"), 95, now - 30 * minute, now - minute)),
    ]
    flows = []
    for i, (srv, port, proto, cs, sc, app) in enumerate([
            ("98.137.11.165", 443, 6, 3220, 4000, "TLS.Yahoo"), ("31.13.65.36", 443, 17, 28500, 40900, "QUIC.Facebook"),
            ("192.168.10.20", 102, 6, 45000, 120000, "S7Comm")]):
        start = now - (20 - i * 5) * minute
        flows.append("(intervalStart = %d, intervalEnd = %d, client = \"192.168.10.55\", server = %s, protocol = %d, "
                     "serverPort = %d, packets = 40, bytesClientToServer = %d, bytesServerToClient = %d, "
                     "application = %s)" % (start, start + minute, q(srv), proto, port, cs, sc, q(app)))
    report = encode("Report", "(protocolVersion = 1, reportId = 1, full = true, assets = [%s], flows = [%s], "
                    "generatedAt = %d)" % (", ".join(assets), ", ".join(flows), now))
    state, applied, last_cmd, reported = "sensing", 0, 0, False
    while True:
        checkin = encode("CheckIn", "(protocolVersion = 1, state = %s, version = \"tapsense-test\", "
                         "hostname = \"sensor-under-test\", addresses = [\"10.113.231.61\"], macs = [\"00:0c:29:bb:fd:03\"], "
                         "configRevision = %d, lastCommandId = %d, lastReportId = %d, "
                         "health = (cpuPercent = 20, ramUsedBytes = 22, ramTotalBytes = 100, diskUsedBytes = 4, "
                         "diskTotalBytes = 100, networkBitsPerSecond = 1000000, linkCapacityBitsPerSecond = 1000000000, "
                         "activeAssets1h = 2, estimatedMaxThroughputBps = 1000000000, packets = 12000, drops = 0), "
                         "interfaces = [(name = \"eth1\", up = true, linkMbps = 1000, mode = \"default\", "
                         "mac = \"00:0c:29:bb:fd:04\", packets = 12000, drops = 0)])"
                         % (state, applied, last_cmd, 1 if reported else 0))
        try:
            resp = decode("CheckInResponse", post(url, ctx, "/sensor/v1/checkin", checkin, auth))
        except urllib.error.HTTPError as e:
            if e.code == 403:
                return 0  # deregistered
            raise
        rev = field(resp, "configRevision")
        if rev:
            applied = int(rev)
        for cid, cmd in re.findall(r"\(id = (\d+), command = \"(\w+)\"\)", resp):
            last_cmd = max(last_cmd, int(cid))
            state = {"pause": "paused", "start_sensing": "sensing"}.get(cmd, state)
        if not reported:
            post(url, ctx, "/sensor/v1/reports", report, auth)
            reported = True
        with open(statefile + ".tmp", "w") as f:
            json.dump({"sensor_id": field(reg, "sensorId"), "state": state, "applied": applied}, f)
        os.replace(statefile + ".tmp", statefile)
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main())
