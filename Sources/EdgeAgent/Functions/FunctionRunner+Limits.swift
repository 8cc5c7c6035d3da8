#if canImport(Glibc)
import Glibc
#endif
import EdgeCgroups
import EdgeCore
import EdgePOSIX

/// What a function's cgroups and rlimits say: limits hit (events), usage (health), and the
/// reason an instance ended when a limit ended it.
extension FunctionRunner {
    /// Reads an ended instance's cgroup one last time (limits it hit, counters kept for health),
    /// removes the cgroup, and says which limit ended it, if one did.
    func retire(_ instance: FunctionProcess, status: ExitStatus) -> String? {
        var limitReason: String?
        if let cgroup = instance.cgroup {
            let final = cgroup.usage()
            report(instance.limitWatch.observe(final, atMs: Clock.monotonicMs()), of: instance, usage: final)
            retiredOomKills += final.oomKills ?? 0
            retiredPidsLimitHits += final.pidsLimitHits ?? 0
            if let peak = final.memoryPeakBytes { retiredMemoryPeak = max(retiredMemoryPeak ?? 0, peak) }
            if (final.oomKills ?? 0) > 0, let memory = spec.limits.memoryMB {
                limitReason = "was killed by the kernel's OOM killer at its memory limit (limits.memoryMB: \(memory) MB)"
            } else if let hits = final.pidsLimitHits, hits > 0, let pids = spec.limits.pids {
                limitReason = "\(status) after \(hits) fork\(hits == 1 ? "" : "s") failed at its process limit (limits.pids: \(pids))"
            }
            removeCgroup(cgroup)
        }
        return limitReason ?? rlimitReason(status)
    }

    /// The rlimit a signal says was hit, in the deployment's terms.
    func rlimitReason(_ status: ExitStatus) -> String? {
        switch status {
        case .signalled(SIGXCPU):
            return "used more CPU time than one invocation may (limits.cpuSeconds: \(spec.limits.cpuSeconds.map(String.init) ?? "?") s) and was killed by SIGXCPU (the kernel's RLIMIT_CPU)"
        case .signalled(SIGXFSZ):
            return "wrote a file past its size limit (limits.fileSizeMB: \(spec.limits.fileSizeMB.map(String.init) ?? "?") MB) and was killed by SIGXFSZ"
        default:
            return nil
        }
    }

    /// Removes an instance's cgroup once the kernel lets go of it (its last process has exited).
    func removeCgroup(_ cgroup: FunctionCgroup) {
        let path = cgroup.path
        janitor.remove(cgroup) { [logger] removed in
            if !removed { logger.warning("a function's cgroup could not be removed", ("cgroup", path)) }
        }
    }

    // MARK: Usage

    /// Reads every instance's cgroup and reports the limits hit since the last sample.
    func sampleUsage() {
        let now = Clock.monotonicMs()
        for instance in processes.values {
            guard let cgroup = instance.cgroup else { continue }
            let usage = cgroup.usage()
            report(instance.limitWatch.observe(usage, atMs: now), of: instance, usage: usage)
        }
    }

    func report(_ hits: [LimitHit], of instance: FunctionProcess, usage: ResourceUsage) {
        for hit in hits {
            switch hit {
            case .oomKilled(_, let total):
                handle(.limitHit("OOM-killed at its memory limit (limits.memoryMB: \(spec.limits.memoryMB.map(String.init) ?? "?") MB)"))
                announce(.oomKilled(memoryMB: spec.limits.memoryMB, oomKills: retiredOomKills + total, pid: instance.pid))
            case .pidsLimit(_, let total):
                announce(.pidsLimit(pids: spec.limits.pids, hits: retiredPidsLimitHits + total, current: usage.pids, pid: instance.pid))
            case .cpuThrottled(let percent, let window):
                announce(.cpuThrottled(cpus: spec.limits.cpus, throttledPercent: percent, windowSeconds: window, pid: instance.pid))
            }
        }
    }

    func announce(_ event: FunctionEvent) {
        delegate?.runner(self, event: event)
    }

    /// What the function's live instances use now, with the counters of replaced ones; nil
    /// without cgroups but for open descriptors.
    func usage() -> JSONValue {
        var total: ResourceUsage?
        var files: Int?
        for instance in processes.values {
            if let usage = instance.cgroup?.usage() { total = total.map { $0.adding(usage) } ?? usage }
            if let open = instance.openFiles { files = max(files ?? 0, open) }
        }
        var members = total?.json.objectValue ?? [:]
        if host.cgroups != nil {
            let peak = max(total?.memoryPeakBytes ?? 0, retiredMemoryPeak ?? 0)
            if peak > 0 {
                members["memoryPeakBytes"] = .int(peak)
            }
            if members["memoryLimitBytes"] == nil, let memory = spec.limits.memoryMB {
                members["memoryLimitBytes"] = .int(Int64(memory) << 20)
            }
            members["oomKills"] = .int(retiredOomKills + (total?.oomKills ?? 0))
            members["pidsLimitHits"] = .int(retiredPidsLimitHits + (total?.pidsLimitHits ?? 0))
        }
        if let files { members["openFiles"] = .int(Int64(files)) }
        return .object(members)
    }

}
