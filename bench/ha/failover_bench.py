#!/usr/bin/env python3
"""Failover benchmark: three agents (in network namespaces on a bridge as root, else on loopback; a and
b run guests, c holds the disk), an HA guest
running the write workload; each round kills the guest's node (its agent and its QEMU, SIGKILL) and
times, from the kill, when a survivor saw the node declared down (detection), its lease certainly
ended (lease wait), its fencing done (fence_dummy), the VM placed elsewhere, QEMU running there, and
the guest's first new workload record. The killed agent is then started again and rejoins. Beside it,
in the same run: a cold start of the same guest with 'nines vm start' on a healthy node (the part of a
failover no HA design avoids), and the false-failover check (the guest's agent SIGSTOPped for 1 s and
1.5 s, and, as root, its node's links dropped for 1.5 s twice: nothing may move). Usage: failover_bench.py WORK JAR KERNEL INITRD ROUNDS DEAD_S|default LEASE_MS|default RENEW_MS|default"""
import json, os, re, signal, socket, ssl, statistics, subprocess, sys, time, urllib.request

work, jar, kernel, initrd = sys.argv[1:5]
def setting(i):
    """An argument, or None for 'default' (the cluster's own default is left in place)."""
    return None if len(sys.argv) <= i or sys.argv[i] == "default" else int(sys.argv[i])
rounds, dead_set, lease_set, renew_set = int(sys.argv[5]), setting(6), setting(7), setting(8)
# the values in force: the cluster's defaults (3 s; the lease follows it, at least 3.5 s; renewals every 0.5 s) where not set
dead_s = dead_set if dead_set is not None else 3
lease_ms = lease_set if lease_set is not None else max(int(dead_s * 1000 / 1.1), 3500)
renew_ms = renew_set if renew_set is not None else 500
java = os.path.join(os.environ["JAVA_HOME"], "bin", "java")
env = dict(os.environ, NINES_CONFIG_DIR=os.path.join(work, "cfg"), NINES_WATCHDOG="none")
env.pop("NINES_TOKEN", None); env.pop("NINES_AGENT", None)

def free_base():
    while True:
        base = 20000 + int.from_bytes(os.urandom(2), "big") % 9000
        ok = True
        for p in range(base, base + 23):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", p)) == 0:
                    ok = False
        if ok:
            return base

base = free_base()
port = {"a": base, "b": base + 10, "c": base + 20}
procs = {}

# As root, each agent runs in a network namespace of its own on a bridge (as the system tests' Lan
# does), so that a link can be dropped for real; the bench itself reaches every node through the
# bridge. Off loopback the agents speak HTTPS (the bench does not check their certificates).
lan = os.geteuid() == 0 and not os.environ.get("NINES_BENCH_LOOPBACK")
lan_id = "fb%d" % (os.getpid() % 10000)
lan_net = "10.212.%d" % (os.getpid() % 250)
host = {n: ("%s.%d" % (lan_net, i + 1) if lan else "127.0.0.1") for i, n in enumerate("abc")}
scheme = "https" if lan else "http"
tls = ssl._create_unverified_context() if lan else None
cuts = []

def ip(*args, check=True):
    r = subprocess.run(["ip"] + list(args), capture_output=True, text=True)
    if check and r.returncode != 0:
        sys.exit("ip %s failed: %s" % (" ".join(args), r.stderr.strip()))

def lan_up():
    lan_down()
    ip("link", "add", lan_id + "br", "type", "bridge")
    ip("addr", "add", lan_net + ".254/24", "dev", lan_id + "br")
    ip("link", "set", lan_id + "br", "up")
    for i, n in enumerate("abc"):
        ns = lan_id + "-" + n
        ip("netns", "add", ns)
        ip("link", "add", lan_id + "h" + n, "type", "veth", "peer", "name", lan_id + "n" + n)
        ip("link", "set", lan_id + "n" + n, "netns", ns)
        ip("link", "set", lan_id + "h" + n, "master", lan_id + "br")
        ip("link", "set", lan_id + "h" + n, "up")
        ip("netns", "exec", ns, "ip", "addr", "add", host[n] + "/24", "dev", lan_id + "n" + n)
        ip("netns", "exec", ns, "ip", "link", "set", lan_id + "n" + n, "up")
        ip("netns", "exec", ns, "ip", "link", "set", "lo", "up")

