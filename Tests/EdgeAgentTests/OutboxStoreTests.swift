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
            store.insert(seq: 1, Self.message("a", "one"), coalesce: false, nowMs: 5)
            store.insert(seq: 2, Self.message("b", "two", qos: 0), coalesce: false, nowMs: 5)
            store.insert(seq: 3, Self.message("h", "health"), coalesce: true, nowMs: 5)
            store.delete(1)
            #expect(store.commit())
            store.insert(seq: 4, Self.message("a", "never committed"), coalesce: false, nowMs: 5)
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
        store.insert(seq: 1, Self.message("a", "kept in memory"), coalesce: false, nowMs: 0)
        store.commit()
        #expect(try store.fetch(after: 0, limit: 5).count == 1)
    }

    private static func pageCount(_ store: OutboxStore) throws -> Int64 {
        var pages: Int64 = 0
        try store.database.prepare("PRAGMA page_count").query { pages = $0.int(0) }
        return pages
    }

    /// A full disk (SQLite held to the pages it has) loses nothing: the failed transaction's
    /// writes and the ones after it are read from memory, and written once there is room.
    @Test func writesTheDiskRefusesAreHeldInMemoryAndWrittenOnceThereIsRoom() throws {
        let dir = Self.folder()
        let store = OutboxStore(stateDir: dir, sync: .normal)
        store.insert(seq: 1, Self.message("a", "on disk"), coalesce: false, nowMs: 5)
        store.insert(seq: 2, Self.message("a", "on disk too"), coalesce: false, nowMs: 5)
        #expect(store.commit())
        try store.database.execute("PRAGMA max_page_count=\(try Self.pageCount(store))")

        // The transaction: a large message that needs pages, and the acknowledged first one.
        store.insert(seq: 3, Self.message("a", String(repeating: "x", count: 65536)), coalesce: false, nowMs: 5)
        store.delete(1)
        #expect(!store.commit(), "the disk is full")
        #expect(store.isHoldingUnsaved && store.problem?.contains("full") == true, "\(store.problem ?? "no problem")")
        #expect(try store.fetch(after: 0, limit: 10).map(\.meta.seq) == [2, 3], "the acknowledged message is not sent again")
        #expect(try store.oldest(after: 2, limit: 10).map(\.seq) == [3])
        #expect(!store.contains(1) && store.contains(2) && store.contains(3))
        store.insert(seq: 4, Self.message("b", "after"), coalesce: false, nowMs: 5)
        store.delete(2)
        #expect(try store.fetch(after: 0, limit: 1).map(\.meta.seq) == [3], "the limit counts the rows left")
        #expect(try store.summary().topics == [.init(topic: "a", count: 1, bytes: 65536), .init(topic: "b", count: 1, bytes: 5)])
        #expect(!store.commit(), "still full")

        // Beyond what memory holds, a message is not kept.
        let kept = store.insert(seq: 5, Self.message("c", String(repeating: "y", count: OutboxStore.unsavedLimitBytes)), coalesce: false, nowMs: 5)
        #expect(!kept)

        try store.database.execute("PRAGMA max_page_count=1000000")
        #expect(store.commit(), "room again")
        #expect(!store.isHoldingUnsaved && store.problem == nil)
        let again = OutboxStore(stateDir: dir, sync: .normal)
        #expect(try again.fetch(after: 0, limit: 10).map(\.meta.seq) == [3, 4], "what the next start finds")
    }
}
