"""Best Practice 1 of the guide: two sensors that see overlapping traffic give
one platform asset per device. Two real sensors, each registered with its own
code on one real platform, run offline on overlapping parts of the project's
own sample (one sensor two offices, the other the later two thirds of the
first office's traffic), so some devices are seen by both and others by one
only. The truth is each
sensor's own assets.json: the platform holds exactly one asset per device of
their union (by MAC, else by network and IP), and each asset lists the
sensors whose assets.json has it."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tapsense_test as t
from sensor_platform import PLATFORM, Platform, supervisor


def device_key(a):
    return ("mac", a["mac"]) if a.get("mac") else ("ip", a.get("network") or "", a.get("ip"))


def run():
    if not os.access(PLATFORM, os.X_OK):
        t.skip("tapsense-platform is not built")
    t.need("editcap")
    work = t.tmpdir()
    # crane-a mirrors two offices (the sample twice, the second copy with its
    # own addresses and MACs), crane-b the first office, and only the later
    # two thirds of its traffic.
    two, two_packets = t.sample_capture(work, 2)
    one, packets = t.sample_capture(work, 1)
    parts = {"crane-a": (two, 1, two_packets), "crane-b": (one, packets // 3 + 1, packets)}
    plat = Platform(work)
    try:
        seen = {}
        for name, (sample, first, last) in parts.items():
            pcap = os.path.join(work, name + ".pcap")
            subprocess.run(["editcap", "-r", sample, pcap, "%d-%d" % (first, last)], check=True, capture_output=True)
            state = os.path.join(work, name, "state")
            os.makedirs(os.path.join(work, name), exist_ok=True)
            config = t.write_config(os.path.join(work, name), '[sensor]\nname = "%s"\nstate_dir = "%s"\n' % (name, state))
            created = plat.api("POST", "/api/v1/sensors", {"name": name, "location": "Pune"})
            p = supervisor("--register", created["personalization_code"], "--platform", plat.url, "--ca", plat.ca,
                           "--config", config)
            t.check(p.returncode == 0, "%s: register exit %d: %s" % (name, p.returncode, p.stderr))
            assets, _, _ = t.run_sensor(pcap, os.path.join(work, name, "out"), config=config)
            seen[name] = {device_key(a): a for a in assets}
            t.check(len(assets) >= 3, "%s saw only %d assets" % (name, len(assets)))

        both = set(seen["crane-a"]) & set(seen["crane-b"])
        union = set(seen["crane-a"]) | set(seen["crane-b"])
        t.check(len(both) >= 3, "the two parts share only %d devices: not an overlap" % len(both))
        t.check(set(seen["crane-a"]) - both, "crane-a saw no device of its own: the test shows no merge choice")
        print("devices: %d in all, %d seen by both sensors, %d by crane-a only, %d by crane-b only" %
              (len(union), len(both), len(set(seen["crane-a"]) - both), len(set(seen["crane-b"]) - both)))

        platform_assets = plat.api("GET", "/api/v1/assets?limit=5000")["items"]
        by_key = {}
        for a in platform_assets:
            k = device_key(a)
            t.check(k not in by_key, "two platform assets for one device %s: ids %s and %s" %
                    (k, by_key.get(k, {}).get("id"), a["id"]))
            by_key[k] = a
        t.check(set(by_key) == union, "platform devices differ from the sensors' union:\n missing %s\n extra %s" %
                (sorted(union - set(by_key)), sorted(set(by_key) - union)))
        for k, a in by_key.items():
            want = sorted(n for n in seen if k in seen[n])
            have = sorted(s["name"] for s in a["sensors"])
            t.check(have == want, "%s: platform lists sensors %s, the sensors' own files say %s" % (k, have, want))
            # What the sensors agree on is what the platform shows.
            for field in ("ip", "hostname", "vendor"):
                values = {seen[n][k].get(field) for n in want if seen[n][k].get(field)}
                if len(values) == 1:
                    t.check(a.get(field) == values.pop(), "%s: %s %r, sensors say %s" %
                            (k, field, a.get(field), [seen[n][k].get(field) for n in want]))
    finally:
        plat.stop()


if __name__ == "__main__":
    t.main(run)