def lan_down():
    for n in "abc":
        ip("netns", "del", lan_id + "-" + n, check=False)
        ip("link", "del", lan_id + "h" + n, check=False)
    ip("link", "del", lan_id + "br", check=False)

def cut(node):
    """Drops every packet between node and the other nodes, both ways (blackhole routes on each side)."""
    for other in "abc":
        if other != node:
            for a, b in ((node, other), (other, node)):
                ip("netns", "exec", lan_id + "-" + a, "ip", "route", "add", "blackhole", host[b] + "/32")
                cuts.append((a, b))

def heal():
    while cuts:
        a, b = cuts.pop()
        ip("netns", "exec", lan_id + "-" + a, "ip", "route", "del", "blackhole", host[b] + "/32", check=False)

def start_agent(node):
    e = dict(env, NINES_GUEST_MEMORY_MIB="64" if node == "c" else "1024")
    log = open(os.path.join(work, node + ".log"), "a")
    inside = ["ip", "netns", "exec", lan_id + "-" + node] if lan else []
    procs[node] = subprocess.Popen(inside + [java, "--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC", "-jar", jar, "agent",
                                    "--name", node, "--data", os.path.join(work, node), "--listen", "%s:%d" % (host[node], port[node])],
                                   stdout=log, stderr=subprocess.STDOUT, env=e)
    for _ in range(240):
        try:
            urllib.request.urlopen("%s://%s:%d/v1/health" % (scheme, host[node], port[node]), timeout=1, context=tls).read()
            return
        except Exception:
            time.sleep(0.25)
    sys.exit("agent %s did not answer; see %s/%s.log" % (node, work, node))

def cli(node, *args, check=True):
    r = subprocess.run([java, "-XX:TieredStopAtLevel=1", "-jar", jar] + list(args), capture_output=True, text=True,
                       env=dict(env, NINES_AGENT="%s://%s:%d" % (scheme, host[node], port[node])))
    if check and r.returncode != 0:
        sys.exit("nines %s failed: %s%s" % (" ".join(args), r.stdout, r.stderr))
    return r.stdout

secret = None
def api(node, path, body=None, timeout=5):
    req = urllib.request.Request("%s://%s:%d%s" % (scheme, host[node], port[node], path),
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": "Bearer " + secret, "Content-Type": "application/json"},
                                 method="GET" if body is None else "POST")
    return json.load(urllib.request.urlopen(req, timeout=timeout, context=tls))

def seq_on(node):
    try:
        text = api(node, "/v1/vms/g/console?bytes=8192")["text"]
    except Exception:
        return 0
    found = re.findall(r"NINES-WORKLOAD seq=(\d+)", text)
    return int(found[-1]) if found else 0

