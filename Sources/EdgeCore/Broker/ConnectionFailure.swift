/// Why a connect attempt failed, told apart so that the message says what happened and what to
/// do about it, and so that the plan knows whether an older protocol might help.
public enum ConnectionFailure: Sendable, Equatable {
    /// The host name could not be looked up.
    case nameLookup(String)
    /// No TCP connection: refused, timed out, no route.
    case unreachable(String)
    /// The TLS handshake failed; the detail is the verification error when there is one.
    case tls(String)
    /// The broker answered CONNACK with this code (an MQTT 3.1.1 return code, or an MQTT 5 reason code).
    case refused(code: Int)
    /// The broker closed the connection after the CONNECT, without a CONNACK.
    case closedBeforeAnswer(String)
    /// No CONNACK within this many milliseconds.
    case noAnswer(waitedMs: Int)
    /// Anything else (a thread that could not be made, an allocation that failed).
    case other(String)

    /// The CONNACK codes that mean the credentials or the client's rights were refused.
    static let authorizationCodes: Set<Int> = [4, 5, 0x86, 0x87, 0x8C]

    public var isNotAuthorized: Bool {
        if case .refused(let code) = self { return Self.authorizationCodes.contains(code) }
        return false
    }

    /// Whether a broker that does not speak MQTT 5 would fail an MQTT 5 CONNECT this way: an
    /// "unacceptable protocol version" answer, or (brokers that never say so) closing the
    /// connection or ignoring the CONNECT.
    public var suggestsOlderProtocol: Bool {
        switch self {
        case .refused(let code): return code == 1 || code == 0x84
        case .closedBeforeAnswer, .noAnswer: return true
        default: return false
        }
    }

    /// One line: what happened, and (where there is one) the fix.
    public var explanation: String {
        switch self {
        case .nameLookup(let detail):
            return "cannot look up the broker's host name (\(detail)): check broker.host and the device's DNS"
        case .unreachable(let detail):
            return "unreachable (\(detail)): is the broker running on that host and port, and does the network let the device reach it?"
        case .tls(let detail):
            return "the TLS handshake failed (\(detail)): check broker.tls.ca (the CA that signed the broker's certificate), that the host matches the certificate, and for mutual TLS broker.tls.cert and broker.tls.key"
        case .refused(let code) where isNotAuthorized:
            return "not authorised: the broker refused the connection (\(ConnackCode.words(code))): check broker.username and the password (broker.passwordFile or EDGE_BROKER_PASSWORD) and the broker's rights for this client id"
        case .refused(let code):
            return "refused by the broker (\(ConnackCode.words(code)))\(ConnackCode.advice(code).map { ": \($0)" } ?? "")"
        case .closedBeforeAnswer(let detail):
            return "the broker closed the connection without answering the CONNECT (\(detail)): it may not speak this MQTT version (broker.protocol), or refuses this client without saying why (see its log)"
        case .noAnswer(let waitedMs):
            return "no answer to the CONNECT within \(waitedMs) ms: the broker may ignore this MQTT version (set broker.protocol to 3.1.1, or auto), or it is overloaded"
        case .other(let detail):
            return detail
        }
    }
}

/// A failed attempt as the client reports it: where, with which protocol, why, and what comes next.
public struct ConnectionAttemptFailure: Sendable, Equatable, CustomStringConvertible {
    public var endpoint: BrokerEndpoint
    public var protocolLevel: Int
    public var failure: ConnectionFailure
    /// The next attempt is to the same endpoint with MQTT 3.1.1, at once: not a failure the
    /// operator needs to act on.
    public var fallingBack: Bool

    public init(endpoint: BrokerEndpoint, protocolLevel: Int, failure: ConnectionFailure, fallingBack: Bool) {
        self.endpoint = endpoint
        self.protocolLevel = protocolLevel
        self.failure = failure
        self.fallingBack = fallingBack
    }

    public var description: String {
        let head = "cannot connect to \(endpoint) (\(MQTTProtocolSetting.name(ofLevel: protocolLevel))): \(failure.explanation)"
        return fallingBack ? head + "; trying MQTT 3.1.1 next" : head
    }
}

/// The words for a CONNACK code: MQTT 3.1.1's return codes (1 to 5) and MQTT 5's reason codes
/// (0x80 and up).
public enum ConnackCode {
    static let table: [Int: String] = [
        1: "unacceptable protocol version", 2: "client identifier rejected", 3: "server unavailable",
        4: "bad user name or password", 5: "not authorized",
        0x80: "unspecified error", 0x81: "malformed packet", 0x82: "protocol error", 0x83: "implementation specific error",
        0x84: "unsupported protocol version", 0x85: "client identifier not valid", 0x86: "bad user name or password",
        0x87: "not authorized", 0x88: "server unavailable", 0x89: "server busy", 0x8A: "banned",
        0x8C: "bad authentication method", 0x95: "packet too large", 0x97: "quota exceeded",
        0x90: "topic name invalid, or publishing to it forbidden", 0x91: "packet identifier in use",
        0x99: "payload format invalid", 0x9A: "retain not supported", 0x9B: "QoS not supported",
        0x9C: "use another server", 0x9D: "server moved", 0x9F: "connection rate exceeded",
    ]

    /// "not authorized (code 0x87)".
    public static func words(_ code: Int) -> String {
        let hex = "0x" + (code < 16 ? "0" : "") + String(code, radix: 16, uppercase: true)
        return "\(table[code] ?? "unknown reason") (code \(hex))"
    }

    /// What the operator can do about a refusal that is not about credentials.
    static func advice(_ code: Int) -> String? {
        switch code {
        case 2, 0x85: return "the broker does not accept the thing name as a client id: check its client id rules"
        case 3, 0x88, 0x89, 0x9F: return "the broker is up but not taking connections now; the agent keeps trying"
        case 0x8A: return "this client is banned on the broker"
        case 0x9C, 0x9D: return "list the broker's other nodes in brokers"
        case 1, 0x84: return "set broker.protocol to the version the broker speaks (or auto)"
        default: return nil
        }
    }
}
