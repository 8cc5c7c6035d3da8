import ArgumentParser
import EdgeCore

/// The operator's tool: publishes deployments, reads status and health, invokes functions, works shadows.
/// Exit codes: 0 done, 1 the operation failed (a rejected deployment, an error answer), 2 cannot
/// connect to the broker, 3 no answer within --timeout, 64 a usage error.
@main
struct Edgectl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "edgectl",
        abstract: "Operate edge-agent devices through their MQTT broker.",
        subcommands: [Validate.self, Deploy.self, Undeploy.self, Status.self, Health.self, Invoke.self, Shadow.self])
}

/// How to reach the broker, shared by every subcommand that talks to it.
struct BrokerOptions: ParsableArguments {
    @Option(help: "Broker host.") var host = "localhost"
    @Option(help: "Broker port (default 1883, or 8883 with --tls-ca).") var port: Int?
    @Option(name: .customLong("tls-ca"), help: "CA certificate: connect with TLS.") var tlsCA: String?
    @Option(name: .customLong("tls-cert"), help: "Client certificate for mutual TLS.") var tlsCert: String?
    @Option(name: .customLong("tls-key"), help: "Client key for mutual TLS.") var tlsKey: String?
    @Option(help: "Broker user name (default: $EDGE_BROKER_USERNAME).") var username: String?
    @Option(name: .customLong("password-file"),
            help: "A file whose first line is the broker password (default: $EDGE_BROKER_PASSWORD; never on the command line).")
    var passwordFile: String?
    @Option(name: .customLong("mqtt-protocol"), help: "auto (MQTT 5, else 3.1.1), 5 or 3.1.1.") var mqttProtocol = "auto"
    @Option(help: "Seconds to wait for the broker and for answers.") var timeout: Int = 30

    func validate() throws {
        if MQTTProtocolSetting(rawValue: mqttProtocol) == nil { throw ValidationError("--mqtt-protocol must be auto, 5 or 3.1.1") }
        if timeout < 1 { throw ValidationError("--timeout must be at least 1 second") }
        if (tlsCert == nil) != (tlsKey == nil) { throw ValidationError("--tls-cert and --tls-key go together") }
        if tlsCert != nil && tlsCA == nil { throw ValidationError("mutual TLS needs --tls-ca as well") }
    }
}

/// Which deployment topic: a thing's or a group's.
struct TargetOptions: ParsableArguments {
    @Option(help: "The thing to deploy to.") var thing: String?
    @Option(help: "The thing group to deploy to.") var group: String?

    func validate() throws {
        if (thing == nil) == (group == nil) { throw ValidationError("give exactly one of --thing and --group") }
    }
}
