#if canImport(Glibc)
import Glibc
#endif
import EdgeCore
import EdgeMQTT
import EdgePOSIX
import Testing

/// A client on a loop of the test's thread, with everything it reported.
final class Recorder {
    let loop: EventLoop
    let client: MQTTClient
    private(set) var events: [MQTTEvent] = []
    /// Every event came on the thread that made the recorder (the loop's).
    private(set) var allOnLoopThread = true
    private let thread = pthread_self()

    init(_ settings: MQTTSettings, loop: EventLoop = EventLoop()) throws {
        self.loop = loop
        client = try MQTTClient(settings: settings, loop: loop)
        client.start { [unowned self] event in
            if pthread_equal(pthread_self(), self.thread) == 0 { self.allOnLoopThread = false }
            self.events.append(event)
        }
    }

    var messages: [MQTTMessage] {
        events.compactMap { if case .message(let message) = $0 { message } else { nil } }
    }

    var connects: Int {
        events.count { if case .connected = $0 { true } else { false } }
    }

    /// Turns the loop until `condition` holds, for at most `seconds`.
    @discardableResult
    func wait(_ seconds: Int64 = 10, for condition: () -> Bool) -> Bool {
        loop.run(untilMs: Clock.monotonicMs() + seconds * 1000, done: condition)
    }
}

func settings(_ name: String, _ broker: TestBroker, will: MQTTSettings.Will? = nil) -> MQTTSettings {
    var settings = MQTTSettings(clientId: "\(name)-\(getpid())", host: "127.0.0.1", port: Int(broker.port), will: will,
                                persistentSession: false)
    settings.reconnect = ReconnectBackoff(minMs: 50, maxMs: 200)
    return settings
}

@Suite(.serialized, .enabled(if: TestBroker.available, "needs mosquitto (scripts/setup.sh installs it)"))
struct MQTTClientTests {
    @Test func publishesAndReceivesOnTheLoopsThread() throws {
        let broker = try TestBroker()
        let client = try Recorder(settings("roundtrip", broker))
        defer { client.client.stop() }
        #expect(client.wait { client.client.isConnected }, "no connection: \(client.events)")
        // The broker takes a connection's packets in order: the SUBSCRIBE is in place before the PUBLISH.
        try client.client.subscribe("rt/#", qos: 1)
        guard case .sent(let id) = try client.client.publish(topic: "rt/probe", payload: [1], qos: 1, retain: false) else {
            Issue.record("a QoS 1 message published while connected was not sent")
            return
        }
        #expect(client.wait { !client.messages.isEmpty })
        #expect(client.wait { client.events.contains { if case .acknowledged(let acked) = $0 { acked == id } else { false } } })
        for n in 0..<100 {
            try client.client.publish(topic: "rt/\(n % 2)", payload: Array("m\(n)".utf8), qos: n % 2, retain: false)
        }
        #expect(client.wait { client.messages.count >= 101 }, "got \(client.messages.count) of 101")
        // One connection keeps order per QoS: the broker forwards in the order it receives.
        let evens = client.messages.filter { $0.topic == "rt/0" }.map { String(decoding: $0.payload, as: UTF8.self) }
        #expect(evens == stride(from: 0, to: 100, by: 2).map { "m\($0)" })
        #expect(client.allOnLoopThread)
    }

    /// The keepalive is checked a quarter of it at a time, not every second: an idle client must
    /// still ping in time. Mosquitto drops a client silent for one and a half keepalives (7.5 s
    /// here), so the window is longer than that; a client that never pinged is disconnected in it.
    @Test func anIdleClientPingsInTimeAndKeepsItsConnection() throws {
        let broker = try TestBroker()
        var idle = settings("idle", broker)
        idle.keepAliveSeconds = 5
        let client = try Recorder(idle)
        defer { client.client.stop() }
        #expect(client.wait { client.client.isConnected }, "no connection: \(client.events)")
        let dropped = client.wait(9) {
            client.events.contains { if case .disconnected = $0 { true } else { false } }
        }
        #expect(!dropped, "the broker dropped an idle client with a 5 s keepalive: \(client.events)")
        #expect(client.connects == 1)
        try client.client.subscribe("idle/#", qos: 1)
        try client.client.publish(topic: "idle/after", payload: [1], qos: 1, retain: false)
        #expect(client.wait { !client.messages.isEmpty }, "the connection no longer carries messages")
    }

