#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import CMosquitto
import EdgeCore
import EdgeJSON
import EdgeMQTT
import EdgePOSIX

/// One line of `edgectl check`: what was checked, how it stands, and what to do about it.
struct CheckLine {
    enum Level: String {
        case ok = "OK"
        case warn = "WARN"
        case fail = "FAIL"
    }

    var level: Level
    var check: String
    var message: String
    var fix: String?

    var json: JSONValue {
        var members: [String: JSONValue] = ["level": .string(level.rawValue), "check": .string(check), "message": .string(message)]
        if let fix { members["fix"] = .string(fix) }
        return .object(members)
    }
}

/// A diagnostics report for one thing, like `iotedge check`: the broker, TLS, the agent and what
/// its health says of the device.
struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Diagnose a thing: broker, TLS, agent, clock, cgroups, disk, functions.",
        discussion: """
            Each line is OK, WARN or FAIL, with the fix. Exits 1 when a line is FAIL, 2 when the broker cannot be reached.

            Examples:
              edgectl check cam-01
              edgectl check cam-01 --json
            """)
    @Argument(help: "The thing.") var thing: String
    @Flag(help: "Print JSON: {thing, checks: [{level, check, message, fix}]}.") var json = false
    @OptionGroup var broker: BrokerOptions

    func run() throws {
        let settings = try broker.settings
        var lines: [CheckLine] = []
        let session: Session
        do {
            session = try Session(broker)
        } catch let code as ExitCode {
            lines.append(CheckLine(level: .fail, check: "broker", message: "cannot connect to \(settings.host.value):\(settings.effectivePort)",
                                   fix: "see the reason above; edgectl config shows the settings in use"))
            report(lines)
            throw code
        }
        defer { session.close() }
        let version = session.protocolLevel == 5 ? "MQTT 5" : "MQTT 3.1.1"
        lines.append(CheckLine(level: .ok, check: "broker", message: "connected to \(settings.host.value):\(settings.effectivePort) (\(version))"))
        lines += tlsLines(settings, session: session)

        let topics = Topics(thing: thing)
        let wait = min(broker.waitSeconds, 10)
        let retained: MQTTMessage?
        do {
            retained = try session.retainedMessage(topics.health, timeoutSeconds: wait)
        } catch {
            lines.append(CheckLine(level: .fail, check: "agent", message: "cannot read \(topics.health): \(error)",
                                   fix: "these credentials must be allowed to read edge/things/# (deploy/mosquitto.acl)"))
            report(lines)
            throw ExitCode(1)
        }
        guard let retained, case .success(let health) = JSONCodec.parse(retained.payload) else {
            lines.append(CheckLine(level: .fail, check: "agent", message: "no health report from \(thing) on this broker",
                                   fix: "check the thing name (edgectl things) and the agent's broker settings on the device"))
            report(lines)
            throw ExitCode(1)
        }
        var answer: (roundTripMs: Double, skewMs: Int64)?
        if health["status"]?.stringValue == "online" {
            do {
                answer = try ping(session, topics: topics)
            } catch {
                lines.append(CheckLine(level: .fail, check: "agent", message: "cannot wait for the agent's answer: \(error)",
                                       fix: "these credentials must be allowed to read edgectl/replies/# (deploy/mosquitto.acl)"))
            }
        }
        lines += agentLines(health, ping: answer)
        lines += Diagnostics.device(health)
        report(lines)
        if lines.contains(where: { $0.level == .fail }) { throw ExitCode(1) }
    }

    /// The broker's certificate (verified by the connection), the operator's and the CA's expiry.
    private func tlsLines(_ settings: ConnectionSettings, session: Session) -> [CheckLine] {
        guard let ca = settings.tlsCA.value else {
            let loopback = ["localhost", "127.0.0.1", "::1"].contains(settings.host.value)
            return [CheckLine(level: loopback ? .ok : .warn, check: "tls",
                              message: loopback ? "plain MQTT on loopback" : "plain MQTT: credentials and data cross the network in clear",
                              fix: loopback ? nil : "connect with TLS (--tls-ca, and --tls-cert/--tls-key for mutual TLS)")]
        }
        var lines: [CheckLine] = []
        let broker = session.client.brokerCertificateSecondsLeft
        lines.append(Diagnostics.expiry("the broker's certificate (verified against \(ca))", secondsLeft: broker, check: "tls"))
        for (what, path) in [("the CA certificate \(ca)", ca), ("the client certificate", settings.tlsCert.value)] {
            guard let path else { continue }
            let left = edge_pem_seconds_left(path)
            lines.append(Diagnostics.expiry("\(what == "the client certificate" ? "\(what) \(path)" : what)",
                                            secondsLeft: left == Int.min ? nil : left, check: "tls"))
        }
        return lines
    }

    /// The agent's own answer: it is there, how long the round trip takes, and its clock.
    private func ping(_ session: Session, topics: Topics) throws -> (roundTripMs: Double, skewMs: Int64)? {
        let reply = "edgectl/replies/\(thing)/\(getpid())-check"
        try session.subscribe(reply, timeoutSeconds: min(broker.waitSeconds, 10))
        let sentWall = Clock.wallMs()
        let began = Clock.monotonicNs()
        try session.publish(topics.ping, JSONCodec.serialize(["replyTo": .string(reply)]), retain: false)
        guard let answer = try session.waitFor(reply, timeoutSeconds: min(broker.waitSeconds, 10), { _ in true }),
              case .success(let value) = JSONCodec.parse(answer.payload), let timestamp = value["timestamp"]?.intValue else {
            return nil
        }
        let roundTripNs = Clock.monotonicNs() - began
        // The agent read its clock about halfway through the round trip (clamped: the answer is input).
        let skew = max(-Int64(1) << 50, min(Int64(1) << 50, timestamp)) - (sentWall + roundTripNs / 2_000_000)
        return (Double(roundTripNs / 10_000) / 100, skew)
    }

    private func agentLines(_ health: JSONValue, ping: (roundTripMs: Double, skewMs: Int64)?) -> [CheckLine] {
        guard health["status"]?.stringValue == "online" else {
            let reason = health["reason"]?.stringValue ?? "no reason given"
            return [CheckLine(level: .fail, check: "agent", message: "\(thing) is offline (\(reason))",
                              fix: "on the device: systemctl status edge-agent, and its network to the broker")]
        }
        let version = health["agentVersion"]?.stringValue ?? "?"
        guard let ping else {
            return [CheckLine(level: .fail, check: "agent", message: "\(thing) reports online (agent \(version)) but did not answer within the timeout",
                              fix: "its connection may be stale: check the device's network; health's connection.lastFailure")]
        }
        var lines = [CheckLine(level: .ok, check: "agent", message: "\(thing) online, agent \(version), answered in \(ping.roundTripMs) ms")]
        lines.append(Diagnostics.clock(skewMs: ping.skewMs))
        return lines
    }

    private func report(_ lines: [CheckLine]) {
        if json {
            printJSON(.object(["thing": .string(thing), "checks": .array(lines.map(\.json))]))
            return
        }
        for line in lines {
            print("\(line.level.rawValue.padding(4)) \(line.check.padding(9)) \(line.message)")
            if let fix = line.fix, line.level != .ok { print("     \("".padding(9)) fix: \(fix)") }
        }
    }
}

