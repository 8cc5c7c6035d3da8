#if canImport(Glibc)
import Glibc
#endif
import EdgeCore
import Synchronization

/// Writes the agent's own log lines to standard error: a timestamp, a level, a message and
/// `key=value` metadata, one line each, so they can be grepped and parsed.
public struct Logger: Sendable {
    /// Shared by every copy, so a level changed at run time (from the shadow) holds everywhere.
    private let threshold: Threshold
    public var metadata: [(String, String)] = []
    /// Where each line is kept as well, for `edgectl logs` (the agent's; nil for other tools).
    public let recent: RecentLines?

    public init(level: LogLevel, recent: RecentLines? = nil) {
        threshold = Threshold(level)
        self.recent = recent
    }

    public var level: LogLevel {
        get { LogLevel(rawValue: threshold.raw.load(ordering: .relaxed)) ?? .info }
        nonmutating set { threshold.raw.store(newValue.rawValue, ordering: .relaxed) }
    }

    private final class Threshold: Sendable {
        let raw: Atomic<Int>
        init(_ level: LogLevel) { raw = Atomic(level.rawValue) }
    }

    public func with(_ key: String, _ value: String) -> Logger {
        var copy = self
        copy.metadata.append((key, value))
        return copy
    }

    public func debug(_ message: @autoclosure () -> String, _ extra: (String, String)...) { log(.debug, message, extra) }
    public func info(_ message: @autoclosure () -> String, _ extra: (String, String)...) { log(.info, message, extra) }
    public func warning(_ message: @autoclosure () -> String, _ extra: (String, String)...) { log(.warning, message, extra) }
    public func error(_ message: @autoclosure () -> String, _ extra: (String, String)...) { log(.error, message, extra) }

    private func log(_ at: LogLevel, _ message: () -> String, _ extra: [(String, String)]) {
        guard at >= level else { return }
        var line = "\(Clock.iso8601()) \(at.name) \(message())"
        for (key, value) in metadata + extra {
            let quoted = value.contains(" ") || value.isEmpty ? "\"\(value)\"" : value
            line += " \(key)=\(quoted)"
        }
        recent?.append(line)
        line += "\n"
        var bytes = Array(line.utf8)
        // Raw on purpose: the log is where an error would be reported, so one writing it has
        // nowhere to go, and standard error is not a descriptor this code owns.
        bytes.withUnsafeMutableBytes { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }
}
