#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import EdgeCore
import EdgeJSON
import EdgePOSIX

/// How edgectl reaches the broker, each setting taken from the strongest place that has it:
/// a flag, then an `EDGECTL_*` environment variable, then the profile in use, then the default.
struct ConnectionSettings {
    /// A setting's value and where it came from (for `edgectl config`).
    struct Setting<Value> {
        var value: Value
        var source: String
    }

    var host = Setting(value: "localhost", source: "default")
    var port = Setting<Int?>(value: nil, source: "default")
    var tlsCA = Setting<String?>(value: nil, source: "default")
    var tlsCert = Setting<String?>(value: nil, source: "default")
    var tlsKey = Setting<String?>(value: nil, source: "default")
    var username = Setting<String?>(value: nil, source: "default")
    var passwordFile = Setting<String?>(value: nil, source: "default")
    var mqttProtocol = Setting(value: "auto", source: "default")
    var timeout = Setting(value: 30, source: "default")
    /// The profile read, and the file it is in.
    var profile: (name: String, file: String)?

    var effectivePort: Int { port.value ?? (tlsCA.value == nil ? 1883 : 8883) }

    /// The keys a profile may have (a password may not: `passwordFile`).
    static let profileKeys = ["host", "port", "tlsCA", "tlsCert", "tlsKey", "username", "passwordFile", "mqttProtocol", "timeout"]

    /// Resolves `flags` against the environment and the profile file.
    static func resolve(_ flags: BrokerOptions, environment: (String) -> String? = ConnectionSettings.environment) throws -> ConnectionSettings {
        var settings = ConnectionSettings()
        if let (name, file, profile) = try ProfileFile.select(flags.profile ?? environment("EDGECTL_PROFILE"),
                                                               path: flags.config ?? environment("EDGECTL_CONFIG"), environment: environment) {
            settings.profile = (name, file)
            try settings.apply(profile, name: name, file: file)
        }
        func fromEnvironment(_ name: String) -> Setting<String>? { environment(name).map { Setting(value: $0, source: "$\(name)") } }
        func number(_ name: String) throws -> Setting<Int>? {
            guard let text = environment(name) else { return nil }
            guard let value = Int(text) else { throw ValidationError("$\(name) must be a number (it is \"\(text)\")") }
            return Setting(value: value, source: "$\(name)")
        }
        if let value = fromEnvironment("EDGECTL_HOST") { settings.host = value }
        if let value = try number("EDGECTL_PORT") { settings.port = .init(value: value.value, source: value.source) }
        if let value = fromEnvironment("EDGECTL_TLS_CA") { settings.tlsCA = .init(value: value.value, source: value.source) }
        if let value = fromEnvironment("EDGECTL_TLS_CERT") { settings.tlsCert = .init(value: value.value, source: value.source) }
        if let value = fromEnvironment("EDGECTL_TLS_KEY") { settings.tlsKey = .init(value: value.value, source: value.source) }
        if let value = fromEnvironment("EDGECTL_USERNAME") {
            settings.username = .init(value: value.value, source: value.source)
        } else if settings.username.value == nil, let value = fromEnvironment("EDGE_BROKER_USERNAME") {
            // The agent's variable, a last resort: a profile's user name wins over it.
            settings.username = .init(value: value.value, source: value.source)
        }
        if let value = fromEnvironment("EDGECTL_PASSWORD_FILE") { settings.passwordFile = .init(value: value.value, source: value.source) }
        if let value = fromEnvironment("EDGECTL_MQTT_PROTOCOL") { settings.mqttProtocol = value }
        if let value = try number("EDGECTL_TIMEOUT") { settings.timeout = value }

        if let value = flags.host { settings.host = .init(value: value, source: "--host") }
        if let value = flags.port { settings.port = .init(value: value, source: "--port") }
        if let value = flags.tlsCA { settings.tlsCA = .init(value: value, source: "--tls-ca") }
        if let value = flags.tlsCert { settings.tlsCert = .init(value: value, source: "--tls-cert") }
        if let value = flags.tlsKey { settings.tlsKey = .init(value: value, source: "--tls-key") }
        if let value = flags.username { settings.username = .init(value: value, source: "--username") }
        if let value = flags.passwordFile { settings.passwordFile = .init(value: value, source: "--password-file") }
        if let value = flags.mqttProtocol { settings.mqttProtocol = .init(value: value, source: "--mqtt-protocol") }
        if let value = flags.timeout { settings.timeout = .init(value: value, source: "--timeout") }
        try settings.check()
        return settings
    }