def wait(what, cond, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            v = cond()
            if v:
                return v
        except Exception:
            pass
        time.sleep(0.05)
    sys.exit("timed out waiting for " + what)

def vm(node):
    return api(node, "/v1/vms/g")

def qemu_pid(node):
    with open(os.path.join(work, node, "vms", "g", "qemu.pid")) as f:
        return int(f.read().strip())

def pctl(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]

def main():
    global secret
    # ---- the cluster ----
    if lan:
        lan_up()
    print("network: " + ("a namespace per agent on a bridge (%s.0/24)" % lan_net if lan else
                         "loopback (not root, or NINES_BENCH_LOOPBACK): no link-drop check"))
    for n in "abc":
        start_agent(n)
    cli("a", "cluster", "init", "--name", "bench")
    secret = open(os.path.join(work, "a", "secret")).read().strip()
    for n in "bc":
        cli(n, "cluster", "join", "%s:%d" % (host["a"], port["a"]), "--token", secret)
    wait("three nodes", lambda: len(api("a", "/v1/ha/status")["nodes"]) == 3, 60)
    for key, value in (("cluster.dead_after_seconds", dead_set), ("ha.lease_millis", lease_set), ("ha.renew_millis", renew_set)):
        if value is not None:
            cli("a", "config", "set", key, str(value))
    cli("a", "config", "set", "ha.max_relocate", "1000")  # every round relocates the same guest
    cli("c", "pv", "create", os.path.join(work, "c-pv.img"), "--size", "256M")
    cli("a", "vg", "create", "vg", "c:" + os.path.join(work, "c-pv.img"))
    cli("a", "lv", "create", "-n", "disk", "-L", "64M", "--thin", "vg")
    for n in "ab":
        power = os.path.join(work, n + ".power")
        open(power, "w").write("on")
        cli("a", "fence", "device", "add", "power-" + n, "fence_dummy", "status_file=" + power)
        cli("a", "fence", "method", "add", n, "power", "--device", "power-" + n)
    cli("a", "vm", "create", "g", "-m", "128", "--kernel", kernel, "--initrd", initrd, "--append",
        "console=ttyS0 quiet panic=-1 nines.workload=write", "--disk", "vg/disk", "--ha", "on")
    t = time.monotonic()
    cli("a", "vm", "start", "g", "--node", "a")
    wait("the first workload record", lambda: seq_on("c") > 0, 300)
    print("guest up on a, workload writing, %.1f s after 'vm start'" % (time.monotonic() - t))
    shown = lambda v, set_: "%d%s" % (v, "" if set_ is not None else " (default)")
    print("settings: cluster.dead_after_seconds=%s ha.lease_millis=%s ha.renew_millis=%s (guests stopped 1000 ms before the"
          " lease ends, clock margin 10 %%), ha.max_relocate=1000; fencing: fence_dummy"
          % (shown(dead_s, dead_set), shown(lease_ms, lease_set), shown(renew_ms, renew_set)))
    sys.stdout.flush()

    # ---- the rounds ----
    results = []
    for r in range(1, rounds + 1):
        victim = vm("c")["node"]
        if victim not in ("a", "b"):
            sys.exit("round %d: the guest runs on %s, which holds its disk; a and b should run it" % (r, victim))
        survivor = "b" if victim == "a" else "a"
        before = wait("the workload going on", lambda: seq_on("c") or None, 60)
        wait("a new record", lambda: seq_on("c") > before, 60)
        pid = qemu_pid(victim)
        t0 = time.monotonic()
        procs[victim].kill()
        os.kill(pid, signal.SIGKILL)
        procs[victim].wait()
        marks = {}
        polls = {"n": 0, "failed": 0, "longest": 0.0, "error": ""}
        deadline = t0 + 180
        while "record" not in marks and time.monotonic() < deadline:
            now = time.monotonic() - t0
            try:
                polls["n"] += 1
                asked = time.monotonic()
                try:
                    st = api(survivor, "/v1/ha/status", timeout=2)
                except Exception as e:
                    polls["failed"] += 1
                    polls["error"] = polls["error"] or ("%.2f s: %s" % (asked - t0, str(e)[:120]))
                    raise
                finally:
                    polls["longest"] = max(polls["longest"], time.monotonic() - asked)
                node = next(n for n in st["nodes"] if n["name"] == victim)
                g = next(v for v in st["vms"] if v["name"] == "g")
                if node["state"] == "down":
                    marks.setdefault("detected", now)
                if node["state"] == "down" and node["lease"] == "ended":
                    marks.setdefault("lease ended", now)
                if node["fencing"] == "fenced":
                    marks.setdefault("fenced", now)
                if g["node"] != victim:
                    marks.setdefault("placed", now)
                if g["node"] != victim and g["phase"] == "running":
                    marks.setdefault("qemu running", now)
                if "qemu running" in marks and seq_on(g["node"]) > 0:
                    marks.setdefault("record", now)
            except Exception:
                pass
            time.sleep(0.05)
        if "record" not in marks:
            sys.exit("round %d: the guest did not come back within 180 s: %s" % (r, marks))
        results.append(marks)
        print("round %d: %s killed -> %s" % (r, victim, ", ".join("%s %.2f s" % (k, v) for k, v in marks.items())))
        print("  %s's GET /v1/ha/status (the marks above are when it answered): %d asked, %d failed%s, longest %.2f s"
              % (survivor, polls["n"], polls["failed"], " (first at " + polls["error"] + ")" if polls["error"] else "",
                 polls["longest"]))
        sys.stdout.flush()
        open(os.path.join(work, victim + ".power"), "w").write("on")
        start_agent(victim)
        wait(victim + " up again", lambda: next(n for n in api(survivor, "/v1/ha/status")["nodes"] if n["name"] == victim)["state"] == "up", 120)
        time.sleep(2)

    # ---- the peer: a cold start on a healthy node ----
    cold = []
    for i in range(2):
        cur = vm("c")["node"]
        cli("c", "vm", "stop", "g")
        target = "b" if cur == "a" else "a"
        t0 = time.monotonic()
        import threading
        threading.Thread(target=lambda: api("c", "/v1/vms/g/start", {"node": target}, timeout=120), daemon=True).start()
        marks = {}
        while "record" not in marks and time.monotonic() - t0 < 180:
            now = time.monotonic() - t0
            try:
                v = vm("c")
                if v["node"] == target and v["phase"] == "running":
                    marks.setdefault("qemu running", now)
                if "qemu running" in marks and seq_on("c") > 0:
                    marks.setdefault("record", now)
            except Exception:
                pass
            time.sleep(0.05)
        cold.append(marks)
        print("cold start %d on %s (POST /v1/vms/g/start): %s" % (i + 1, target, ", ".join("%s %.2f s" % (k, v) for k, v in marks.items())))

    # ---- false failovers: the guest's node paused or cut off shorter than the detection time ----
    false_failovers = 0
    checks = [("SIGSTOP of the guest's agent", 1.0), ("SIGSTOP of the guest's agent", 1.5)]
    if lan:
        checks += [("link drop of the guest's node", 1.5)] * 2
    for what, pause in checks:
        cur = vm("c")["node"]
        wait("running", lambda: vm("c")["phase"] == "running", 60)
        pid = qemu_pid(cur)
        before = wait("the workload going on", lambda: seq_on("c") or None, 60)
        if what.startswith("SIGSTOP"):
            procs[cur].send_signal(signal.SIGSTOP)
            time.sleep(pause)
            procs[cur].send_signal(signal.SIGCONT)
        else:
            cut(cur)
            time.sleep(pause)
            heal()
        time.sleep(dead_s + lease_ms / 1000.0 + 3)
        v = vm("c")
        moved = v["node"] != cur or qemu_pid(cur) != pid or not os.path.exists("/proc/%d" % pid)
        after = seq_on("c")
        print("%s (%s) for %.1f s: %s; workload record %d -> %d" % (what, cur, pause, "FAILED OVER" if moved
              else "nothing moved, same QEMU %d" % pid, before, after))
        false_failovers += 1 if moved else 0
    false_what = "SIGSTOP 1 s and 1.5 s of the guest's agent" + (", 1.5 s link drop of its node twice" if lan else "")

    def summary(rows, key):
        vals = [m[key] for m in rows if key in m]
        return "p50 %.2f s, p90 %.2f s" % (pctl(vals, 0.5), pctl(vals, 0.9)) if vals else "-"

    print()
    print("failover over %d rounds (from the kill; noisy: a shared 2-core machine, TCG):" % rounds)
    for key in ("detected", "lease ended", "fenced", "placed", "qemu running", "record"):
        print("  %-13s %s" % (key, summary(results, key)))
    parts = []
    for m in results:
        # the node is fenced while its lease runs out: the later of the two ends the wait
        ready = max(m.get("lease ended", 0), m.get("fenced", 0))
        parts.append((m.get("detected", 0), m.get("lease ended", 0) - m.get("detected", 0), m.get("fenced", 0) - m.get("detected", 0),
                      ready - m.get("detected", 0), m.get("placed", 0) - ready, m.get("qemu running", 0) - m.get("placed", 0),
                      m.get("record", 0) - m.get("qemu running", 0)))
    names = ("detection", "lease wait", "fencing (beside the lease wait)", "wait for both", "placement", "attach+QEMU start",
             "guest boot to first record")
    print("  split (p50):  " + ", ".join("%s %.2f s" % (n, statistics.median(p[i] for p in parts)) for i, n in enumerate(names)))
    fail_q = statistics.median(m["qemu running"] for m in results)
    cold_q = statistics.median(m["qemu running"] for m in cold if "qemu running" in m)
    print("peer, same run: cold start (POST /v1/vms/g/start on a healthy node) to QEMU running: p50 %.2f s" % cold_q)
    print("ratio failover / cold start (to QEMU running): %.1fx" % (fail_q / cold_q))
    print("false failovers (%s): %d" % (false_what, false_failovers))
    print("goal (issue): <= 5 s to QEMU running elsewhere; documented anchors: Proxmox ~120 s, vSphere HA 15 s detection alone")


try:
    main()
finally:
    for p in procs.values():
        if p.poll() is None:
            p.send_signal(signal.SIGCONT)
            p.kill()
            p.wait()
    if lan:
        heal()
        lan_down()