    @Test func offlineQoS1IsKeptQoS0FailsAndTheClientReconnectsByItself() throws {
        let broker = try TestBroker()
        let client = try Recorder(settings("offline", broker))
        defer { client.client.stop() }
        #expect(client.wait { client.client.isConnected })
        broker.stop()
        #expect(client.wait { !client.client.isConnected })
        #expect(client.events.contains { if case .disconnected = $0 { true } else { false } }, "\(client.events)")
        // libmosquitto keeps it, under its id, and sends it after the next connect.
        let kept = try client.client.publish(topic: "off/1", payload: [1], qos: 1, retain: false)
        #expect(kept != .kept && kept != .sent(messageId: 0), "\(kept)")
        #expect(throws: MQTTError.self) { try client.client.publish(topic: "off/0", payload: [0], qos: 0, retain: false) }
        do {
            try client.client.publish(topic: "off/0", payload: [0], qos: 0, retain: false)
        } catch {
            #expect(error.isOffline, "QoS 0 offline must say it is offline: \(error)")
        }
        // Attempts fail while it is down, each reported.
        #expect(client.wait { client.events.contains { if case .connectionFailed = $0 { true } else { false } } })
        try broker.start()
        #expect(client.wait { client.connects == 2 }, "\(client.events)")
        #expect(client.allOnLoopThread)
    }

    @Test func aRefusedMessageSaysWhyAndIsNotOffline() throws {
        let broker = try TestBroker()
        let client = try Recorder(settings("refused", broker))
        defer { client.client.stop() }
        #expect(client.wait { client.client.isConnected })
        do {
            try client.client.publish(topic: "bad/+/topic", payload: [], qos: 1, retain: false)
            Issue.record("a topic with a wildcard was published")
        } catch {
            #expect(!error.isOffline)
            #expect(error.description.contains("bad/+/topic"))
        }
    }

    @Test func stopDisconnectsCleanlyAndADroppedClientLeavesItsWill() throws {
        let broker = try TestBroker()
        let loop = EventLoop()
        let watcher = try Recorder(settings("watcher", broker), loop: loop)
        defer { watcher.client.stop() }
        #expect(watcher.wait { watcher.client.isConnected })
        try watcher.client.subscribe("will/#", qos: 1)
        try watcher.client.publish(topic: "will/probe", payload: [], qos: 1, retain: false)
        #expect(watcher.wait { !watcher.messages.isEmpty }, "the watcher's subscription")
        func will(_ name: String) -> MQTTSettings.Will {
            .init(topic: "will/\(name)", payload: Array("gone".utf8), qos: 1, retain: false)
        }
        var clean: Recorder? = try Recorder(settings("clean", broker, will: will("clean")), loop: loop)
        var dropped: Recorder? = try Recorder(settings("dropped", broker, will: will("dropped")), loop: loop)
        #expect(watcher.wait { clean!.client.isConnected && dropped!.client.isConnected })
        clean!.client.stop()
        clean = nil
        // Gone without a DISCONNECT: the handle is destroyed with the socket open.
        dropped = nil
        #expect(watcher.wait { watcher.messages.contains { $0.topic == "will/dropped" } })
        // Both went at the same moment; the clean one's will never comes.
        #expect(!watcher.messages.contains { $0.topic == "will/clean" })
    }

    @Test func aHostThatDoesNotResolveIsReportedWithoutBlockingTheLoop() throws {
        var settings = MQTTSettings(clientId: "nowhere-\(getpid())", host: "no-such-host.invalid", port: 1883, persistentSession: false)
        settings.reconnect = ReconnectBackoff(minMs: 10_000, maxMs: 10_000)
        let loop = EventLoop()
        var ticks = 0
        func tick() {
            loop.after(10) {
                ticks += 1
                tick()
            }
        }
        tick()
        let started = Clock.monotonicMs()
        let client = try Recorder(settings, loop: loop)
        defer { client.client.stop() }
        #expect(client.wait { client.events.contains { if case .connectionFailed = $0 { true } else { false } } })
        // The lookup ran on the connect attempt's thread: the loop's timer kept firing meanwhile.
        #expect(ticks >= Int(Clock.monotonicMs() - started) / 20 - 1, "\(ticks) ticks")
        guard case .connectionFailed(let failure) = client.events.first else {
            Issue.record("first event \(String(describing: client.events.first))")
            return
        }
        guard case .nameLookup = failure.failure else {
            Issue.record("a host that does not resolve must be a name-lookup failure: \(failure)")
            return
        }
        #expect(failure.description.contains("no-such-host.invalid") && failure.description.contains("look up"), "\(failure)")
    }
}