/// What a health report says of the device, as check lines (pure: tested through `edgectl check`).
enum Diagnostics {
    static func expiry(_ what: String, secondsLeft: Int?, check: String) -> CheckLine {
        guard let secondsLeft else { return CheckLine(level: .warn, check: check, message: "cannot read the expiry of \(what)") }
        let days = secondsLeft / 86400
        if secondsLeft <= 0 { return CheckLine(level: .fail, check: check, message: "\(what) has expired", fix: "issue a new one (certs/)") }
        if days < 30 {
            return CheckLine(level: .warn, check: check, message: "\(what) expires in \(days) days", fix: "renew it before then (certs/)")
        }
        return CheckLine(level: .ok, check: check, message: "\(what) valid for \(days) more days")
    }

    static func clock(skewMs: Int64) -> CheckLine {
        let seconds = Double(abs(skewMs) / 100) / 10
        let direction = skewMs > 0 ? "ahead of" : "behind"
        if abs(skewMs) < 2000 { return CheckLine(level: .ok, check: "clock", message: "the device's clock is within 2 s of this one") }
        return CheckLine(level: abs(skewMs) < 60_000 ? .warn : .fail, check: "clock",
                         message: "the device's clock is \(seconds) s \(direction) this one",
                         fix: "run NTP on the device (timedatectl set-ntp true): timestamps in results and health are off by as much")
    }

