import ArgumentParser
import EdgeCore

/// The benchmarks' load generator: MQTT requests at a fixed rate or as fast as answers come,
/// latency in an HdrHistogram; and the broker-only echo client it is compared with.
@main
struct LoadGen: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "edge-loadgen",
        abstract: "MQTT load generator and broker-only echo baseline for the edge-agent benchmarks.",
        subcommands: [Drive.self, Echo.self])
}

/// Where the broker is.
struct BrokerOptions: ParsableArguments {
    @Option(help: "broker host") var host = "127.0.0.1"
    @Option(help: "broker port") var port: Int
    @Option(help: "seconds to connect and to confirm the subscription") var connectTimeout = 10
}

struct Drive: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Sends requests and times each reply; prints the figures as one JSON object.")

    @OptionGroup var broker: BrokerOptions
    @Option(help: "request topic; {i} is replaced by the request number modulo --topics") var topic: String
    @Option(help: "how many topics {i} ranges over") var topics = 1
    @Option(help: "the topic filter replies arrive on") var reply: String
    @Option(help: "QoS of requests and of the reply subscription (0 or 1)") var qos = 0
    @Option(help: "requests per second; 0: saturation (a window of requests in flight)") var rate: Double = 0
    @Option(help: "requests in flight at saturation") var window = 32
    @Option(help: "seconds sent and not counted, before the measured ones") var warmup: Double = 1
    @Option(help: "seconds measured") var seconds: Double = 5
    @Option(help: "seconds to wait for the last replies after sending stops") var drain: Double = 5
    @Option(help: "bytes of each request payload (at least 24)") var payloadBytes = 64
    @Option(help: "at saturation: stop after this many requests instead of after --seconds (0: no limit)") var requests = 0

    func validate() throws {
        guard [0, 1].contains(qos) else { throw ValidationError("--qos must be 0 or 1") }
        guard rate >= 0, seconds > 0, warmup >= 0, drain >= 0 else {
            throw ValidationError("--rate, --warmup and --drain must not be negative, --seconds must be positive")
        }
        guard requests >= 0, requests == 0 || rate == 0 else { throw ValidationError("--requests is for saturation (--rate 0) only") }
        guard window >= 1, topics >= 1 else { throw ValidationError("--window and --topics must be at least 1") }
        guard payloadBytes >= 24, payloadBytes <= 1_000_000 else { throw ValidationError("--payload-bytes must be 24 to 1000000") }
    }

    func run() throws {
        let plan = LoadPlan(requestTopics: (0..<topics).map { topic.replacingAll("{i}", with: String($0)) }, replyFilter: reply, qos: qos, rate: rate,
                            window: window, warmupSeconds: warmup, seconds: seconds, drainSeconds: drain,
                            payloadBytes: payloadBytes, requests: requests)
        let connection = try Connection(broker, name: "loadgen", subscribe: reply, qos: qos)
        defer { connection.close() }
        let outcome = try LoadRun(plan: plan, connection: connection).run()
        print(outcome.json(plan: plan))
    }
}

struct Echo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Republishes every message of --in to --out unchanged, until its standard input closes; the broker-only baseline.")

    @OptionGroup var broker: BrokerOptions
    @Option(name: .customLong("in"), help: "the topic filter requests arrive on") var input: String
    @Option(name: .customLong("out"), help: "the topic replies go to") var output: String
    @Option(help: "QoS of the subscription and of the replies") var qos = 0

    func run() throws {
        let connection = try Connection(broker, name: "echo", subscribe: input, qos: qos)
        defer { connection.close() }
        print("ready", terminator: "\n")
        fflushStandardOutput()
        let echoed = try EchoService(connection: connection, replyTopic: output, qos: qos).run()
        print("{\"echoed\": \(echoed)}")
    }
}
