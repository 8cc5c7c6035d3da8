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
        let nrOpen = number(in: "/proc/sys/fs/nr_open") ?? 1_048_576
        return DeviceCapacity(memoryMB: memoryKB / 1024, cpus: cpus, pidMax: pidMax, openFilesMax: nrOpen)
    }

    /// Why a user other than the owner could not reach `path`: the first folder on the way that
    /// others may not traverse, or nil when every folder lets them through.
    public static func traversalProblem(_ path: String) -> String? {
        var current = ""
        for component in path.split(separator: "/") {
            current += "/\(component)"
            var info = stat()
            guard stat(current, &info) == 0 else { return nil }
            let isDirectory = (info.st_mode & S_IFMT) == S_IFDIR
            if isDirectory && info.st_mode & 0o001 == 0 {
                return "\(current) is mode \(String(info.st_mode & 0o7777, radix: 8)), which other users cannot traverse"
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
