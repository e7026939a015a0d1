#!/usr/bin/env python3
"""Helpers for bench/vm/migrate-bench.sh (Python 3 standard library only).

  watch OUT GLOB...       timestamps every 'NINES-WORKLOAD seq=N' line appearing in the files
                          matching the globs (serial consoles), one "WALLTIME SEQ" line each in
                          OUT, until killed: the guest's own view of a migration
  peer-boot, peer-qmp, peer-round   the peer: plain QEMU-to-QEMU live migrations driven by hand over QMP
  report ...              the tables and the verdicts
"""
import glob
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import time

ACK = re.compile(rb"NINES-WORKLOAD seq=(\d+)\n")


# ---------------------------------------------------------------- watch
def watch(out_path, patterns):
    state = {}  # path -> (inode, offset, partial line)
    with open(out_path, "a", buffering=1) as out:
        while True:
            for pattern in patterns:
                for path in glob.glob(pattern):
                    try:
                        st = os.stat(path)
                    except OSError:
                        continue
                    inode, offset, partial = state.get(path, (st.st_ino, 0, b""))
                    if inode != st.st_ino or st.st_size < offset:  # a new QEMU truncated or replaced it
                        inode, offset, partial = st.st_ino, 0, b""
                    if st.st_size > offset:
                        try:
                            with open(path, "rb") as f:
                                f.seek(offset)
                                data = f.read(st.st_size - offset)
                        except OSError:
                            continue
                        now = time.time()
                        offset += len(data)
                        data = partial + data
                        cut = data.rfind(b"\n") + 1
                        partial = data[cut:]
                        for m in ACK.finditer(data[:cut].replace(b"\r", b"")):
                            out.write("%.4f %s\n" % (now, int(m.group(1))))
                    state[path] = (inode, offset, partial)
            time.sleep(0.01)


# ---------------------------------------------------------------- QMP
class Qmp:
    def __init__(self, path, timeout=30.0):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.005)
        self.buffer = b""
        self.events = []
        self._read()  # greeting
        self.execute("qmp_capabilities")

    def _read(self, timeout=60.0):
        self.sock.settimeout(timeout)
        while b"\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("QMP connection closed")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)

    def execute(self, command, arguments=None, timeout=60.0):
        message = {"execute": command}
        if arguments is not None:
            message["arguments"] = arguments
        self.sock.sendall(json.dumps(message).encode() + b"\n")
        while True:
            answer = self._read(timeout)
            if "event" in answer:
                self.events.append(answer)
            elif "error" in answer:
                raise RuntimeError("%s: %s" % (command, answer["error"].get("desc")))
            elif "return" in answer:
                return answer["return"]

    def wait_event(self, predicate, timeout):
        deadline = time.monotonic() + timeout
        while True:
            for i, event in enumerate(self.events):
                if predicate(event):
                    del self.events[: i + 1]
                    return event
            self.events.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no matching QMP event within %.0f s" % timeout)
            try:
                answer = self._read(remaining)
            except socket.timeout:
                continue
            if "event" in answer:
                self.events.append(answer)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# ---------------------------------------------------------------- peer
FLAGS = {"-nodefaults", "-no-user-config", "-no-shutdown", "-no-reboot", "-snapshot"}


def peer_argv(template, work, tag, nbd_socket):
    """Our agent's QEMU command line (from /proc/PID/cmdline), with this peer's files and disk."""
    argv, i = [template[0]], 1
    while i < len(template):
        word = template[i]
        if word in ("-daemonize", "-S"):
            i += 1
            continue
        if word in ("-pidfile", "-incoming"):
            i += 2
            continue
        if word == "-chardev" and template[i + 1].startswith("socket,id=qmp,"):
            argv += ["-chardev", "socket,id=qmp,path=%s/qmp-%s.sock,server=on,wait=off" % (work, tag)]
        elif word == "-chardev" and template[i + 1].startswith("file,id=serial0,"):
            argv += ["-chardev", "file,id=serial0,path=%s/serial-%s.log" % (work, tag)]
        elif word == "-blockdev":
            spec = json.loads(template[i + 1])
            if spec.get("file", {}).get("driver") != "nbd":
                raise SystemExit("peer: expected our guest's disk over NBD, got %s" % template[i + 1])
            spec["file"]["server"] = {"type": "unix", "path": nbd_socket}
            spec["file"]["export"] = "disk"
            argv += ["-blockdev", json.dumps(spec, separators=(",", ":"))]
        elif word in FLAGS:
            argv.append(word)
            i += 1
            continue
        else:
            argv += [word, template[i + 1]]
        i += 2
    return argv


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def last_seq(serial):
    try:
        with open(serial, "rb") as f:
            found = ACK.findall(f.read().replace(b"\r", b""))
        return int(found[-1]) if found else 0
    except OSError:
        return 0


