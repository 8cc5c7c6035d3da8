/// The block of uids that functions get one each of (`functions.uids`), so that no function can
/// signal, trace or read another. The gid of each is its uid.
public struct FunctionUidRange: Sendable, Equatable, CustomStringConvertible {
    public var first: UInt32
    public var last: UInt32

    /// 61000–61183: above the uids Debian gives people (1000–59999) and systemd-homed and
    /// nspawn take (60001–60577), below systemd's dynamic service users (61184–65519), and under
    /// 65536, so it exists in a rootless container's user namespace too.
    public static let standard = FunctionUidRange(first: 61000, last: 61183)
    /// Below it are the system's own accounts.
    public static let lowest: UInt32 = 1000
    /// Above it uids are negative to 32-bit signed code (and 4294967295 is -1).
    public static let highest: UInt32 = 2_147_483_646
    /// nobody, and -1 in 16 bits: never a function's.
    static let reserved: [UInt32] = [65534, 65535]

    public init(first: UInt32, last: UInt32) {
        self.first = first
        self.last = last
    }

    public var count: Int { Int(last) - Int(first) + 1 }
    public func contains(_ uid: UInt32) -> Bool { uid >= first && uid <= last }
    public var description: String { "\(first)-\(last)" }

    /// Parses "FIRST-LAST" (both included); the failure says what is wrong and what to write.
    public static func parse(_ text: String) -> Result<FunctionUidRange, FunctionUidProblem> {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let first = UInt32(parts[0]), let last = UInt32(parts[1]) else {
            return .failure("'\(text)' is not a range: write FIRST-LAST, for example \(standard), or off")
        }
        guard first <= last else {
            return .failure("'\(text)' ends before it starts: write the lower uid first, for example \(standard)")
        }
        guard first >= lowest, last <= highest else {
            return .failure("'\(text)' must lie within \(lowest)-\(highest) (below are system accounts, above uids turn negative); for example \(standard)")
        }
        let range = FunctionUidRange(first: first, last: last)
        if let uid = reserved.first(where: range.contains) {
            return .failure("'\(text)' holds \(uid), which is never a function's (nobody, or -1 in 16 bits): choose a range without it, for example \(standard)")
        }
        return .success(range)
    }
}

/// Which function holds which uid, as the agent keeps it in its state directory. A function
/// keeps its uid for as long as anything of it is left on the device; a uid given back is
/// reused only once every uid of the range that was never given out is taken, oldest first.
public struct FunctionUidTable: Sendable, Equatable {
    /// Function name → its uid.
    public private(set) var held: [String: UInt32] = [:]
    /// Uids given back, the oldest first.
    public private(set) var released: [UInt32] = []

    public init() {}

    /// The uid `name` runs as: the one it holds if it is still in `range` and not an account
    /// (`isAccount`: a user or group with that id exists), else the lowest never given out, else
    /// the oldest given back. Nil when the range has none left. The table changes only when a
    /// uid is given.
    public mutating func assign(_ name: String, in range: FunctionUidRange, isAccount: (UInt32) -> Bool) -> UInt32? {
        if let uid = held[name] {
            if range.contains(uid) && !isAccount(uid) { return uid }
            // Out of a range changed since, or now a real account's: never shared with it.
            held[name] = nil
        }
        let used = Set(held.values).union(released)
        var candidate = range.first
        while true {
            if !used.contains(candidate) && !isAccount(candidate) {
                held[name] = candidate
                return candidate
            }
            if candidate == range.last { break }
            candidate += 1
        }
        let holders = Set(held.values)
        guard let index = released.firstIndex(where: { range.contains($0) && !holders.contains($0) && !isAccount($0) }) else {
            return nil
        }
        let uid = released.remove(at: index)
        held[name] = uid
        return uid
    }

    /// Gives back the uids of `names`; returns the ones given.
    @discardableResult
    public mutating func release(_ names: [String]) -> [String: UInt32] {
        var given: [String: UInt32] = [:]
        for name in names.sorted() {
            guard let uid = held.removeValue(forKey: name) else { continue }
            released.removeAll { $0 == uid }
            released.append(uid)
            given[name] = uid
        }
        return given
    }

    /// Why no uid is left, naming the setting and the fixes.
    public static func fullMessage(_ range: FunctionUidRange) -> FunctionUidProblem {
        FunctionUidProblem(message: "every uid of functions.uids (\(range), \(range.count) uids) is held by a function still on this device; widen the range in the agent's configuration, or remove functions no deployment needs")
    }

    // MARK: Stored form

    public var json: JSONValue {
        .object([
            "functions": .object(held.mapValues { .int(Int64($0)) }),
            "released": .array(released.map { .int(Int64($0)) }),
        ])
    }

    /// Reads the stored form; a table that is not one, or gives one uid twice, is refused.
    public static func parse(_ value: JSONValue) -> Result<FunctionUidTable, FunctionUidProblem> {
        guard let members = value.objectValue, let functions = members["functions"]?.objectValue else {
            return .failure("is not a table of function uids (no \"functions\" object)")
        }
        func uid(_ value: JSONValue) -> UInt32? {
            value.intValue.flatMap { UInt32(exactly: $0) }
        }
        var table = FunctionUidTable()
        var seen: Set<UInt32> = []
        for name in functions.keys.sorted() {
            guard let id = uid(functions[name]!), seen.insert(id).inserted else {
                return .failure("gives function '\(name)' \(functions[name]!.excerpt()), not a uid of its own")
            }
            table.held[name] = id
        }
        for entry in members["released"]?.arrayValue ?? [] {
            guard let id = uid(entry), seen.insert(id).inserted else {
                return .failure("lists \(entry.excerpt()) among released uids, which is not a free uid")
            }
            table.released.append(id)
        }
        return .success(table)
    }
}

/// Why a function got no uid of its own (the range is full, the table could not be saved), or
/// why a range or a stored table is refused.
public struct FunctionUidProblem: Error, Sendable, Equatable, ExpressibleByStringInterpolation {
    public var message: String

    public init(message: String) { self.message = message }
    public init(stringLiteral value: String) { message = value }
}
