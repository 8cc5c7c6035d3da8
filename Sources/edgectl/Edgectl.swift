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
        version: EdgectlVersion.text,
        subcommands: [Things.self, Validate.self, Deploy.self, Undeploy.self, Status.self, Health.self, Invoke.self, Logs.self, Shadow.self, Config.self,
                      Check.self, Restart.self, Stop.self, Start.self, Keygen.self, Sign.self, Dashboard.self, Completion.self])
}

/// How to reach the broker, shared by every subcommand that talks to it. Each flag overrides its
/// `EDGECTL_*` variable, which overrides the profile (`ConnectionSettings`).
struct BrokerOptions: ParsableArguments {
    @Option(help: "Broker host (default: $EDGECTL_HOST, the profile's, else localhost).") var host: String?
    @Option(help: "Broker port (default: $EDGECTL_PORT, the profile's, else 1883, or 8883 with TLS).") var port: Int?
    @Option(name: .customLong("tls-ca"), help: "CA certificate: connect with TLS ($EDGECTL_TLS_CA).") var tlsCA: String?
    @Option(name: .customLong("tls-cert"), help: "Client certificate for mutual TLS ($EDGECTL_TLS_CERT).") var tlsCert: String?
    @Option(name: .customLong("tls-key"), help: "Client key for mutual TLS ($EDGECTL_TLS_KEY).") var tlsKey: String?
    @Option(help: "Broker user name ($EDGECTL_USERNAME, $EDGE_BROKER_USERNAME).") var username: String?
    @Option(name: .customLong("password-file"),
            help: "A file whose first line is the broker password ($EDGECTL_PASSWORD_FILE; else $EDGE_BROKER_PASSWORD; never on the command line).")
    var passwordFile: String?
    @Option(name: .customLong("mqtt-protocol"), help: "auto (MQTT 5, else 3.1.1), 5 or 3.1.1 ($EDGECTL_MQTT_PROTOCOL).") var mqttProtocol: String?
    @Option(help: "Seconds to wait for the broker and for answers (default 30; $EDGECTL_TIMEOUT).") var timeout: Int?
    @Option(help: "The profile to use from the profile file ($EDGECTL_PROFILE; else its defaultProfile).") var profile: String?
    @Option(help: "The profile file (default: $EDGECTL_CONFIG, else ~/.config/edgectl/config.json).") var config: String?

    func validate() throws {
        _ = try ConnectionSettings.resolve(self)
    }

    /// The settings in effect (validated already by `validate`).
    var settings: ConnectionSettings {
        get throws { try ConnectionSettings.resolve(self) }
    }

    /// Seconds to wait for answers.
    var waitSeconds: Int { (try? settings)?.timeout.value ?? 30 }
}

/// Which deployment topic: a thing's or a group's.
struct TargetOptions: ParsableArguments {
    @Option(help: "The thing to deploy to.") var thing: String?
    @Option(help: "The thing group to deploy to.") var group: String?

    func validate() throws {
        if (thing == nil) == (group == nil) { throw ValidationError("give exactly one of --thing and --group") }
    }

    /// The deployment `target` these name: things/NAME or groups/NAME.
    var deploymentTarget: String { thing.map { "things/\($0)" } ?? "groups/\(group!)" }
}