def wait_seq(serial, above, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seq = last_seq(serial)
        if seq > above:
            return seq
        time.sleep(0.1)
    raise SystemExit("peer: the workload in %s did not get past seq %d within %.0f s" % (serial, above, timeout))


def event_time(event):
    return event["timestamp"]["seconds"] + event["timestamp"]["microseconds"] / 1e6


class Peer:
    """The peer's QEMUs: started by one invocation, driven by the next ones (the current one in WORK/state)."""

    def __init__(self, work, template_file, nbd_socket):
        self.work, self.nbd_socket = work, nbd_socket
        with open(template_file, "rb") as f:
            self.template = [w.decode() for w in f.read().split(b"\0") if w]
        try:
            with open(work + "/state") as f:
                self.tag = f.read().strip()
        except OSError:
            self.tag = None

    def save(self, tag):
        self.tag = tag
        with open(self.work + "/state", "w") as f:
            f.write(tag)

    def serial(self, tag=None):
        return "%s/serial-%s.log" % (self.work, tag or self.tag)

    def qmp(self, tag=None):
        return Qmp("%s/qmp-%s.sock" % (self.work, tag or self.tag))

    def start(self, tag, incoming=None):
        argv = peer_argv(self.template, self.work, tag, self.nbd_socket)
        if incoming:
            argv += ["-incoming", incoming]
        with open("%s/qemu-%s.log" % (self.work, tag), "wb") as log:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                 start_new_session=True)
        with open(self.work + "/pids", "a") as f:
            f.write("%d\n" % p.pid)
        return p


def peer_boot(args):
    """peer-boot WORK TEMPLATE NBD_SOCKET: starts the peer's first QEMU and waits for the workload."""
    work, template_file, nbd_socket = args
    peer = Peer(work, template_file, nbd_socket)
    with open(work + "/argv", "w") as f:
        f.write(" ".join(peer_argv(peer.template, work, "0", nbd_socket)) + "\n")
    t = time.monotonic()
    peer.start("0")
    peer.save("0")
    seq = wait_seq(peer.serial(), 0, 300)
    print("peer guest: workload at seq %d, %.0f s after QEMU started" % (seq, time.monotonic() - t), flush=True)


def peer_qmp(args):
    """peer-qmp WORK TEMPLATE NBD_SOCKET stop|cont|quit|seq: to the peer's current QEMU."""
    work, template_file, nbd_socket, command = args
    peer = Peer(work, template_file, nbd_socket)
    if command == "seq":
        print(last_seq(peer.serial()))
        return
    qmp = peer.qmp()
    try:
        qmp.execute(command)
        if command in ("stop", "cont"):
            want = "running" if command == "cont" else "paused"
            while qmp.execute("query-status")["status"] != want:
                time.sleep(0.01)
    except ConnectionError:
        if command != "quit":
            raise
    qmp.close()


