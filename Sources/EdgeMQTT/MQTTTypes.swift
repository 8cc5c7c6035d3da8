import EdgeCore
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
    /// The broker's addresses, tried in turn (`ConnectionPlan`): one, or the nodes of a cluster.
    public var endpoints: [BrokerEndpoint]
    /// MQTT 5, 3.1.1, or 5 with a fall-back (`auto`).
    public var protocolSetting = MQTTProtocolSetting.auto
    /// Credentials for the CONNECT; the password is never logged.
    public var username: String?
    public var password: String?
    /// How long the broker may take to answer a CONNECT (CONNACK) before the attempt is given up:
    /// some brokers ignore a CONNECT in a version they do not speak instead of refusing it.
    public var connackTimeoutMs = 10_000
    public var keepAliveSeconds: Int
    public var tls: TLS?
    public var will: Will?
    /// A persistent session: the broker keeps subscriptions and QoS 1 messages while offline.
    public var persistentSession: Bool
    public var sessionExpirySeconds: UInt32 = 7 * 24 * 3600
    /// The wait between connect attempts (EdgeCore's ReconnectBackoff).
    public var reconnect = ReconnectBackoff()

    public init(clientId: String, host: String, port: Int, keepAliveSeconds: Int = 30, tls: TLS? = nil,
                will: Will? = nil, persistentSession: Bool = true) {
        self.init(clientId: clientId, endpoints: [BrokerEndpoint(host: host, port: port)], keepAliveSeconds: keepAliveSeconds,
                  tls: tls, will: will, persistentSession: persistentSession)
    }

    public init(clientId: String, endpoints: [BrokerEndpoint], keepAliveSeconds: Int = 30, tls: TLS? = nil,
                will: Will? = nil, persistentSession: Bool = true) {
        precondition(!endpoints.isEmpty, "MQTTSettings needs at least one endpoint")
        self.clientId = clientId
        self.endpoints = endpoints
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

/// What the client reports to its owner's handler, on the loop's thread.
public enum MQTTEvent: Sendable {
    /// The broker accepted the connection (CONNACK).
    case connected(sessionPresent: Bool, protocolVersion: Int, endpoint: BrokerEndpoint)
    /// An attempt failed (unreachable, refused, not authorised, TLS, no answer); the client tries
    /// again, after a backoff unless it is falling back to MQTT 3.1.1 on the same endpoint.
    case connectionFailed(ConnectionAttemptFailure)
    /// An accepted connection ended; the client reconnects after a backoff.
    case disconnected(reason: String)
    case message(MQTTMessage)
    /// The broker acknowledged the QoS 1 message with this id (PUBACK); for QoS 0, the message
    /// was written after the socket had been full.
    case acknowledged(messageId: Int32)
    /// The broker answered the QoS 1 message with this id with a failure (an MQTT 5 PUBACK
    /// reason code of 0x80 or more: not authorised, topic forbidden, quota exceeded): it was not
    /// taken, and sending it again would not help.
    case rejectedByBroker(messageId: Int32, reason: String)
    /// The broker's SUBACK refused a subscription (0x80 and up: not authorised, or a broker that
    /// could not set it up, as NATS under JetStream load): no message on it will come.
    case subscriptionRefused(filter: String, reason: String)
    /// The broker's SUBACK granted a subscription.
    case subscribed(filter: String)
    /// A QoS 1 message published while a connect attempt had the handle (and so `.kept`) was
    /// refused when handed to libmosquitto after it: the last connection's limits (maximum QoS,
    /// packet size) rule it out.
    case refused(topic: String, reason: String)
}

/// What became of a message given to `MQTTClient.publish`.
public enum MQTTPublication: Sendable, Equatable {
    /// Written, or queued behind what is being written (a QoS 1 message published just as the
    /// connection dropped stays in libmosquitto's queue under this id and is sent again after the
    /// next connect); a QoS 1 message's PUBACK comes back as `.acknowledged(messageId:)`.
    case sent(messageId: Int32)
    /// Offline: a QoS 1 message is kept (by libmosquitto, or by the client while a connect
    /// attempt has the handle) and sent after the next connect.
    case kept
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
