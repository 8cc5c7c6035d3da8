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
    var isLoopback: Bool {
        host == "::1" || (host.hasPrefix("127.") && host.split(separator: ".").count == 4)
    }

    /// `host:port` as it goes in a URL.
    func url(port actual: Int) -> String {
        host.contains(":") ? "http://[\(host)]:\(actual)/" : "http://\(host):\(actual)/"
    }
}
