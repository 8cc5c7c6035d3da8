#if canImport(Glibc)
import Glibc
#endif
import EdgePOSIX
import Testing

/// Mosquitto on a free 127.0.0.1 port, restartable on the same port; stopped when the value goes.
final class TestBroker {
    static let executable: String? = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"].first { (path: String) in access(path, X_OK) == 0 }
    static var available: Bool { executable != nil }

    let port: UInt16
    private let folder: String
    private var pid: pid_t?

    init() throws {
        port = TestBroker.freePort()
        var template = Array("/tmp/edge-mqtt-test-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed: errno \(errno)")
        folder = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        let config = "listener \(port) 127.0.0.1\nallow_anonymous true\npersistence false\nuser root\nlog_dest none\n"
        try Files.writeAtomically("\(folder)/mosquitto.conf", Array(config.utf8), mode: 0o644)
        try start()
    }

    deinit {
        stop()
        do {
            try Files.removeTree(folder)
        } catch {
            // A test's leftover folder under /tmp, said so it can be found; nothing to fail here.
            print("TestBroker: cannot remove \(folder): \(error)")
        }
    }

    func start() throws {
        precondition(pid == nil, "the broker runs already")
        let devNull = open("/dev/null", O_WRONLY | O_CLOEXEC)
        defer { close(devNull) }
        let request = SpawnRequest(executable: TestBroker.executable!, arguments: ["-c", "\(folder)/mosquitto.conf"],
                                   environment: ["PATH=/usr/sbin:/usr/bin:/bin"], workingDirectory: "/",
                                   stdout: devNull, stderr: devNull, runtimeChannel: -1)
        pid = try Spawner.spawn(request)
        let deadline = Clock.monotonicMs() + 10_000
        while !TestBroker.accepts(port) {
            guard Clock.monotonicMs() < deadline else {
                stop()
                throw BrokerError("mosquitto did not listen on 127.0.0.1:\(port) within 10 s")
            }
            var pause = timespec(tv_sec: 0, tv_nsec: 10_000_000)
            nanosleep(&pause, nil)
        }
    }

    /// SIGTERM, and waits for it to end: its clients see the connection close.
    func stop() {
        guard let pid else { return }
        self.pid = nil
        kill(pid, SIGTERM)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    }

    private static func freePort() -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        precondition(fd >= 0)
        defer { close(fd) }
        var address = loopback(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        precondition(bound, "cannot bind a probe socket")
        return UInt16(bigEndian: address.sin_port)
    }

    private static func accepts(_ port: UInt16) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = loopback(port: port)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    private static func loopback(port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        return address
    }
}

struct BrokerError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
