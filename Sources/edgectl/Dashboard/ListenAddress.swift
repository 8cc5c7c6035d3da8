#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser

/// Where the dashboard listens: `HOST:PORT` (`[::1]:8080` for IPv6); port 0 takes a free one.
struct ListenAddress: Sendable, Equatable {
    var host: String
    var port: Int

    init(_ text: String) throws {
        let fix = "give HOST:PORT, such as 127.0.0.1:8080 (port 0: any free port)"
        var hostPart: Substring
        let portPart: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                throw ValidationError("--listen \(text): \(fix)")
            }
            hostPart = text[text.index(after: text.startIndex)..<close]
            portPart = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else { throw ValidationError("--listen \(text): no port; \(fix)") }
            hostPart = text[..<colon]
            portPart = text[text.index(after: colon)...]
        }
        guard !hostPart.isEmpty, let port = Int(portPart), (0...65535).contains(port) else {
            throw ValidationError("--listen \(text): \(fix)")
        }
        if hostPart == "localhost" { hostPart = "127.0.0.1" }
        host = String(hostPart)
        self.port = port
    }

    /// Only this machine can connect: 127.0.0.0/8 or ::1.
    /// (A numeric address only: a name such as 127.x.example.com could resolve anywhere.)
    var isLoopback: Bool { Self.isLoopback(host) }

    static func isLoopback(_ host: some StringProtocol) -> Bool {
        var v4 = in_addr()
        if inet_pton(AF_INET, String(host), &v4) == 1 { return UInt32(bigEndian: v4.s_addr) >> 24 == 127 }
        var v6 = in6_addr()
        return inet_pton(AF_INET6, String(host), &v6) == 1 && String(host) == "::1"
    }

    /// `host:port` as it goes in a URL.
    func url(port actual: Int) -> String {
        host.contains(":") ? "http://[\(host)]:\(actual)/" : "http://\(host):\(actual)/"
    }
}
