#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import EdgeCgroups
import EdgeCore
import EdgePOSIX

extension Tag {
    /// Tests that create cgroups in the running kernel's hierarchies (root only).
    @Tag static var realKernel: Self
}

/// A fresh directory under /tmp, laid out by each test like cgroupfs, removed when the value goes.
final class FakeCgroupfs {
    let path: String

    init() {
        var template = Array("/tmp/edge-cgroups-test-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed: errno \(errno)")
        path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    deinit {
        try? Files.removeTree(path)
    }

    /// The path of `relative` below the directory.
    func at(_ relative: String) -> String { relative.isEmpty ? path : "\(path)/\(relative)" }

    /// Writes a file below the directory, creating its folders.
    func put(_ relative: String, _ text: String) {
        let file = at(relative)
        do {
            try Files.makeDirectories(Files.parent(of: file))
            try Files.writeAtomically(file, Array(text.utf8), mode: 0o644)
        } catch {
            Issue.record("cannot write \(file): \(error)")
        }
    }

    func makeDirectory(_ relative: String) {
        do { try Files.makeDirectories(at(relative)) } catch { Issue.record("cannot create \(at(relative)): \(error)") }
    }
}

/// A file's contents, or nil when it cannot be read.
func contents(_ path: String) -> String? {
    guard let bytes = try? Files.read(path) else { return nil }
    return String(decoding: bytes, as: UTF8.self)
}

/// A value of the environment, or nil.
func environment(_ name: String) -> String? {
    getenv(name).map { String(cString: $0) }
}

/// A child process a test started. `end()` kills and reaps it unless `wait` already reaped it,
/// so a pid is never signalled after it may have been reused: call it from a `defer`.
final class Child {
    let pid: pid_t
    private var reaped = false

    /// Starts `executable` with `arguments`, joining the cgroups of `joining` (closed here,
    /// whatever happens).
    init(_ executable: String, _ arguments: [String], joining: consuming FileDescriptorList = FileDescriptorList()) throws {
        let devNull = try FileDescriptor.open("/dev/null", O_WRONLY)
        // Quiet: a shell's "Cannot fork" is expected where a test hits a limit.
        var request = SpawnRequest(executable: executable, arguments: arguments, environment: ["PATH=/usr/bin:/bin"],
                                   workingDirectory: "/", stdout: devNull.rawValue, stderr: devNull.rawValue, runtimeChannel: -1)
        request.cgroupProcsFDs = joining.rawValues
        pid = try Spawner.spawn(request)
    }

    /// How the child ended: its exit code, or 128 + the signal that killed it. Waits at most
    /// `timeoutMs`, then records an issue, kills it and waits for that.
    @discardableResult
    func wait(timeoutMs: Int64 = 5000) -> Int32 {
        let deadline = Clock.monotonicMs() + timeoutMs
        var status: Int32 = 0
        while !reaped {
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid { break }
            if result < 0 && errno != EINTR {
                reaped = true
                Issue.record("waitpid \(pid) failed: errno \(errno)")
                return -1
            }
            if Clock.monotonicMs() > deadline {
                Issue.record("process \(pid) did not end within \(timeoutMs) ms; killing it")
                kill(pid, SIGKILL)
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                break
            }
            pause(ms: 10)
        }
        reaped = true
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }

    /// Kills and reaps the child if it has not been reaped yet.
    func end() {
        guard !reaped else { return }
        reaped = true
        kill(pid, SIGKILL)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    }
}

func pause(ms: Int) {
    var interval = timespec(tv_sec: ms / 1000, tv_nsec: (ms % 1000) * 1_000_000)
    nanosleep(&interval, nil)
}

/// Polls `condition` every 10 ms for at most `timeoutMs`; true once it holds.
func eventually(timeoutMs: Int64 = 5000, _ condition: () -> Bool) -> Bool {
    let deadline = Clock.monotonicMs() + timeoutMs
    while !condition() {
        if Clock.monotonicMs() > deadline { return false }
        pause(ms: 10)
    }
    return true
}
