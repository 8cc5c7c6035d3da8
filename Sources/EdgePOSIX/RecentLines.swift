import Synchronization

/// The agent's own newest log lines, kept in memory (256 lines, 32 KiB at most)
/// so an operator can read them over MQTT (`edgectl logs THING`) without a shell on the device.
/// Each line has a sequence number, so a reader can ask for what came after the last it saw.
public final class RecentLines: Sendable {
    private struct Ring {
        var lines: [String] = []
        var bytes = 0
        /// The sequence number of `lines[0]`.
        var first = 0
    }

    private let ring = Mutex(Ring())
    public let maxLines: Int
    public let maxBytes: Int

    public init(maxLines: Int = 256, maxBytes: Int = 32 * 1024) {
        self.maxLines = maxLines
        self.maxBytes = maxBytes
    }

    public func append(_ line: String) {
        ring.withLock { ring in
            ring.lines.append(line)
            ring.bytes += line.utf8.count
            while ring.lines.count > maxLines || (ring.bytes > maxBytes && ring.lines.count > 1) {
                ring.bytes -= ring.lines.removeFirst().utf8.count
                ring.first += 1
            }
        }
    }

    /// The lines numbered from `after` on (all kept ones when nil), the number the next line will
    /// have, and whether lines after `after` were already dropped.
    public func lines(after: Int?) -> (lines: [String], next: Int, gap: Bool) {
        ring.withLock { ring in
            let next = ring.first + ring.lines.count
            guard let after else { return (ring.lines, next, false) }
            let start = max(after, ring.first)
            guard start < next else { return ([], next, false) }
            return (Array(ring.lines[(start - ring.first)...]), next, after < ring.first)
        }
    }
}
