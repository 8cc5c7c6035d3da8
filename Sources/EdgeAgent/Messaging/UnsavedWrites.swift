import EdgeCore

/// Writes of the outbox's store that are not on disk: those of the open transaction (kept so a
/// commit that fails loses nothing), or those the disk would not take (a full disk), held in
/// memory until a later commit writes them. A message inserted and deleted before reaching the
/// disk leaves nothing behind.
struct UnsavedWrites {
    /// A message as the store writes it.
    struct Row {
        var message: OutboundMessage
        var coalesce: Bool
        var createdMs: Int64
    }

    private(set) var inserts: [UInt64: Row] = [:]
    /// Rows on disk that are done with.
    private(set) var deletes: Set<UInt64> = []
    /// Payload bytes of `inserts`.
    private(set) var bytes = 0

    var isEmpty: Bool { inserts.isEmpty && deletes.isEmpty }

    mutating func insert(_ seq: UInt64, _ row: Row) {
        if let old = inserts.updateValue(row, forKey: seq) { bytes -= old.message.payload.count }
        bytes += row.message.payload.count
    }

    mutating func delete(_ seq: UInt64) {
        if let old = inserts.removeValue(forKey: seq) {
            bytes -= old.message.payload.count
        } else {
            deletes.insert(seq)
        }
    }

    /// `later` applied after these.
    mutating func append(_ later: UnsavedWrites) {
        for seq in later.deletes { delete(seq) }
        for (seq, row) in later.inserts { insert(seq, row) }
    }

    /// Inserts in sequence order.
    var insertsInOrder: [(seq: UInt64, row: Row)] {
        inserts.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }
}