def peer_round(args):
    """peer-round WORK TEMPLATE NBD_SOCKET ROUND OUT_JSONL BANDWIDTH DOWNTIME_MS AUTO_CONVERGE: one migration."""
    work, template_file, nbd_socket, r, out_path, bandwidth, downtime_ms, auto_converge = args
    r, bandwidth, downtime_ms = int(r), int(bandwidth), int(downtime_ms)
    peer = Peer(work, template_file, nbd_socket)
    source_tag, tag = peer.tag, str(r)
    source_qmp = peer.qmp(source_tag)
    seq = last_seq(peer.serial(source_tag))
    uri = "tcp:127.0.0.1:%d" % free_port()
    wall_start = time.time()
    t0 = time.monotonic()
    peer.start(tag, uri)                                             # 1. the destination QEMU
    dest_qmp = peer.qmp(tag)                                         #    ... answers on QMP
    t_ready = time.monotonic()
    source_qmp.execute("migrate-set-capabilities", {"capabilities": [  # 2. the same parameters as ours
        {"capability": "events", "state": True},
        {"capability": "auto-converge", "state": auto_converge == "true"}]})
    source_qmp.execute("migrate-set-parameters", {"max-bandwidth": bandwidth, "downtime-limit": downtime_ms})
    dest_qmp.execute("migrate-set-capabilities", {"capabilities": [{"capability": "events", "state": True}]})
    source_qmp.events.clear()
    dest_qmp.events.clear()
    t_migrate = time.monotonic()
    source_qmp.execute("migrate", {"uri": uri})                      # 3. migrate, until QEMU's completion event
    event = source_qmp.wait_event(lambda e: e["event"] == "STOP" or (e["event"] == "MIGRATION" and e["data"]["status"]
                                  in ("failed", "cancelled")), 600)
    if event["event"] != "STOP":
        raise SystemExit("peer: migration %d %s" % (r, event["data"]["status"]))
    stop = event
    event = source_qmp.wait_event(lambda e: e["event"] == "MIGRATION" and e["data"]["status"]
                                  in ("completed", "failed", "cancelled"), 600)
    t_completed = time.monotonic()
    if event["data"]["status"] != "completed":
        raise SystemExit("peer: migration %d %s" % (r, event["data"]["status"]))
    resume = dest_qmp.wait_event(lambda e: e["event"] == "RESUME", 60)  # 4. the destination runs the guest
    t_running = time.monotonic()                                        #    (no -S: QEMU continues it itself)
    wall_end = time.time()
    while True:  # QEMU fills in total-time and downtime just after it announces 'completed'
        info = source_qmp.execute("query-migrate")
        if info.get("total-time", 0) > 0:
            break
        time.sleep(0.005)
    total_ms = (t_running - t0) * 1000
    peer.save(tag)
    try:
        source_qmp.execute("quit")
    except ConnectionError:
        pass
    source_qmp.close()
    after = wait_seq(peer.serial(tag), seq, 60)
    dest_qmp.close()
    qemu_total = info["total-time"]
    row = {"round": r, "wallStart": wall_start, "wallEnd": wall_end,
           "totalMillis": round(total_ms), "qemuTotalMillis": qemu_total,
           "qemuDowntimeMillis": info.get("downtime", 0), "qemuSetupMillis": info.get("setup-time", 0),
           "overheadMillis": round(total_ms - qemu_total),
           "pauseMillis": round((event_time(resume) - event_time(stop)) * 1000),
           "stepMillis": {"1-destination": round((t_ready - t0) * 1000),
                          "2-parameters": round((t_migrate - t_ready) * 1000),
                          "3-qemu": round((t_completed - t_migrate) * 1000),
                          "4-running": round((t_running - t_completed) * 1000)},
           "transferredBytes": info.get("ram", {}).get("transferred", 0),
           "passes": info.get("ram", {}).get("dirty-sync-count", 0),
           "seqBefore": seq, "seqAfter": after}
    with open(out_path, "a") as out:
        out.write(json.dumps(row) + "\n")
    print("  peer %2d: total %5d ms, QEMU %5d ms, downtime %4d ms, overhead %4d ms, paused %4d ms, seq %d -> %d "
          "(steps: destination %d, parameters %d, qemu %d, running %d)" % (
              r, row["totalMillis"], qemu_total, row["qemuDowntimeMillis"], row["overheadMillis"], row["pauseMillis"],
              seq, after, *row["stepMillis"].values()), flush=True)


# ---------------------------------------------------------------- report
def acks(path):
    rows = []
    with open(path) as f:
        for line in f:
            t, seq = line.split()
            rows.append((float(t), int(seq)))
    rows.sort()
    return rows


def stall(ack_rows, start, end):
    """The longest wait between two workload acknowledgements around [start, end]."""
    before = [t for t, _ in ack_rows if t < start]
    inside = [t for t, _ in ack_rows if start <= t <= end]
    after = [t for t, _ in ack_rows if t > end]
    times = before[-1:] + inside + after[:1]
    gaps = [b - a for a, b in zip(times, times[1:])]
    return max(gaps) * 1000 if gaps else float("nan")


