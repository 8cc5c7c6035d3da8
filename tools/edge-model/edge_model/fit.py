"""`edge-model fit`: measures each variant of a model on the device, through the agent, under its
caps, and writes the deployment with the limits that held (docs/models.md).

For each variant: a baseline trial under generous limits (the accuracy, the memory peak), a
search for the smallest memoryMB that holds (fit_search.Bisection), the cpus for a latency
target, the pids seen plus a margin, and a run that verifies the limits together."""

import json
import os
import sys
from pathlib import Path

from edge_model import fit_broker, fit_deployment, fit_edgectl, fit_plots, fit_report, fit_search, fit_task
from edge_model import fit_trial
from edge_model.fit_trial import Device

# pids while memory and cpus are searched: generous, so only memory decides; the pids to deploy
# come from the peak seen.
SEARCH_PIDS = 1024
DEFAULT_CEILING_MB = 1024


def add_parser(commands):
    command = commands.add_parser(
        "fit", help="measures variants on the device through the agent and writes the deployment with the limits that held",
        description="Deploys each variant of a function on a thing, drives the task's requests through MQTT, and "
                    "searches the smallest memoryMB without an OOM kill (plus a margin), the cpus for a latency "
                    "target and the pids it needs; writes report.md, report.json, plots and deployment.json "
                    "(the chosen variant with its limits). See docs/models.md.")
    command.add_argument("--deployment", required=True, metavar="FILE", help="the function's deployment document")
    command.add_argument("--function", required=True, metavar="NAME", help="the function in it to fit")
    command.add_argument("--variants", metavar="OUT", help="edge-model optimize's output folder (each folder but "
                         "refused/ is a variant); without it, the deployment as given is the only variant")
    command.add_argument("--variant", action="extend", nargs="+", metavar="NAME",
                         help="only these variants (several, or the flag repeated)")
    command.add_argument("--task", required=True, metavar="FILE", help="the fit task: requests(count), score(results, truths)")
    command.add_argument("--thing", required=True, metavar="T", help="the device's thing name")
    connection = command.add_argument_group("broker (as edgectl takes them; defaults from the EDGECTL_* variables)")
    connection.add_argument("--host", default=os.environ.get("EDGECTL_HOST", "localhost"), help="default localhost")
    connection.add_argument("--port", type=int, default=_int_env("EDGECTL_PORT"), help="default 1883, 8883 with --tls-ca")
    connection.add_argument("--tls-ca", metavar="FILE", default=os.environ.get("EDGECTL_TLS_CA"))
    connection.add_argument("--tls-cert", metavar="FILE", default=os.environ.get("EDGECTL_TLS_CERT"))
    connection.add_argument("--tls-key", metavar="FILE", default=os.environ.get("EDGECTL_TLS_KEY"))
    connection.add_argument("--username", default=os.environ.get("EDGECTL_USERNAME"))
    connection.add_argument("--password-file", metavar="FILE", default=os.environ.get("EDGECTL_PASSWORD_FILE"),
                            help="its first line is the password")
    command.add_argument("--sign", metavar="KEY", help="sign each trial's deployment (edgectl deploy --sign)")
    command.add_argument("--count", type=int, default=50, metavar="N", help="requests per trial (default 50)")
    command.add_argument("--hold", type=int, default=0, metavar="N",
                         help="after choosing, run the chosen variant under its limits for N requests and report "
                              "OOM kills, timeouts and round trips over the target (default 0: no such run)")
    command.add_argument("--latency-target-ms", type=float, metavar="MS",
                         help="the p99 round trip through MQTT the cpus must meet (default: cpus kept as deployed)")
    command.add_argument("--memory-margin", type=float, default=20.0, metavar="PCT",
                         help="added to the smallest memoryMB that held (default 20)")
    command.add_argument("--memory-floor", type=int, default=fit_search.AGENT_MIN_MEMORY_MB, metavar="MB",
                         help="the smallest memoryMB tried (default %d, the agent's least)" % fit_search.AGENT_MIN_MEMORY_MB)
    command.add_argument("--memory-ceiling", type=int, metavar="MB",
                         help="the largest memoryMB tried (default: the deployment's, else %d)" % DEFAULT_CEILING_MB)
    command.add_argument("--memory-step", type=int, default=4, metavar="MB", help="the memory search's precision (default 4)")
    ladder = ",".join("%g" % c for c in fit_search.CPU_LADDER)
    command.add_argument("--cpus-ladder", default=ladder, metavar="LIST",
                         help="the cpus tried for --latency-target-ms (default %s)" % ladder)
    command.add_argument("--choose", metavar="NAME", help="the variant to write the deployment for "
                         "(default: the smallest memory within 1 point of the best accuracy)")
    command.add_argument("--out", metavar="DIR", help="where the report goes (default fit-FUNCTION/)")
    command.add_argument("--edgectl", metavar="PATH", help="the edgectl binary (default: on PATH)")
    command.add_argument("--deploy-timeout", type=int, default=120, metavar="S",
                         help="seconds a deployment may take (default 120)")
    command.set_defaults(run=run)


