/// One address of the broker: a node of a cluster, or the only broker.
public struct BrokerEndpoint: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// `host:port`, with an IPv6 address in brackets.
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Whether the host is this machine (credentials to it never cross a network).
    public var isLoopback: Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }
}

/// Which MQTT version the client speaks: MQTT 5, MQTT 3.1.1, or MQTT 5 with a fall-back to 3.1.1
/// for brokers that do not speak it (`auto`).
public enum MQTTProtocolSetting: String, Sendable, CaseIterable {
    case auto
    case v5 = "5"
    case v311 = "3.1.1"

    /// The protocol level on the wire: 5, or 4 for MQTT 3.1.1.
    public static func name(ofLevel level: Int) -> String { level == 5 ? "MQTT 5" : "MQTT 3.1.1" }
}