def baseline_gap(ack_rows, windows):
    """The median wait between acknowledgements away from the migrations (2 s around each left out)."""
    times = [t for t, _ in ack_rows]
    gaps = []
    for a, b in zip(times, times[1:]):
        if not any(s - 2 <= b and a <= e + 2 for s, e in windows):
            gaps.append((b - a) * 1000)
    return statistics.median(gaps) if gaps else float("nan")


def p90(values):
    values = sorted(values)
    return values[max(0, -(-9 * len(values) // 10) - 1)]  # nearest rank


def report(args):
    ours_path, peer_path, ours_acks, peer_acks, overhead_goal, downtime_goal = args
    overhead_goal, downtime_goal = float(overhead_goal), float(downtime_goal)
    ours = [json.loads(l) for l in open(ours_path) if l.strip()]
    theirs = [json.loads(l) for l in open(peer_path) if l.strip()]
    oa, pa = acks(ours_acks), acks(peer_acks)
    for rows, a in ((ours, oa), (theirs, pa)):
        for row in rows:
            row["stallMillis"] = stall(a, row["wallStart"], row["wallEnd"])
    columns = [("totalMillis", "total"), ("qemuTotalMillis", "QEMU migration"), ("overheadMillis", "overhead"),
               ("qemuDowntimeMillis", "QEMU downtime"), ("pauseMillis", "paused"), ("stallMillis", "guest stall")]

    print("\nper migration (ms)      fivenines (agent-driven)                   | peer (plain QEMU over QMP)")
    print("%-5s %-6s %7s %6s %6s %5s %6s %6s %7s | %7s %6s %6s %5s %6s %6s" % (
        "round", "dir", "total", "QEMU", "overhd", "down", "paused", "stall", "CLI", "total", "QEMU", "overhd", "down",
        "paused", "stall"))
    for i in range(max(len(ours), len(theirs))):
        o = ours[i] if i < len(ours) else None
        p = theirs[i] if i < len(theirs) else None
        left = "%-5d %-6s %7d %6d %6d %5d %6s %6.0f %7d" % (
            i + 1, o["direction"], o["totalMillis"], o["qemuTotalMillis"], o["overheadMillis"], o["qemuDowntimeMillis"],
            "-" if o.get("pauseMillis") is None else "%d" % o["pauseMillis"], o["stallMillis"], o["cliMillis"]) \
            + ("!" if o.get("workloadStopped") else " ") if o else " " * 59
        right = "%7d %6d %6d %5d %6d %6.0f" % (p["totalMillis"], p["qemuTotalMillis"], p["overheadMillis"],
                                                p["qemuDowntimeMillis"], p["pauseMillis"], p["stallMillis"]) if p else ""
        print(left + "| " + right)
    if any(r.get("workloadStopped") for r in ours):
        print("  ! the workload stopped after this migration (see below)")
    print("  total: ours from MigrateVm 'begin' to 'complete' committed (the agent's totalMillis); the peer's from starting")
    print("    the destination QEMU to its RESUME event. overhd = total - QEMU's total-time. down = QEMU's downtime figure.")
    print("  paused: source STOP to destination RESUME (ours: the agents' events.log; peer: QMP event timestamps): how long")
    print("    the guest really stood still. Our destination waits with -S until the switch-over step continues it.")
    print("  stall: the longest wait between two workload acknowledgements on the serial console around the migration")
    print("    (otherwise the median wait is %.0f ms on ours, %.0f ms on the peer's disk)." % (
        baseline_gap(oa, [(r["wallStart"], r["wallEnd"]) for r in ours]),
        baseline_gap(pa, [(r["wallStart"], r["wallEnd"]) for r in theirs])))
    print("  CLI: wall time of 'nines vm migrate' (a new JVM), of which the migration began after %.0f ms (median)." % (
        statistics.median(r["cliToBeginMillis"] for r in ours)))

    print("\nsummary over %d + %d migrations (ms)" % (len(ours), len(theirs)))
    print("%-16s %9s %9s %9s %9s %9s %9s %9s" % ("", "ours p50", "ours p90", "ours max", "peer p50", "peer p90",
                                                 "peer max", "ours/peer"))
    for key, label in columns:
        o = [r[key] for r in ours if r.get(key) is not None]
        p = [r[key] for r in theirs if r.get(key) is not None]
        if not o or not p:
            continue
        om, pm = statistics.median(o), statistics.median(p)
        ratio = "%8.2fx" % (om / pm) if pm else "        -"
        print("%-16s %9.0f %9.0f %9.0f %9.0f %9.0f %9.0f %s" % (label, om, p90(o), max(o), pm, p90(p), max(p), ratio))
    o = [r["cliMillis"] for r in ours]
    print("%-16s %9.0f %9.0f %9.0f" % ("CLI wall", statistics.median(o), p90(o), max(o)))
    print("  (p50 = median, p90 = nearest rank; ratio of the medians)")

    print("\nwhere our time goes: per step (ms), over %d migrations" % len(ours))
    print("  %-16s %7s %7s %7s" % ("step", "p50", "min", "max"))
    steps = {}
    for r in ours:
        for k, v in r["stepMillis"].items():
            steps.setdefault(k, []).append(v)
    for k in sorted(steps, key=lambda s: float(s.split("-", 1)[0])):
        note = {"cleanup": "   (after 'complete': not in the total)",
                "qemu": "   (QEMU's total-time p50 %.0f; the rest: setting parameters, polling every 100 ms)"
                        % statistics.median(r["qemuTotalMillis"] for r in ours)}.get(k.split("-", 1)[1], "")
        print("  %-16s %7.0f %7d %7d%s" % (k, statistics.median(steps[k]), min(steps[k]), max(steps[k]), note))
    print("  peer, per step (ms):")
    psteps = {}
    for r in theirs:
        for k, v in r["stepMillis"].items():
            psteps.setdefault(k, []).append(v)
    for k in sorted(psteps):
        print("  %-16s %7.0f %7d %7d" % (k, statistics.median(psteps[k]), min(psteps[k]), max(psteps[k])))

    om = statistics.median(r["overheadMillis"] for r in ours)
    dm = statistics.median(r["qemuDowntimeMillis"] for r in ours)
    pauses = [r["pauseMillis"] for r in ours if r.get("pauseMillis") is not None]
    ppauses = [r["pauseMillis"] for r in theirs]
    stopped = [r for r in ours if r.get("workloadStopped")]
    print()
    if stopped:
        print("THE WORKLOAD STOPPED after %d of %d migrations (it went on after 'vm resume'):" % (len(stopped), len(ours)))
        for r in stopped:
            print("  round %d %s: the VM was %s" % (r["round"], r["direction"], r["workloadStopped"]))
    else:
        print("the workload went on by itself after every migration (%d of %d)" % (len(ours), len(ours)))
    print("overhead <= %.0f ms: %s (ours: median %.0f ms, max %d ms; peer median %.0f ms)" % (
        overhead_goal, "met" if om <= overhead_goal else "not met", om, max(r["overheadMillis"] for r in ours),
        statistics.median(r["overheadMillis"] for r in theirs)))
    print("downtime <= %.0f ms: %s by QEMU's figure (ours: median %.0f ms, max %d ms; peer median %.0f ms);" % (
        downtime_goal, "met" if dm <= downtime_goal else "not met", dm, max(r["qemuDowntimeMillis"] for r in ours),
        statistics.median(r["qemuDowntimeMillis"] for r in theirs)))
    if pauses:
        pm = statistics.median(pauses)
        print("                    %s by the time the guest stood still (ours: median %.0f ms, max %d ms; peer median %.0f ms)" % (
            "met" if pm <= downtime_goal else "not met", pm, max(pauses), statistics.median(ppauses)))
    if stopped:
        sys.exit("FAILED: a migrated guest paused (or its workload stopped) in %d of %d rounds" % (len(stopped), len(ours)))


if __name__ == "__main__":
    command, rest = sys.argv[1], sys.argv[2:]
    commands = {"watch": lambda: watch(rest[0], rest[1:]), "peer-boot": lambda: peer_boot(rest),
                "peer-qmp": lambda: peer_qmp(rest), "peer-round": lambda: peer_round(rest), "report": lambda: report(rest)}
    if command not in commands:
        raise SystemExit("unknown command " + command)
    commands[command]()
