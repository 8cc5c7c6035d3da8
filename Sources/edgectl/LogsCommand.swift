#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import EdgeCore
import EdgeJSON
import EdgePOSIX

/// `edgectl logs THING [FUNCTION]`: a function's log, or the agent's own, read over MQTT.
struct Logs: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a function's log (or the agent's own) from a thing, over MQTT.",
        discussion: """
            The agent serves the newest lines of FUNCTION's log (<stateDir>/logs/FUNCTION.log and the file rotation \\
            kept, each line stamped with the time the agent read it) or, without FUNCTION, its last 256 lines \\
            of its own log, on its control topic. An answer carries at most 64 KiB of lines, and the agent serves at \\
            most 256 KiB of lines a second. No shell on the device and no read access to its files are needed.

            --since takes a duration (30s, 10m, 2h, 1d: that long before now, by this machine's clock) or a UTC time \\
            (2026-12-05T15:00:00Z). --follow prints new lines as they come until interrupted.

            Examples:
              edgectl logs cam-01 digits
              edgectl logs cam-01 digits --lines 20 --since 10m
              edgectl logs cam-01 digits --follow
              edgectl logs cam-01                      # the agent's own log
              edgectl logs cam-01 digits --json
            """)
    @Argument(help: "The thing.") var thing: String
    @Argument(help: "The function (without it: the agent's own log).") var function: String?
    @Option(help: "At most this many of the newest lines (1-1000, default 100).") var lines = ControlRequest.defaultLines
    @Option(help: "Only lines from this long ago (30s, 10m, 2h, 1d) or this UTC time (2026-12-05T15:00:00Z) on.") var since: String?
    @Flag(help: "Keep printing new lines as they come, until interrupted.") var follow = false
    @Flag(help: "Print JSON: {thing, function, lines: […]}; with --follow one such object per answer that has lines.") var json = false
    @OptionGroup var broker: BrokerOptions

    func validate() throws {
        guard (1...ControlRequest.maxLines).contains(lines) else {
            throw ValidationError("--lines must be from 1 to \(ControlRequest.maxLines)")
        }
        if let since, Logs.stamp(since, nowMs: Clock.wallMs()) == nil {
            throw ValidationError("--since \(since) is neither a duration (30s, 10m, 2h, 1d) nor a UTC time such as 2026-12-05T15:00:00Z")
        }
    }

    func run() throws {
        let session = try Session(broker)
        defer { session.close() }
        let channel = try ControlChannel(session, thing: thing, timeoutSeconds: broker.waitSeconds)
        var fields: [String: JSONValue] = ["lines": .int(Int64(lines))]
        if let since, let stamp = Logs.stamp(since, nowMs: Clock.wallMs()) { fields["since"] = .string(stamp) }
        var answer = try ask(channel, fields)
        show(answer, always: true)
        guard follow else { return }
        while true {
            // Soon while the agent has more (within its rate: 10 requests, 256 KiB a second); else once a second.
            usleep(answer["more"]?.boolValue == true ? 200_000 : 1_000_000)
            guard let cursor = answer["cursor"]?.stringValue else { return }
            guard let next = try askFollowing(channel, cursor: cursor) else { continue }
            answer = next
            if answer["gap"]?.boolValue == true { printError("edgectl: lines were rotated away before they could be read") }
            show(answer, always: false)
        }
    }

    private func ask(_ channel: ControlChannel, _ fields: [String: JSONValue]) throws -> JSONValue {
        do {
            return try channel.request("logs", function: function, fields)
        } catch let refusal as ControlRefusal {
            throw Failure("\(thing) did not serve the log: \(refusal)")
        }
    }

    /// The next answer while following; nil to ask again with the same cursor: over the agent's
    /// rate (it refuses, or drops a request in a flood), which only slows a follower down.
    private func askFollowing(_ channel: ControlChannel, cursor: String) throws -> JSONValue? {
        do {
            return try channel.request("logs", function: function, ["cursor": .string(cursor)], timeoutSeconds: 5)
        } catch let refusal as ControlRefusal where refusal.type == "RateLimited" {
            return nil
        } catch is NoAnswer {
            return nil
        } catch let refusal as ControlRefusal {
            throw Failure("\(thing) did not serve the log: \(refusal)")
        }
    }

    private func show(_ answer: JSONValue, always: Bool) {
        let got = (answer["lines"]?.arrayValue ?? []).compactMap(\.stringValue)
        if json {
            guard always || !got.isEmpty else { return }
            var members: [String: JSONValue] = ["thing": .string(thing), "lines": .array(got.map { .string($0) })]
            if let function { members["function"] = .string(function) }
            printJSON(.object(members))
        } else {
            for line in got { print(line) }
            if let dropped = answer["dropped"]?.intValue, dropped > 0 {
                printError("edgectl: \(dropped) older lines did not fit one answer (64 KiB); use --lines or --since to narrow")
            }
        }
        fflush(nil)
    }

    /// `--since` as the agent's stamp: a duration before `nowMs`, or a UTC time (seconds and
    /// milliseconds optional), as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    static func stamp(_ text: String, nowMs: Int64) -> String? {
        let units: [Character: Int64] = ["s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000]
        if let unit = text.last.flatMap({ units[$0] }), let count = Int64(text.dropLast()), count >= 0 {
            let (span, overflow) = count.multipliedReportingOverflow(by: unit)
            guard !overflow, span <= nowMs else { return nil }
            return Clock.iso8601(ms: nowMs - span)
        }
        guard text.hasSuffix("Z") else { return nil }
        var body = String(text.dropLast())
        if body.count == 16 { body += ":00" }
        if body.count == 19 { body += ".000" }
        let stamp = body + "Z"
        return LogLine.isTimestamp(stamp) ? stamp : nil
    }
}
