import Testing
@testable import EdgeCore

@Suite struct ShadowTombstoneTests {
    private func update(_ book: inout ShadowBook, _ name: String, now: Int64) -> ShadowBook.Outcome {
        book.perform(.update, on: name, .success(ShadowRequest(reported: ["on": true])), now: now)
    }

    @Test func deletedNamedShadowsAreRememberedUpToTheCapThenTheOldestIsForgotten() {
        var book = ShadowBook(thing: "t1")
        let cap = ShadowLimits.maxTombstones
        for index in 0...cap {
            let name = "s\(index)"
            #expect(update(&book, name, now: Int64(index)).error == nil)
            let deleted = book.perform(.delete, on: name, .success(ShadowRequest()), now: Int64(index))
            #expect(deleted.error == nil)
            #expect(deleted.forgotten == (index == cap ? "s0" : nil), "only the delete past the cap forgets one")
        }
        #expect(book.shadows.count == cap)
        #expect(book.shadows["s0"] == nil)
        // A remembered tombstone keeps its version; the forgotten one starts again.
        #expect(update(&book, "s1", now: 5000).changed?.version == 2)
        #expect(update(&book, "s0", now: 5001).changed?.version == 1)
    }

    @Test func theClassicShadowsTombstoneIsNeverForgotten() {
        var book = ShadowBook(thing: "t1")
        _ = book.perform(.update, on: nil, .success(ShadowRequest(desired: ["a": 1])), now: 0)
        _ = book.perform(.delete, on: nil, .success(ShadowRequest()), now: 1)
        for index in 0...ShadowLimits.maxTombstones {
            _ = update(&book, "n\(index)", now: Int64(10 + index))
            _ = book.perform(.delete, on: "n\(index)", .success(ShadowRequest()), now: Int64(10 + index))
        }
        #expect(book.shadows[nil]?.exists == false)
        #expect(book.perform(.update, on: nil, .success(ShadowRequest(desired: ["a": 2])), now: 9999).changed?.version == 2)
    }
}
