#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import EdgePOSIX

/// A fresh directory under /tmp, removed with what is in it when the value goes.
final class TemporaryDirectory {
    let path: String

    init() {
        var template = Array("/tmp/edge-posix-test-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed: errno \(errno)")
        path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    deinit {
        do { try Files.removeTree(path) } catch { print("cannot remove \(path): \(error)") }
    }

    func sub(_ name: String) -> String { "\(path)/\(name)" }
}

/// The SystemError `body` throws, or nil. (Closures don't infer typed throws, so this takes any
/// error and insists it is a SystemError.)
func systemError(_ body: () throws -> Void) -> SystemError? {
    do {
        try body()
        return nil
    } catch let error as SystemError {
        return error
    } catch {
        Issue.record("expected a SystemError, got \(error)")
        return nil
    }
}

/// Writes one byte to `file`.
func writeByte(_ file: borrowing FileDescriptor, _ byte: UInt8 = UInt8(ascii: "x")) throws(SystemError) -> Int {
    var value = byte
    return try withUnsafeBytes(of: &value) { (buffer) throws(SystemError) in try file.write(buffer) }
}

/// A blocking pipe (Channels' read end is non-blocking, for the reactor).
func blockingPipe() -> Channels.Pipe {
    var fds: [CInt] = [-1, -1]
    precondition(pipe(&fds) == 0, "pipe failed: errno \(errno)")
    return Channels.Pipe(readEnd: FileDescriptor(taking: fds[0]), writeEnd: FileDescriptor(taking: fds[1]))
}

