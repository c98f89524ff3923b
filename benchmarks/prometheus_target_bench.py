# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark of hybridmon.monitoring.prometheus_target on a large file_sd file.

Scenarios, on a fresh file in a temporary directory:
  1. first write of N targets (one call),
  2. unchanged re-run with the same N targets (several runs; the file must keep its mtime),
  3. adding one target to the N-target file,
  4. M writers started at the same moment, each adding its own target to that file,
then the file is checked: every target written by any scenario must be in it.

How the module is run, and why: every call is a separate ``python prometheus_target.py ARGS.json``
process, the direct-invocation path of ``AnsibleModule`` (args file with ``ANSIBLE_MODULE_ARGS``),
with the collection importable through a temporary ``ansible_collections`` tree. That is the real
module code in a real interpreter, as on the Prometheus host: the measured time includes interpreter
start and imports, like a task does, and the concurrent writers are real processes contending for the
real ``flock``, which an in-process run could not show. What it leaves out is the controller side of
Ansible (templating, connection, AnsiballZ transfer and unzip), which does not depend on the module.
A baseline (interpreter start + ``import ansible.module_utils.basic``) is printed so the module's
own work can be read off as the difference.

Exit status: 0 when every call succeeded, no entry was lost and the median of the unchanged re-runs
took under --max-unchanged seconds (default 1.0); 1 otherwise. By default the goal applies to the CPU
time (user + system) of the module process: on a shared machine the wall-clock time measures the
other tenants as much as the module. ``--gate wall`` applies it to wall-clock time instead, for an
otherwise idle machine. Wall-clock min/median/max and CPU are printed either way; the median, not
the maximum, is the gate so that one scheduling hiccup does not decide the result.

Usage: .venv/bin/python benchmarks/prometheus_target_bench.py [--targets 10000] [--writers 50]
       [--format json|yaml] [--runs 5] [--keep]
