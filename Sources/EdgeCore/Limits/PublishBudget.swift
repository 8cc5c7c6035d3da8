/// How much one function may publish itself (runtime-protocol `publish` messages): a token
/// bucket in messages and one in bytes, each refilled continuously and holding one second's
/// worth, so a function may burst up to its rate at once and sustain its rate, no more. What is
/// over is refused (counted), and the function is told at most once a second, so a function that
/// floods is not answered with a flood. Pure: the caller passes the time.
public struct PublishBudget: Sendable, Equatable {
    public private(set) var messagesPerSecond: Int
    public private(set) var bytesPerSecond: Int
    private var messageTokens: Double
    private var byteTokens: Double
    private var lastMs: Int64?
    /// Publishes allowed and refused since the start.
    public private(set) var allowed = 0
    public private(set) var refused = 0
    /// Refused since the function was last told.
    public private(set) var refusedSinceNotice = 0
    private var lastNoticeMs: Int64?

    public static let defaultMessagesPerSecond = 100
    public static let defaultKBPerSecond = 1024

    public init(messagesPerSecond: Int, bytesPerSecond: Int) {
        self.messagesPerSecond = max(1, messagesPerSecond)
        self.bytesPerSecond = max(1, bytesPerSecond)
        messageTokens = Double(self.messagesPerSecond)
        byteTokens = Double(self.bytesPerSecond)
    }

    public init(_ limits: ResourceLimits) {
        self.init(messagesPerSecond: limits.publishPerSecond ?? Self.defaultMessagesPerSecond,
                  bytesPerSecond: (limits.publishKBPerSecond ?? Self.defaultKBPerSecond) * 1024)
    }

    /// Takes new rates (a shadow lowered them, say), keeping the counts.
    public mutating func retune(_ limits: ResourceLimits) {
        let wanted = PublishBudget(limits)
        guard wanted.messagesPerSecond != messagesPerSecond || wanted.bytesPerSecond != bytesPerSecond else { return }
        messagesPerSecond = wanted.messagesPerSecond
        bytesPerSecond = wanted.bytesPerSecond
        messageTokens = min(messageTokens, Double(messagesPerSecond))
        byteTokens = min(byteTokens, Double(bytesPerSecond))
    }

    public enum Verdict: Sendable, Equatable {
        case allowed
        /// Over the rate; `notice` is set when the function should be told now (the count refused
        /// since it was last told, this one included).
        case refused(notice: Int?)
        /// Larger than a whole second's bytes: never allowed, whatever the wait (`notice` as for `refused`).
        case tooLarge(notice: Int?)
    }

    /// Takes one publish of `bytes` at `nowMs` (monotonic).
    public mutating func take(bytes: Int, nowMs: Int64) -> Verdict {
        refill(nowMs)
        guard bytes <= bytesPerSecond else { return .tooLarge(notice: refuse(nowMs)) }
        if messageTokens >= 1 && byteTokens >= Double(bytes) {
            messageTokens -= 1
            byteTokens -= Double(bytes)
            allowed += 1
            return .allowed
        }
        return .refused(notice: refuse(nowMs))
    }

    /// Counts a refusal; the count to tell the function, when a second has passed since it was last told.
    private mutating func refuse(_ nowMs: Int64) -> Int? {
        refused += 1
        refusedSinceNotice += 1
        if let last = lastNoticeMs, nowMs - last < 1000 { return nil }
        lastNoticeMs = nowMs
        defer { refusedSinceNotice = 0 }
        return refusedSinceNotice
    }

    /// The message for the function when it is told (`publishError`).
    public func refusal(count: Int, field: String) -> String {
        "over this function's publish rate (\(messagesPerSecond) messages and \(bytesPerSecond / 1024) KiB a second): "
            + "\(count) publish\(count == 1 ? "" : "es") refused since the last notice; slow down, or raise \(field).limits.publishPerSecond "
            + "or publishKBPerSecond"
    }

    private mutating func refill(_ nowMs: Int64) {
        defer { lastMs = nowMs }
        guard let last = lastMs, nowMs > last else { return }
        let seconds = Double(nowMs - last) / 1000
        messageTokens = min(Double(messagesPerSecond), messageTokens + seconds * Double(messagesPerSecond))
        byteTokens = min(Double(bytesPerSecond), byteTokens + seconds * Double(bytesPerSecond))
    }
}
