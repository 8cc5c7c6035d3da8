#if canImport(Glibc)
import Glibc
#endif
import EdgeCore

/// Reads what the device has, and what other users can reach, once at start.
public enum DeviceProbe {
    public static func capacity() -> DeviceCapacity {
        let memoryKB = meminfoValue("MemTotal") ?? 0
        let cpus = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        let pidMax = number(in: "/proc/sys/kernel/pid_max") ?? 32768
        var nrOpen = number(in: "/proc/sys/fs/nr_open") ?? 1_048_576
        // Without root the agent cannot raise a child's hard limit above its own. (getrlimit fails
        // only for a resource or a pointer that is wrong.)
        var own = rlimit()
        if geteuid() != 0, getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &own) == 0, own.rlim_max < UInt64(nrOpen) { nrOpen = Int(own.rlim_max) }
        return DeviceCapacity(memoryMB: memoryKB / 1024, cpus: cpus, pidMax: pidMax, openFilesMax: nrOpen)
    }

    /// Why a user other than the owner could not use `path`: the first folder on the way (after
    /// symbolic links are resolved) that others may not traverse, or the file itself when others
    /// may not `need` it ("r" to read, "x" to execute); nil when nothing is in the way.
    public static func traversalProblem(_ path: String, need: String = "") -> String? {
        let target: String
        do {
            let resolved = try systemCallReturningPointer("realpath", path: path) { realpath(path, nil) }
            target = String(cString: resolved)
            free(resolved)
        } catch {
            // Missing, or a folder on the way that this process cannot search either: the caller's
            // own open then fails with the reason, which names the path.
            return nil
        }
        var current = ""
        for component in target.split(separator: "/") {
            current += "/\(component)"
            let info: FileStatus
            do {
                info = try Files.status(current)
            } catch {
                // Vanished or unreadable since realpath: what blocks others is not this check's to tell.
                return nil
            }
            let mode = info.permissions
            if info.kind == .directory {
                if mode & 0o001 == 0 { return "\(current) is mode \(String(mode, radix: 8)), which other users cannot traverse" }
            } else {
                if need.contains("r") && mode & 0o004 == 0 { return "\(current) is mode \(String(mode, radix: 8)), which other users cannot read" }
                if need.contains("x") && mode & 0o001 == 0 { return "\(current) is mode \(String(mode, radix: 8)), which other users cannot execute" }
            }
        }
        return nil
    }

    /// Whether this process has capability `number` in its effective set (CapEff in /proc).
    public static func hasCapability(_ number: Int) -> Bool {
        guard let bytes = kernelFile("/proc/self/status", maxBytes: 1 << 16) else { return false }
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") where line.hasPrefix("CapEff:") {
            guard let mask = UInt64(line.dropFirst("CapEff:".count).trimmingCharacters(), radix: 16) else { return false }
            return mask & (1 << UInt64(number)) != 0
        }
        return false
    }

    /// CAP_SYS_RESOURCE: needed to set the limits of another user's process (prlimit).
    public static let capSysResource = 24

    static func meminfoValue(_ key: String) -> Int? {
        guard let bytes = kernelFile("/proc/meminfo", maxBytes: 1 << 16) else { return nil }
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") where line.hasPrefix("\(key):") {
            return line.split(separator: " ").dropFirst().first.flatMap { Int($0) }
        }
        return nil
    }

    /// A /proc or /sys file, nil when it cannot be read: a kernel or container without it, or a
    /// process that has exited. Every caller then falls back to a default or "unknown".
    static func kernelFile(_ path: String, maxBytes: Int) -> [UInt8]? {
        do {
            return try Files.read(path, maxBytes: maxBytes)
        } catch {
            return nil
        }
    }

    static func number(in path: String) -> Int? {
        guard let bytes = kernelFile(path, maxBytes: 4096) else { return nil }
        return Int(String(decoding: bytes, as: UTF8.self).split(separator: "\n").first ?? "")
    }
}

/// A process's own numbers from /proc/<pid>/stat.
public enum ProcessStat {
    /// User plus system CPU time of the process, in microseconds.
    public static func cpuTimeUsec(_ pid: pid_t) -> Int64? {
        guard let bytes = DeviceProbe.kernelFile("/proc/\(pid)/stat", maxBytes: 4096),
              let close = bytes.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        // After "(comm) ": field 3 is the state; utime and stime are fields 14 and 15.
        let fields = String(decoding: bytes[(close + 2)...], as: UTF8.self).split(separator: " ")
        guard fields.count > 12, let user = Int64(fields[11]), let system = Int64(fields[12]) else { return nil }
        let hz = Int64(sysconf(Int32(_SC_CLK_TCK)))
        return hz > 0 ? (user + system) * 1_000_000 / hz : nil
    }
}

extension Substring {
    func trimmingCharacters() -> String {
        String(drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }
}