"""

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODULE = os.path.join(REPO, "plugins", "modules", "prometheus_target.py")


class Runner:
    def __init__(self, python, workdir):
        self.python = python
        self.workdir = workdir
        coll_root = os.path.join(workdir, "collections")
        link = os.path.join(coll_root, "ansible_collections", "hybridmon", "monitoring")
        os.makedirs(os.path.dirname(link))
        os.symlink(REPO, link)
        self.env = dict(os.environ, PYTHONPATH=coll_root)
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)
        self.counter = 0

    def _args_file(self, args):
        self.counter += 1
        path = os.path.join(self.workdir, "args-%04d.json" % self.counter)
        payload = dict(args, _ansible_check_mode=False, _ansible_diff=False, _ansible_remote_tmp=self.workdir,
                       _ansible_keep_remote_files=False)
        with open(path, "w") as fh:
            json.dump({"ANSIBLE_MODULE_ARGS": payload}, fh)
        return path

    def start(self, args):
        """Start one module process; its output goes to files so no process ever waits on a pipe."""
        args_file = self._args_file(args)
        with open(args_file + ".out", "wb") as out, open(args_file + ".err", "wb") as err:
            proc = subprocess.Popen([self.python, MODULE, args_file], env=self.env, stdout=out, stderr=err)
        proc.args_file = args_file
        return proc

    @staticmethod
    def result(proc):
        with open(proc.args_file + ".out", "rb") as fh:
            out = fh.read()
        try:
            return json.loads(out.decode("utf-8").strip().splitlines()[-1])
        except (ValueError, IndexError):
            with open(proc.args_file + ".err", "rb") as fh:
                err = fh.read().decode("utf-8", "replace")
            return {"failed": True, "msg": "no JSON from module (rc=%s): %s" % (proc.returncode, err[-2000:])}

    @staticmethod
    def children_cpu():
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    def call(self, args):
        cpu = self.children_cpu()
        started = time.perf_counter()
        proc = self.start(args)
        proc.wait()
        elapsed = time.perf_counter() - started
        self.last_cpu = self.children_cpu() - cpu
        return elapsed, self.result(proc)

    def call_parallel(self, args_list):
        """Start all processes, then record each one's exit time as it happens."""
        ended = {}

        def waiter(index, proc):
            proc.wait()
            ended[index] = time.perf_counter()

        cpu = self.children_cpu()
        started = time.perf_counter()
        procs = [self.start(args) for args in args_list]
        threads = [threading.Thread(target=waiter, args=(i, p)) for i, p in enumerate(procs)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.last_cpu = self.children_cpu() - cpu
        return [(ended[i] - started, self.result(p)) for i, p in enumerate(procs)]

    def baseline(self):
        started = time.perf_counter()
        subprocess.run([self.python, "-c", "import ansible.module_utils.basic"], env=self.env, check=True)
        return time.perf_counter() - started


def check(result, label, problems):
    if result.get("failed"):
        problems.append("%s failed: %s" % (label, result.get("msg")))
        return False
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--targets", type=int, default=10000, help="size of the file (default 10000)")
    parser.add_argument("--writers", type=int, default=50, help="concurrent writers (default 50)")
    parser.add_argument("--format", choices=["json", "yaml"], default="json")
    parser.add_argument("--runs", type=int, default=5, help="unchanged re-runs to time (default 5)")
    parser.add_argument("--max-unchanged", type=float, default=1.0,
                        help="goal for the median unchanged re-run, in seconds (default 1.0)")
    parser.add_argument("--gate", choices=["cpu", "wall"], default="cpu",
                        help="which time the goal applies to: CPU time of the module process (default; "
                             "stable on a shared machine) or wall-clock time (use on an otherwise idle machine)")
    parser.add_argument("--python", default=sys.executable, help="interpreter that runs the module")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    opts = parser.parse_args()
    if opts.targets < 1 or opts.writers < 0 or opts.runs < 1:
        parser.error("--targets and --runs must be >= 1, --writers >= 0")

    workdir = tempfile.mkdtemp(prefix="prometheus-target-bench-")
    problems = []
    rows = []
    load = os.getloadavg()[0]
    try:
        runner = Runner(opts.python, workdir)
        sd_dir = os.path.join(workdir, "file_sd")
        os.mkdir(sd_dir)
        path = os.path.join(sd_dir, "bench." + ("json" if opts.format == "json" else "yml"))
        base = dict(path=path, job="bench", labels={"env": "prod", "dc": "seoul-1"})
        targets = ["host%05d.bench.example:9100" % i for i in range(opts.targets)]
        expected = set(targets)

        baseline = min(runner.baseline() for dummy in range(3))
        rows.append(("baseline: interpreter + ansible imports", "%.3f" % baseline, "-", "best of 3"))

        # 1. first write
        elapsed, res = runner.call(dict(base, targets=targets))
        if check(res, "first write", problems) and res.get("changed") is not True:
            problems.append("first write reported changed=%r" % res.get("changed"))
        rows.append(("first write (%d targets)" % opts.targets, "%.3f" % elapsed, res.get("changed"),
                     "CPU %.3f s; %s" % (runner.last_cpu, "%d bytes written" % os.path.getsize(path)
                                         if os.path.exists(path) else "no file")))

        # 2. unchanged re-runs: no write, mtime kept
        mtime = os.stat(path).st_mtime_ns if os.path.exists(path) else None
        times = []
        cpus = []
        changed_values = set()
        for i in range(opts.runs):
            elapsed, res = runner.call(dict(base, targets=targets))
            times.append(elapsed)
            cpus.append(runner.last_cpu)
            changed_values.add(res.get("changed"))
            if check(res, "unchanged re-run %d" % (i + 1), problems) and res.get("changed") is not False:
                problems.append("unchanged re-run %d reported changed=%r" % (i + 1, res.get("changed")))
        kept = mtime is not None and os.stat(path).st_mtime_ns == mtime
        if not kept:
            problems.append("unchanged re-runs modified the file")
        rows.append(("unchanged re-run (%d runs)" % opts.runs,
                     "%.3f" % statistics.median(times), "/".join(sorted(str(v) for v in changed_values)),
                     "min %.3f / median %.3f / max %.3f; CPU median %.3f s; mtime %s"
                     % (min(times), statistics.median(times), max(times), statistics.median(cpus),
                        "kept" if kept else "CHANGED")))
        gate_value = statistics.median(cpus if opts.gate == "cpu" else times)
        if gate_value > opts.max_unchanged:
            problems.append("unchanged re-run took %.3f s of %s time (median of %d), goal < %.1f s"
                            % (gate_value, opts.gate, opts.runs, opts.max_unchanged))

        # 3. one more target
        extra = "extra.bench.example:9100"
        expected.add(extra)
        elapsed, res = runner.call(dict(base, targets=[extra]))
        if check(res, "add one target", problems) and res.get("targets_added") != [extra]:
            problems.append("add one target reported targets_added=%r" % res.get("targets_added"))
        rows.append(("add one target (to %d)" % opts.targets, "%.3f" % elapsed, res.get("changed"),
                     "CPU %.3f s" % runner.last_cpu))

        # 4. concurrent writers, all started before any is waited for
        if opts.writers:
            writer_targets = ["writer%03d.bench.example:9100" % i for i in range(opts.writers)]
            expected.update(writer_targets)
            results = runner.call_parallel([dict(base, targets=[t]) for t in writer_targets])
            per = [r[0] for r in results]
            total = max(per)
            failed = 0
            for i, (dummy, res) in enumerate(results):
                if not check(res, "writer %d" % i, problems):
                    failed += 1
            rows.append(("%d concurrent writers" % opts.writers, "%.3f" % total,
                         "%d/%d" % (sum(1 for r in results if r[1].get("changed")), opts.writers),
                         "finished after min %.3f / median %.3f / max %.3f; CPU %.3f s in all; %d failed"
                         % (min(per), statistics.median(per), max(per), runner.last_cpu, failed)))

        # final content check
        final = set()
        with open(path) as fh:
            if opts.format == "json":
                groups = json.load(fh)
            else:
                import yaml
                groups = yaml.safe_load(fh)
        for group in groups:
            final.update(group["targets"])
        lost = sorted(expected - final)
        unexpected = sorted(final - expected)
        if lost:
            problems.append("%d entries lost, e.g. %s" % (len(lost), ", ".join(lost[:5])))
        if unexpected:
            problems.append("%d unexpected entries, e.g. %s" % (len(unexpected), ", ".join(unexpected[:5])))
        rows.append(("final file", "-", "-", "%d targets expected, %d present, %d lost"
                     % (len(expected), len(final & expected), len(lost))))
    finally:
        if opts.keep:
            print("kept %s" % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    version = subprocess.run([opts.python, "-c", "import ansible.release as r, sys; "
                              "print(r.__version__, sys.version.split()[0])"],
                             capture_output=True, text=True, check=False).stdout.split()
    print("prometheus_target benchmark: %d targets, %d writers, format %s, ansible-core %s, Python %s, %s, %d CPUs"
          % (opts.targets, opts.writers, opts.format, version[0] if version else "?",
             version[1] if len(version) > 1 else "?", platform.platform(terse=True), os.cpu_count() or 0))
    print("times are wall-clock seconds of whole module processes (python prometheus_target.py ARGS.json); "
          "CPU is user+system time of those processes; load average at start %.2f" % load)
    widths = [max(len(str(r[i])) for r in rows + [("scenario", "seconds", "changed", "notes")]) for i in range(4)]
    fmt = "  ".join("%%-%ds" % w for w in widths)
    print(fmt % ("scenario", "seconds", "changed", "notes"))
    print(fmt % tuple("-" * w for w in widths))
    for row in rows:
        print(fmt % tuple(str(c) for c in row))
    if problems:
        print("\nFAIL:")
        for p in problems:
            print("  - " + p)
        return 1
    print("\nPASS: no entry lost; unchanged re-run (median %s time) under %.1f s" % (opts.gate, opts.max_unchanged))
    return 0


if __name__ == "__main__":
    sys.exit(main())
