#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import EdgeAgent
@testable import EdgeCore
import EdgePOSIX

/// The table of per-function uids on the real filesystem: saved before a uid is used, read back
/// by the next agent, given back once a function's folder is gone, refused when unreadable.
@Suite struct FunctionUidStoreTests {
    private let range = FunctionUidRange(first: 61000, last: 61009)
    private let logger = Logger(level: .error)

    private func makeFolder() throws -> String {
        var template = Array("/tmp/edge-uids-XXXXXX".utf8CString)
        let made = try #require(mkdtemp(&template), "mkdtemp: \(Errno.current)")
        return String(cString: made)
    }

    private func remove(_ folder: String) {
        do { try Files.removeTree(folder) } catch { Issue.record("cannot remove \(folder): \(error)") }
    }

    @Test func aUidIsSavedAndTheNextAgentReadsItBack() throws {
        let state = try makeFolder()
        defer { remove(state) }
        let first = try FunctionUidStore(stateDir: state, range: range, logger: logger)
        let a = try first.assign("a").get()
        let b = try first.assign("b").get()
        #expect(a != b)
        let saved = try Files.status("\(state)/function-uids.json")
        #expect(saved.permissions == 0o600)
        let next = try FunctionUidStore(stateDir: state, range: range, logger: logger)
        #expect(next.uid(of: "a") == a && next.uid(of: "b") == b)
        #expect(try next.assign("b").get() == b)
    }

    @Test func aFunctionWhoseFolderIsGoneGivesBackItsUidAfterItsData() throws {
        let state = try makeFolder()
        defer { remove(state) }
        let store = try FunctionUidStore(stateDir: state, range: range, logger: logger)
        let kept = try store.assign("kept").get()
        let gone = try store.assign("gone").get()
        try Files.makeDirectories("\(state)/functions/kept/1-abc")
        try Files.makeDirectories("\(state)/data/gone")
        try Files.writeAtomically("\(state)/data/gone/file", Array("x".utf8))
        store.releaseGone()
        #expect(store.uid(of: "kept") == kept)
        #expect(store.uid(of: "gone") == nil)
        #expect(store.table.released == [gone])
        #expect(!Files.exists("\(state)/data/gone"))
        // Saved: the next agent knows it was given back.
        #expect(try FunctionUidStore(stateDir: state, range: range, logger: logger).table.released == [gone])
    }

    @Test func anUnreadableTableStopsTheAgentNamingTheFile() throws {
        let state = try makeFolder()
        defer { remove(state) }
        try Files.writeAtomically("\(state)/function-uids.json", Array("{\"functions\": {\"a\": 61000, \"b\": 61000}}".utf8))
        do {
            _ = try FunctionUidStore(stateDir: state, range: range, logger: logger)
            Issue.record("a table giving one uid twice was read")
        } catch {
            #expect(error.description.contains("\(state)/function-uids.json"), "\(error)")
            #expect(error.description.contains("functions.uids"), "\(error)")
        }
    }
}
