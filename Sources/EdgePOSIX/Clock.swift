#if canImport(Glibc)
import Glibc
#endif

/// Monotonic and wall-clock time, without Foundation.
public enum Clock {
    /// Milliseconds on the monotonic clock: for timeouts and durations.
    public static func monotonicMs() -> Int64 {
        monotonicNs() / 1_000_000
    }

    public static func monotonicNs() -> Int64 {
        // Not through systemCall: clock_gettime fails only for a clock id or a pointer that is wrong.
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }

    /// Milliseconds since the Unix epoch: for timestamps in documents.
    public static func wallMs() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }

    /// An ISO 8601 UTC timestamp with milliseconds, for log lines.
    public static func iso8601(ms: Int64 = wallMs()) -> String {
        var seconds = time_t(ms / 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(ms % 1000), 3))Z"
    }
}
