/// How to reach and identify to a broker.
public struct MQTTSettings: Sendable {
    public struct TLS: Sendable {
        public var caFile: String
        public var certFile: String?
        public var keyFile: String?

        public init(caFile: String, certFile: String?, keyFile: String?) {
            self.caFile = caFile
            self.certFile = certFile
            self.keyFile = keyFile
        }
    }

    /// A message the broker publishes for this client if it vanishes without a clean disconnect.
    public struct Will: Sendable {
        public var topic: String
        public var payload: [UInt8]
        public var qos: Int
        public var retain: Bool

        public init(topic: String, payload: [UInt8], qos: Int, retain: Bool) {
            self.topic = topic
            self.payload = payload
            self.qos = qos
            self.retain = retain
        }
    }

    public var clientId: String
    public var host: String
    public var port: Int
    public var keepAliveSeconds: Int
    public var tls: TLS?
    public var will: Will?
    /// A persistent session: the broker keeps subscriptions and QoS 1 messages while offline.
    public var persistentSession: Bool
    public var sessionExpirySeconds: UInt32 = 7 * 24 * 3600
    public var reconnectMinMs = 250
    public var reconnectMaxMs = 30_000

    public init(clientId: String, host: String, port: Int, keepAliveSeconds: Int = 30, tls: TLS? = nil,
                will: Will? = nil, persistentSession: Bool = true) {
        self.clientId = clientId
        self.host = host
        self.port = port
        self.keepAliveSeconds = keepAliveSeconds
        self.tls = tls
        self.will = will
        self.persistentSession = persistentSession
    }
}

/// A message received from the broker.
public struct MQTTMessage: Sendable {
    public var topic: String
    public var payload: [UInt8]
    public var qos: Int
    public var retain: Bool
    /// MQTT 5 request/response: where to answer, and what to echo back.
    public var responseTopic: String?
    public var correlationData: [UInt8]?
}

/// What the client's loop thread reports to its owner.
public enum MQTTEvent: Sendable {
    case connected(sessionPresent: Bool, protocolVersion: Int)
    case connectionFailed(reason: String)
    case disconnected(reason: String)
    case message(MQTTMessage)
    case acknowledged(messageId: Int32)
}

/// A failure to set up or use the client.
public struct MQTTError: Error, Sendable, CustomStringConvertible {
    public var description: String
    /// The client is not connected: the same call may succeed later.
    public var isOffline: Bool

    public init(_ description: String, isOffline: Bool = false) {
        self.description = description
        self.isOffline = isOffline
    }
}