    static func device(_ health: JSONValue) -> [CheckLine] {
        var lines: [CheckLine] = []
        let cgroups = health["cgroups"] ?? [:]
        let controllers = Set((cgroups["controllers"]?.arrayValue ?? []).compactMap(\.stringValue))
        if cgroups["version"]?.stringValue == "none" {
            lines.append(CheckLine(level: .warn, check: "cgroups", message: "off: functions get rlimits only (\(cgroups["reason"]?.stringValue ?? "no reason given"))",
                                   fix: "docs/resource-caps.md: run the agent where it may create cgroups"))
        } else if let missing = Optional(["cpu", "memory", "pids"].filter { !controllers.contains($0) }), !missing.isEmpty {
            lines.append(CheckLine(level: .warn, check: "cgroups", message: "\(cgroups["version"]?.stringValue ?? "?") without \(missing.joined(separator: ", "))",
                                   fix: cgroups["reason"]?.stringValue ?? "enable those controllers for the agent's cgroup"))
        } else {
            lines.append(CheckLine(level: .ok, check: "cgroups", message: "\(cgroups["version"]?.stringValue ?? "?") with cpu, memory, pids"))
        }

        if let disk = health["disk"], let available = disk["availableBytes"]?.intValue, let total = disk["totalBytes"]?.intValue, total > 0 {
            let percent = (Double(available) / Double(total) * 1000).rounded() / 10
            let text = "\(HealthSummary.megabytes(available)) MB free in the state directory (\(percent) %)"
            let level: CheckLine.Level = available < 10 << 20 || percent < 1 ? .fail : available < 100 << 20 || percent < 10 ? .warn : .ok
            lines.append(CheckLine(level: level, check: "disk", message: text,
                                   fix: "free space on the device: deployments that cannot be saved are rolled back"))
        } else {
            lines.append(CheckLine(level: .warn, check: "disk", message: "the agent does not say how much space is left"))
        }

        let outbox = health["outbox"] ?? [:]
        if let problem = outbox["problem"]?.stringValue {
            lines.append(CheckLine(level: .fail, check: "outbox", message: problem, fix: "free space in the state directory"))
        } else if let dropped = outbox["dropped"]?.intValue, dropped > 0 {
            lines.append(CheckLine(level: .warn, check: "outbox", message: "\(dropped) messages dropped for room while offline",
                                   fix: "raise outbox.maxBytes or find why the device is offline so long"))
        } else {
            lines.append(CheckLine(level: .ok, check: "outbox", message: "\(outbox["queued"]?.intValue ?? 0) messages waiting, none lost"))
        }
        if let deaf = health["connection"]?["deafSessions"]?.intValue, deaf > 0 {
            lines.append(CheckLine(level: .warn, check: "broker", message: "the broker delivered nothing to \(deaf) session(s) of the agent",
                                   fix: "docs/brokers.md, \"A session that delivers nothing\""))
        }

        if let status = health["deployment"]?["status"]?.stringValue, ["FAILED", "ROLLED_BACK", "REJECTED"].contains(status) {
            lines.append(CheckLine(level: .warn, check: "deployment", message: "the last deployment was \(status)",
                                   fix: "edgectl status --thing THING shows why"))
        }
        let functions = (health["functions"]?.objectValue ?? [:]).sorted { $0.key < $1.key }
        var troubled = false
        for (name, function) in functions {
            let usage = function["usage"] ?? [:]
            if function["state"]?.stringValue == "BROKEN" {
                troubled = true
                lines.append(CheckLine(level: .fail, check: "function", message: "\(name) is BROKEN: \(function["lastError"]?.stringValue ?? "no error recorded")",
                                       fix: "fix it and deploy a new revision (or enable it again through the shadow)"))
            }
            if let periods = usage["cpuThrottledPeriods"]?.intValue, periods > 0 {
                troubled = true
                lines.append(CheckLine(level: .warn, check: "function", message: "\(name) was held back by its CPU cap in \(periods) periods",
                                       fix: "raise limits.cpus if its latency matters"))
            }
            if let kills = usage["oomKills"]?.intValue, kills > 0 {
                troubled = true
                lines.append(CheckLine(level: .warn, check: "function", message: "\(name) was killed for memory \(kills) time(s)",
                                       fix: "raise limits.memoryMB (its peak is in edgectl health)"))
            }
        }
        if !troubled {
            lines.append(CheckLine(level: .ok, check: "function", message: functions.isEmpty ? "no functions deployed"
                                   : "\(functions.count) function(s): none BROKEN, throttled or killed for memory"))
        }
        return lines
    }
}

private extension String {
    func padding(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
}
