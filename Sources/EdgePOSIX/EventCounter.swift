#if canImport(Glibc)
import Glibc
#endif
import CEdgeSpawn

/// An eventfd: a counter that any thread adds to, to wake the one thread that waits on it (an
/// `Inbox`'s reader on the reactor, an I/O lane's thread). Non-blocking and close-on-exec.
public struct EventCounter: ~Copyable, Sendable {
    /// The eventfd, readable while the count is not zero: for the reactor to watch.
    public let descriptor: FileDescriptor

    public init() throws(SystemError) {
        descriptor = FileDescriptor(taking: try systemCall("eventfd") { edge_eventfd() })
    }

    /// Adds one, which wakes the waiter. An eventfd write of 8 bytes fails only for a wrong
    /// descriptor or buffer, or with EAGAIN once the count would pass 2^64 - 2, which adding one
    /// per wake-up never reaches: each is a bug, so it stops the process rather than lose a wake-up.
    public func signal() {
        var one: UInt64 = 1
        do {
            let written = try withUnsafeBytes(of: &one) { (bytes) throws(SystemError) in try descriptor.write(bytes) }
            precondition(written == 8, "eventfd write of \(written) bytes")
        } catch {
            preconditionFailure("programmer error: \(error)")
        }
    }

    /// Reads the count and sets it back to zero; 0 when nothing was added since the last call.
    /// Fails only for a wrong descriptor or buffer, a bug that stops the process.
    @discardableResult
    public func reset() -> UInt64 {
        var count: UInt64 = 0
        do {
            _ = try withUnsafeMutableBytes(of: &count) { (bytes) throws(SystemError) in try descriptor.read(into: bytes) }
            return count
        } catch where error.errno == .wouldBlock {
            return 0
        } catch {
            preconditionFailure("programmer error: \(error)")
        }
    }

    /// Blocks until the count is not zero (or a signal interrupts the wait: then it returns
    /// early, and the caller looks and waits again). Throws what poll(2) reports (ENOMEM).
    public func wait() throws(SystemError) {
        _ = try Poll.wait(for: Int16(POLLIN), on: descriptor.rawValue, timeoutMs: -1)
    }
}
