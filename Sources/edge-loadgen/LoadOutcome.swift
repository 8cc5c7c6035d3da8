import Histogram

/// A run's counts and latency histogram, and its JSON.
struct LoadOutcome {
    var sent = 0
    var received = 0
    var errors = 0
    var lost = 0
    var lateSends = 0
    var sendSeconds = 0.0
    var durationSeconds = 0.0
    var latencyUs = Histogram<UInt64>(highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: .three)

    func json(plan: LoadPlan) -> String {
        let missing = plan.saturation ? lost : max(0, sent - received - errors)
        let throughput = durationSeconds > 0 ? Double(received) / durationSeconds : 0
        let percentiles: [(String, Double)] = [("p50", 50), ("p90", 90), ("p99", 99), ("p99.9", 99.9), ("p99.99", 99.99)]
        var latency = percentiles.map { "\"\($0.0)\": \(ms(latencyUs.valueAtPercentile($0.1)))" }
        latency += ["\"min\": \(ms(latencyUs.min))", "\"max\": \(ms(latencyUs.max))",
                    "\"mean\": \(format(latencyUs.mean / 1000, 4))", "\"count\": \(latencyUs.totalCount)"]
        let fields = [
            "\"mode\": \"\(plan.saturation ? "saturation" : "rate")\"",
            "\"qos\": \(plan.qos)",
            "\"targetRate\": \(format(plan.rate, 1))",
            "\"window\": \(plan.saturation ? String(plan.window) : "null")",
            "\"payloadBytes\": \(plan.payloadBytes)",
            "\"sent\": \(sent)",
            "\"received\": \(received)",
            "\"errors\": \(errors)",
            "\"missing\": \(missing)",
            "\"lateSends\": \(lateSends)",
            "\"sendSeconds\": \(format(sendSeconds, 3))",
            "\"durationSeconds\": \(format(durationSeconds, 3))",
            "\"throughput\": \(format(throughput, 1))",
            "\"latencyMs\": {\(latency.joined(separator: ", "))}",
        ]
        return "{\(fields.joined(separator: ", "))}"
    }

    private func ms(_ microseconds: UInt64) -> String { format(Double(microseconds) / 1000, 3) }
}

/// A fixed-point rendering without Foundation.
func format(_ value: Double, _ decimals: Int) -> String {
    guard value.isFinite else { return "null" }
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let scaled = (abs(value) * scale).rounded()
    let whole = Int(scaled / scale)
    let fraction = Int(scaled - Double(whole) * scale)
    var digits = String(fraction)
    while digits.count < decimals { digits = "0" + digits }
    return (value < 0 && scaled > 0 ? "-" : "") + String(whole) + (decimals > 0 ? "." + digits : "")
}