def _int_env(name):
    value = os.environ.get(name)
    return int(value) if value and value.isdigit() else None


def run(arguments):
    try:
        return Fit(arguments).run()
    except (fit_deployment.DeploymentError, fit_edgectl.EdgectlError, fit_broker.BrokerError) as error:
        print("edge-model fit: %s" % error, file=sys.stderr)
        return 2
    except OSError as error:  # a file given that cannot be read: --password-file, --tls-*, an artifact
        print("edge-model fit: %s%s" % (error.strerror or error, ": %s" % error.filename if error.filename else ""),
              file=sys.stderr)
        return 2
    except fit_task.TaskFailure as error:
        print("edge-model fit: %s" % error, file=sys.stderr)
        return 2


class Fit:
    def __init__(self, arguments):
        self.args = arguments
        if arguments.hold < 0:
            raise fit_deployment.DeploymentError("--hold must be 0 or more, got %d" % arguments.hold)
        if arguments.count < 1:
            raise fit_deployment.DeploymentError("--count must be at least 1, got %d" % arguments.count)
        self.document, self.example_dir = fit_deployment.load(arguments.deployment)
        self.spec = fit_deployment.function_spec(self.document, arguments.function)
        self.task = fit_task.load(arguments.task)
        if arguments.variants:
            self.variants = fit_deployment.variants(arguments.variants, arguments.variant)
        else:
            self.variants = [fit_deployment.Variant("deployment", None, {})]
        if arguments.choose and arguments.choose not in [v.name for v in self.variants]:
            raise fit_deployment.DeploymentError("--choose %s: no such variant (there: %s)"
                                                 % (arguments.choose, ", ".join(v.name for v in self.variants)))
        self.out = Path(arguments.out or "fit-%s" % arguments.function).resolve()
        try:
            self.ladder = sorted(float(c) for c in arguments.cpus_ladder.split(","))
        except ValueError:
            raise fit_deployment.DeploymentError("--cpus-ladder %r: give numbers separated by commas" % arguments.cpus_ladder)
        limits = self.spec.get("limits") or {}
        self.ceiling = arguments.memory_ceiling or limits.get("memoryMB") or DEFAULT_CEILING_MB
        self.cpus = limits.get("cpus")
        try:
            fit_search.memory_candidates(arguments.memory_floor, self.ceiling, arguments.memory_step)
        except ValueError as error:
            raise fit_deployment.DeploymentError("%s (--memory-floor, --memory-ceiling, --memory-step)" % error)
        port = arguments.port or (8883 if arguments.tls_ca else 1883)
        self.connection = fit_broker.Connection(arguments.host, port, arguments.tls_ca, arguments.tls_cert,
                                                arguments.tls_key, arguments.username, arguments.password_file)

    def run(self):
        args = self.args
        edgectl = fit_edgectl.find(args.edgectl)
        if fit_plots.missing():
            raise fit_deployment.DeploymentError(fit_plots.missing())
        (self.out / "trials").mkdir(parents=True, exist_ok=True)
        for stale in (self.out / "trials").glob("trial-*.json"):  # an earlier run's, in the same --out
            stale.unlink()
        requests = self.task.requests(args.count)
        session = fit_broker.DeviceSession(self.connection, args.thing,
                                           fit_deployment.results_topic(self.spec, args.thing, args.function)).start()
        try:
            first_revision = max(session.retained_revision(), int(self.document.get("revision", 0)))
            device = Device(session, edgectl, self.connection, args.thing, args.function, self.out / "trials",
                            first_revision, args.deploy_timeout, args.sign)
            results = []
            for variant in self.variants:
                print("variant %s (%s)" % (variant.name, ", ".join(sorted(variant.files)) or "as deployed"))
                results.append(self.fit_variant(device, variant, requests))
            return self.write(device, results)  # in the session: --hold drives the chosen variant
        finally:
            session.close()

    def fit_variant(self, device, variant, requests):
        args = self.args
        document = fit_deployment.with_variant(self.document, args.function, variant) if variant.files else self.document
        result = {"name": variant.name, "files": sorted(variant.files), "fits": False, "verified": False,
                  "sizeBytes": variant.size_bytes() if variant.files else None, "trials": []}

        def trial(purpose, limits, target=None, stop=True):
            done = device.run(document, variant.name, purpose, limits, self.task, requests, target, stop)
            result["trials"].append(done.number)
            return done

        baseline = trial("baseline", {"memoryMB": self.ceiling, "cpus": self.cpus, "pids": SEARCH_PIDS}, stop=False)
        result["accuracy"] = baseline.score
        result["peakMemoryMB"] = _mb(baseline.peak_memory_bytes)
        if not baseline.passed:
            fix = " (over what the device has: lower --memory-ceiling)" if baseline.refused_limit == "memoryMB" \
                else " (raise --memory-ceiling)" if baseline.oom_kills else ""
            result["reason"] = "does not fit at the ceiling, memoryMB %d: %s%s" % (self.ceiling, baseline.verdict, fix)
            return result
        passing = [baseline]

        # memoryMB: bisect from the floor to the ceiling, trying the peak seen first.
        candidates = fit_search.memory_candidates(args.memory_floor, self.ceiling, args.memory_step)
        search = fit_search.Bisection(candidates, fit_search.memory_probe(baseline.peak_memory_bytes, candidates))
        search.record(self.ceiling, True)
        while True:
            size = search.next()
            if size is None:
                break
            done = trial("memory", {"memoryMB": size, "cpus": self.cpus, "pids": SEARCH_PIDS})
            search.record(size, done.passed)
            if done.passed:
                passing.append(done)
        minimum = search.result()
        # Never above the ceiling, which the baseline showed the device grants and the function fits.
        memory = min(fit_search.with_margin(minimum, args.memory_margin, args.memory_step), self.ceiling)
        result.update(minimumMemoryMB=minimum, memoryMB=memory)

        # cpus: the smallest rung of the ladder whose p99 meets the target, if one is given.
        cpus = self.cpus
        rungs = list(self.ladder)  # what the device takes, once a refusal has capped the ladder
        if args.latency_target_ms is not None:
            ladder = fit_search.Bisection(self.ladder)
            rungs = ladder.candidates
            while True:
                rung = ladder.next()
                if rung is None:
                    break
                done = trial("cpus", {"memoryMB": memory, "cpus": rung, "pids": SEARCH_PIDS}, args.latency_target_ms)
                if done.refused_limit == "cpus":
                    ladder.cap(rung)
                    continue
                ladder.record(rung, done.passed)
                if done.status == "SUCCEEDED" and not done.oom_kills:
                    passing.append(done)  # its pids and memory peak count, whatever its latency
            cpus = ladder.result()
            if cpus is None:
                result["reason"] = "no cpus of the ladder (up to %g) met the p99 target of %g ms" % (
                    ladder.candidates[-1] if ladder.candidates else 0, args.latency_target_ms)
                return result
        result["cpus"] = cpus

        # pids: the peak seen plus a margin; then all three limits verified together.
        peaks = [t.peak_pids for t in passing if t.peak_pids]
        pids = fit_search.pids_limit(max(peaks)) if peaks else (self.spec.get("limits") or {}).get("pids")
        for attempt in range(3):
            done = trial("verify", {"memoryMB": memory, "cpus": cpus, "pids": pids}, args.latency_target_ms, stop=False)
            if done.passed:
                break
            slow = (args.latency_target_ms is not None and done.status == "SUCCEEDED" and not done.errors
                    and not done.oom_kills and not done.pids_limit_hits and done.p(0.99) is not None
                    and done.p(0.99) > args.latency_target_ms)
            faster = [rung for rung in rungs if cpus is not None and rung > cpus]
            if done.pids_limit_hits and pids:
                pids *= 2
            elif slow and faster:
                # The search's rung met the target by a hair over its few requests: one rung up.
                cpus = faster[0]
            elif done.oom_kills and memory < self.ceiling:
                memory = min(fit_search.with_margin(memory, args.memory_margin, args.memory_step), self.ceiling)
            else:
                break
        result.update(memoryMB=memory, cpus=cpus, pids=pids, verified=done.passed, fits=done.passed,
                      p50Ms=_round(done.p(0.5)), p99Ms=_round(done.p(0.99)),
                      peakMemoryMB=_mb(max((t.peak_memory_bytes or 0) for t in passing + [done]) or None),
                      peakPids=max(peaks) if peaks else None)
        if done.score is not None:
            result["verifiedAccuracy"] = done.score
        if not done.passed:
            result["reason"] = "the limits found did not hold together: %s" % done.verdict
        return result

    def hold(self, device, document, variant, limits):
        """The chosen limits over a long run: every request answered, no OOM kill, no timeout (the
        function's deadline), and how many round trips went over the latency target."""
        print("hold: %s under %s for %d requests" % (variant, fit_trial.limits_text(limits), self.args.hold))
        done = device.run(document, variant, "hold", limits, self.task, self.task.requests(self.args.hold),
                          self.args.latency_target_ms, stop_on_failure=False)
        held = done.json()
        held["held"] = bool(done.passed and not done.oom_kills and not held["timeouts"]
                            and done.answered == len(done.round_trips) == self.args.hold and not done.errors)
        return held

    def write(self, device, results):
        args = self.args
        fitting = [{"name": r["name"], "accuracy": r.get("accuracy") or 0.0, "memoryMB": r["memoryMB"],
                    "cpus": r.get("cpus"), "sizeBytes": r.get("sizeBytes"), "p99Ms": r.get("p99Ms")}
                   for r in results if r["fits"]]
        try:
            chosen = fit_search.choose(fitting, args.choose)
        except ValueError as error:  # --choose named a variant that does not fit: the report still goes out
            print("edge-model fit: %s; no deployment written" % error, file=sys.stderr)
            chosen = None
        report = {
            "deployment": str(Path(args.deployment).resolve()), "function": args.function, "thing": args.thing,
            "task": str(self.task.path), "metric": self.task.metric, "count": args.count,
            "latencyTargetMs": args.latency_target_ms, "memoryMarginPercent": args.memory_margin,
            "memoryStepMB": args.memory_step, "memoryCeilingMB": self.ceiling,
            "chosen": chosen["name"] if chosen else None, "variants": results,
            "trials": [t.json() for t in device.trials],
        }
        if chosen:
            variant = next(v for v in self.variants if v.name == chosen["name"])
            row = next(r for r in results if r["name"] == chosen["name"])
            base = fit_deployment.with_variant(self.document, args.function, variant) if variant.files else self.document
            limits = {"memoryMB": row["memoryMB"], "cpus": row.get("cpus"), "pids": row.get("pids")}
            if args.hold:
                report["hold"] = self.hold(device, base, chosen["name"], limits)
            final = fit_deployment.with_limits(base, args.function, limits, self.document["deploymentId"],
                                               device.revision + 1)
            (self.out / "deployment.json").write_text(fit_deployment.as_written(final, None))
            report["deploymentWritten"] = str(self.out / "deployment.json")
            if self.example_dir:
                # The example's own form, for the repository: its folder as the placeholder again.
                (self.out / "deployment.template.json").write_text(fit_deployment.as_written(final, self.example_dir))
                report["deploymentTemplate"] = str(self.out / "deployment.template.json")
        last = next((t for t in reversed(device.trials) if t.status == "SUCCEEDED"), None)
        if last is not None:
            report["leftDeployed"] = {"trial": last.number, "deploymentId": last.deployment_id, "revision": last.revision}
        report["plots"] = fit_plots.draw(results, self.out, self.task.metric, args.latency_target_ms)
        (self.out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        (self.out / "report.md").write_text(fit_report.markdown(report))
        print()
        print(fit_report.summary(report))
        print("report: %s" % (self.out / "report.md"))
        return 0 if chosen else 1


def _mb(value):
    return None if not value else round(value / (1 << 20), 1)


def _round(value):
    return None if value is None else round(value, 2)
