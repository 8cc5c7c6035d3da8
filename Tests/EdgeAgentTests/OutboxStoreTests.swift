#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import EdgeAgent
import EdgeCore
import EdgePOSIX

/// The outbox's SQLite store on a real file: what a commit keeps, what a new start finds.
@Suite struct OutboxStoreTests {
    private static func folder() -> String {
        var template = Array("/tmp/outbox-store-XXXXXX".utf8CString)
        return template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
    }

    private static func message(_ topic: String, _ text: String, qos: Int = 1) -> OutboundMessage {
        OutboundMessage(topic: topic, payload: Array(text.utf8), qos: qos, retain: false, correlation: [1, 2])
    }

    @Test func committedMessagesAreFoundByTheNextStartInOrderWithTheirFields() throws {
        let dir = Self.folder()
        do {
            let store = OutboxStore(stateDir: dir, sync: .normal)
            #expect(store.durable && store.problem == nil)
            #expect(store.run == 1)
            try store.insert(seq: 1, Self.message("a", "one"), coalesce: false, nowMs: 5)
            try store.insert(seq: 2, Self.message("b", "two", qos: 0), coalesce: false, nowMs: 5)
            try store.insert(seq: 3, Self.message("h", "health"), coalesce: true, nowMs: 5)
            try store.delete(1)
            try store.commit()
            try store.insert(seq: 4, Self.message("a", "never committed"), coalesce: false, nowMs: 5)
            // No commit: as if the agent were killed here.
        }
        let again = OutboxStore(stateDir: dir, sync: .normal)
        #expect(again.run == 2, "each start has a number of its own")
        let summary = try again.summary()
        #expect(summary.maxSeq == 3)
        #expect(summary.topics == [.init(topic: "b", count: 1, bytes: 3), .init(topic: "h", count: 1, bytes: 6, newestCoalescing: (3, 6))])
        let rows = try again.fetch(after: 0, limit: 10)
        #expect(rows.map(\.meta.seq) == [2, 3])
        #expect(rows[0].message == Self.message("b", "two", qos: 0))
        #expect(try again.fetch(after: 2, limit: 10).map(\.meta.seq) == [3])
        #expect(try again.oldest(after: 0, limit: 1).map(\.seq) == [2])
        var status = stat()
        #expect(stat("\(dir)/outbox.db", &status) == 0 && status.st_mode & 0o777 == 0o600, "the results are the agent's alone")
    }

    @Test func aStoreThatCannotBeOpenedLivesInMemoryAndSaysWhy() throws {
        let store = OutboxStore(stateDir: "/proc/no-such-folder", sync: .normal)
        #expect(!store.durable)
        #expect(store.problem?.contains("/proc/no-such-folder/outbox.db") == true)
        try store.insert(seq: 1, Self.message("a", "kept in memory"), coalesce: false, nowMs: 0)
        try store.commit()
        #expect(try store.fetch(after: 0, limit: 5).count == 1)
    }
}