    static func environment(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 }
    }

    private mutating func apply(_ profile: [String: JSONValue], name: String, file: String) throws {
        let source = "profile \(name) (\(file))"
        func fail(_ key: String, _ what: String) -> ValidationError {
            ValidationError("\(file): profiles.\(name).\(key) must be \(what)")
        }
        func text(_ key: String) throws -> String? {
            guard let value = profile[key] else { return nil }
            guard let text = value.stringValue, !text.isEmpty else { throw fail(key, "a non-empty string") }
            return text
        }
        // Paths in a profile are relative to its file's folder.
        let folder = file.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        func path(_ key: String) throws -> Setting<String?>? {
            guard let value = try text(key) else { return nil }
            return Setting(value: value.hasPrefix("/") || folder.isEmpty ? value : "\(folder)/\(value)", source: source)
        }
        for key in profile.keys.sorted() where !Self.profileKeys.contains(key) {
            if key == "password" {
                throw ValidationError("\(file): profiles.\(name).password: a password is never kept in a profile; put it in a file "
                                      + "of mode 0600 and name it in \"passwordFile\"")
            }
            throw ValidationError("\(file): profiles.\(name).\(key) is not a setting (known: \(Self.profileKeys.joined(separator: ", ")))")
        }
        if let value = try text("host") { host = .init(value: value, source: source) }
        if let value = profile["port"] {
            guard let number = value.intValue else { throw fail("port", "a number") }
            port = .init(value: Int(number), source: source)
        }
        if let value = try path("tlsCA") { tlsCA = value }
        if let value = try path("tlsCert") { tlsCert = value }
        if let value = try path("tlsKey") { tlsKey = value }
        if let value = try text("username") { username = .init(value: value, source: source) }
        if let value = try path("passwordFile") { passwordFile = value }
        if let value = try text("mqttProtocol") { mqttProtocol = .init(value: value, source: source) }
        if let value = profile["timeout"] {
            guard let number = value.intValue else { throw fail("timeout", "a number of seconds") }
            timeout = .init(value: Int(number), source: source)
        }
    }

    private func check() throws {
        if MQTTProtocolSetting(rawValue: mqttProtocol.value) == nil {
            throw ValidationError("the MQTT protocol (\(mqttProtocol.source)) must be auto, 5 or 3.1.1")
        }
        if !(1...86400).contains(timeout.value) { throw ValidationError("the timeout (\(timeout.source)) must be 1-86400 seconds") }
        if let port = port.value, !(1...65535).contains(port) { throw ValidationError("the port (\(self.port.source)) must be 1-65535") }
        if (tlsCert.value == nil) != (tlsKey.value == nil) {
            throw ValidationError("a client certificate and its key go together (--tls-cert and --tls-key)")
        }
        if tlsCert.value != nil && tlsCA.value == nil { throw ValidationError("mutual TLS needs the CA as well (--tls-ca)") }
    }

    /// Each setting, its value and its source, for `edgectl config`.
    var rows: [(name: String, value: String?, source: String)] {
        [("host", host.value, host.source), ("port", String(effectivePort), port.value == nil ? "default" : port.source),
         ("tlsCA", tlsCA.value, tlsCA.source), ("tlsCert", tlsCert.value, tlsCert.source), ("tlsKey", tlsKey.value, tlsKey.source),
         ("username", username.value, username.source), ("passwordFile", passwordFile.value, passwordFile.source),
         ("mqttProtocol", mqttProtocol.value, mqttProtocol.source), ("timeout", String(timeout.value), timeout.source)]
    }
}

/// The profile file: `$EDGECTL_CONFIG`, `--config`, else `$XDG_CONFIG_HOME/edgectl/config.json`
/// (`~/.config/edgectl/config.json`). `{"defaultProfile": "lab", "profiles": {"lab": {...}}}`.
enum ProfileFile {
    static func defaultPath(environment: (String) -> String?) -> String? {
        if let config = environment("XDG_CONFIG_HOME") { return "\(config)/edgectl/config.json" }
        if let home = environment("HOME") { return "\(home)/.config/edgectl/config.json" }
        return nil
    }

    /// The profile to use: named (`--profile`, `$EDGECTL_PROFILE`), else the file's
    /// `defaultProfile`, else one named "default"; nil when there is no file or no profile to use.
    static func select(_ requested: String?, path: String?, environment: (String) -> String?) throws
        -> (name: String, file: String, profile: [String: JSONValue])? {
        guard let file = path ?? defaultPath(environment: environment) else { return nil }
        let bytes: [UInt8]
        do {
            bytes = try Files.read(file, maxBytes: 1 << 20)
        } catch {
            // No file at the default place is no profile; a file named explicitly must exist.
            if path == nil && error.errno.rawValue == ENOENT && requested == nil { return nil }
            throw ValidationError("cannot read the profile file \(file): \(error.reason)")
        }
        guard case .success(let document) = JSONCodec.parse(bytes, uniqueKeys: true), let top = document.objectValue else {
            throw ValidationError("\(file) is not a JSON object: see docs/edgectl.md, \"Connecting once\"")
        }
        for key in top.keys.sorted() where key != "profiles" && key != "defaultProfile" {
            throw ValidationError("\(file): \(key) is not known (a profile file has \"defaultProfile\" and \"profiles\")")
        }
        let profiles = top["profiles"]?.objectValue ?? [:]
        guard let name = requested ?? top["defaultProfile"]?.stringValue ?? (profiles["default"] != nil ? "default" : nil) else {
            return nil
        }
        guard let profile = profiles[name] else {
            let known = profiles.keys.sorted()
            throw ValidationError("no profile \"\(name)\" in \(file) (it has: \(known.isEmpty ? "none" : known.joined(separator: ", ")))")
        }
        guard let members = profile.objectValue else { throw ValidationError("\(file): profiles.\(name) must be an object") }
        return (name, file, members)
    }
}
