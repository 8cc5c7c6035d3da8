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
        // Without root the agent cannot raise a child's hard limit above its own.
        var own = rlimit()
        if geteuid() != 0, getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &own) == 0, own.rlim_max < UInt64(nrOpen) { nrOpen = Int(own.rlim_max) }
        return DeviceCapacity(memoryMB: memoryKB / 1024, cpus: cpus, pidMax: pidMax, openFilesMax: nrOpen)
    }

    /// Why a user other than the owner could not use `path`: the first folder on the way (after
    /// symbolic links are resolved) that others may not traverse, or the file itself when others
    /// may not `need` it ("r" to read, "x" to execute); nil when nothing is in the way.
    public static func traversalProblem(_ path: String, need: String = "") -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        let target = String(cString: resolved)
        free(resolved)
        var current = ""
        for component in target.split(separator: "/") {
            current += "/\(component)"
            var info = stat()
            guard stat(current, &info) == 0 else { return nil }
            let mode = info.st_mode & 0o7777
            if (info.st_mode & S_IFMT) == S_IFDIR {
                if mode & 0o001 == 0 { return "\(current) is mode \(String(mode, radix: 8)), which other users cannot traverse" }
            } else {
                if need.contains("r") && mode & 0o004 == 0 { return "\(current) is mode \(String(mode, radix: 8)), which other users cannot read" }
                if need.contains("x") && mode & 0o001 == 0 { return "\(current) is mode \(String(mode, radix: 8)), which other users cannot execute" }
            }
        }
        return nil
    }

    static func meminfoValue(_ key: String) -> Int? {
        guard let bytes = try? Files.read("/proc/meminfo", maxBytes: 1 << 16) else { return nil }
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") where line.hasPrefix("\(key):") {
            return line.split(separator: " ").dropFirst().first.flatMap { Int($0) }
        }
        return nil
    }

    static func number(in path: String) -> Int? {
        guard let bytes = try? Files.read(path, maxBytes: 4096) else { return nil }
        return Int(String(decoding: bytes, as: UTF8.self).split(separator: "\n").first ?? "")
    }
}
