import Testing
@testable import EdgeCore

private let small = FunctionUidRange(first: 61000, last: 61002)
private func noAccounts(_ id: UInt32) -> Bool { false }

@Suite struct FunctionUidTableTests {
    @Test func eachFunctionGetsTheLowestFreeUidAndKeepsIt() {
        var table = FunctionUidTable()
        #expect(table.assign("a", in: small, isAccount: noAccounts) == 61000)
        #expect(table.assign("b", in: small, isAccount: noAccounts) == 61001)
        // Asked again (a restart, a redeployment): the same uid, the table unchanged.
        let before = table
        #expect(table.assign("a", in: small, isAccount: noAccounts) == 61000)
        #expect(table == before)
    }

    @Test func aFullRangeRefusesAndSaysHowToFixIt() {
        var table = FunctionUidTable()
        for name in ["a", "b", "c"] { _ = table.assign(name, in: small, isAccount: noAccounts) }
        #expect(table.assign("d", in: small, isAccount: noAccounts) == nil)
        #expect(table.held["d"] == nil)
        let message = FunctionUidTable.fullMessage(small).message
        #expect(message.contains("functions.uids (61000-61002, 3 uids)"))
        #expect(message.contains("widen the range"))
    }

    @Test func aReleasedUidIsReusedOnlyWhenNoFreshOneIsLeftOldestFirst() {
        let range = FunctionUidRange(first: 61000, last: 61003)
        var table = FunctionUidTable()
        for name in ["a", "b", "c"] { _ = table.assign(name, in: range, isAccount: noAccounts) }
        #expect(table.release(["b"]) == ["b": 61001])
        #expect(table.release(["a"]) == ["a": 61000])
        #expect(table.released == [61001, 61000])
        // A never-used uid first, then the uid given back first.
        #expect(table.assign("d", in: range, isAccount: noAccounts) == 61003)
        #expect(table.assign("e", in: range, isAccount: noAccounts) == 61001)
        #expect(table.assign("f", in: range, isAccount: noAccounts) == 61000)
        #expect(table.released.isEmpty)
        #expect(table.assign("g", in: range, isAccount: noAccounts) == nil)
    }

    @Test func releasingAnUnknownNameChangesNothing() {
        var table = FunctionUidTable()
        _ = table.assign("a", in: small, isAccount: noAccounts)
        let before = table
        #expect(table.release(["zz"]).isEmpty)
        #expect(table == before)
    }

    @Test func anIdThatIsAnAccountIsNeverGivenAndAHolderMovesOff() {
        var table = FunctionUidTable()
        // 61000 is a user (or a group): skipped.
        #expect(table.assign("a", in: small, isAccount: { $0 == 61000 }) == 61001)
        // Later 61001 becomes an account too: "a" moves, never shares it.
        #expect(table.assign("a", in: small, isAccount: { $0 <= 61001 }) == 61002)
        #expect(table.held == ["a": 61002])
    }

    @Test func aUidOutsideAChangedRangeIsReplaced() {
        var table = FunctionUidTable()
        _ = table.assign("a", in: small, isAccount: noAccounts)
        let moved = FunctionUidRange(first: 70000, last: 70009)
        #expect(table.assign("a", in: moved, isAccount: noAccounts) == 70000)
    }

    @Test func theStoredFormRoundTrips() throws {
        var table = FunctionUidTable()
        for name in ["a", "b", "c"] { _ = table.assign(name, in: small, isAccount: noAccounts) }
        table.release(["b"])
        let parsed = try FunctionUidTable.parse(table.json).get()
        #expect(parsed == table)
    }

    @Test func aTableGivingOneUidTwiceIsRefused() {
        let twice: JSONValue = ["functions": ["a": 61000, "b": 61000], "released": []]
        guard case .failure(let problem) = FunctionUidTable.parse(twice) else {
            Issue.record("a table giving 61000 to two functions was read")
            return
        }
        #expect(problem.message.contains("'b'"))
        let heldAndReleased: JSONValue = ["functions": ["a": 61000], "released": [61000]]
        #expect((try? FunctionUidTable.parse(heldAndReleased).get()) == nil)
        #expect((try? FunctionUidTable.parse(["functions": ["a": -1]]).get()) == nil)
        #expect((try? FunctionUidTable.parse(["nothing": 1]).get()) == nil)
    }
}

@Suite struct FunctionUidRangeTests {
    @Test func parsesFirstDashLast() throws {
        let range = try FunctionUidRange.parse("70000-70099").get()
        #expect(range == FunctionUidRange(first: 70000, last: 70099))
        #expect(range.count == 100)
        #expect(FunctionUidRange.standard.description == "61000-61183")
    }

    @Test(arguments: [
        ("61000", "is not a range"), ("a-b", "is not a range"), ("61100-61000", "ends before it starts"),
        ("0-100", "must lie within 1000-2147483646"), ("2147483000-4294967295", "must lie within"),
        ("65000-65600", "holds 65534"),
    ])
    func refusesWhatCannotBeAFunctionRange(text: String, why: String) {
        guard case .failure(let problem) = FunctionUidRange.parse(text) else {
            Issue.record("'\(text)' was accepted")
            return
        }
        #expect(problem.message.contains(why), "\(problem.message)")
        #expect(problem.message.contains("61000-61183"), "the message shows a range that works: \(problem.message)")
    }
}

@Suite struct FunctionUidConfigurationTests {
    private func load(_ arguments: [String], file: JSONValue? = nil) throws(ConfigurationError) -> AgentConfiguration {
        try ConfigurationLoader.load(file: file, arguments: ["--thing-name", "d"] + arguments)
    }

    @Test func onByDefaultWithTheStandardRange() throws {
        #expect(try load([]).functionUids == .standard)
    }

    @Test func theFileAndTheFlagSetOrTurnItOff() throws {
        #expect(try load([], file: ["functions": ["uids": "70000-70999"]]).functionUids == FunctionUidRange(first: 70000, last: 70999))
        #expect(try load([], file: ["functions": ["uids": "off"]]).functionUids == nil)
        #expect(try load(["--function-uids", "off"]).functionUids == nil)
        // The flag wins over the file.
        #expect(try load(["--function-uids", "80000-80009"], file: ["functions": ["uids": "off"]]).functionUids
                == FunctionUidRange(first: 80000, last: 80009))
    }

    @Test func aBadRangeNamesTheSettingAndTheFix() {
        let cases: [([String], JSONValue?)] = [([], ["functions": ["uids": "10-20"]]), (["--function-uids", "10-20"], nil)]
        for (arguments, file) in cases {
            do {
                _ = try load(arguments, file: file)
                Issue.record("10-20 was accepted")
            } catch {
                #expect(error.setting == "functions.uids")
                #expect(error.message.contains("must lie within 1000-"), "\(error)")
            }
        }
        do {
            _ = try load([], file: ["functions": ["uids": 61000]])
            Issue.record("a number was accepted")
        } catch {
            #expect(error.setting == "functions.uids")
        }
    }
}

@Suite struct FunctionUidAdmissionTests {
    private let device = DeviceCapacity(memoryMB: 1024, cpus: 4, pidMax: 32_768, openFilesMax: 524_288)

    private func policy(defaultUser: String? = nil, agentUid: UInt32 = 0) -> FunctionHostPolicy {
        var policy = FunctionHostPolicy(defaultLimits: ResourceLimits(), defaultUser: defaultUser, allowRoot: false, agentUid: agentUid,
                                        capacity: device, controllers: ["memory", "cpu", "pids"], cgroupProblem: nil, allowUncapped: false)
        policy.functionUids = small
        return policy
    }

    private func check(_ fields: [String: JSONValue], _ policy: FunctionHostPolicy,
                       uid: Result<UInt32, FunctionUidProblem> = .success(61001)) throws -> Result<FunctionAdmission, DocumentRejection> {
        let parsed = try #require(spec(function(fields)))
        return FunctionAdmission.check(parsed, policy: policy, lookupUser: { $0 == "edgefn" ? (999, 998) : nil }) { _ in uid }
    }

    @Test func aFunctionWithoutAUserGetsItsOwnUidAndGroup() throws {
        let admission = try check([:], policy()).get()
        #expect(admission.ownUid && admission.uid == 61001 && admission.gid == 61001)
        #expect(admission.user == nil)
    }

    @Test func anExplicitUserWinsInTheSpecOrTheConfiguration() throws {
        let fromSpec = try check(["user": "edgefn"], policy()).get()
        #expect(!fromSpec.ownUid && fromSpec.user == "edgefn" && fromSpec.uid == 999)
        let fromConfiguration = try check([:], policy(defaultUser: "edgefn")).get()
        #expect(!fromConfiguration.ownUid && fromConfiguration.user == "edgefn")
    }

    @Test func aFullRangeRejectsNamingTheSetting() throws {
        guard case .failure(let rejection) = try check([:], policy(), uid: .failure(FunctionUidTable.fullMessage(small))) else {
            Issue.record("admitted without a uid")
            return
        }
        #expect(rejection.issues.map(\.path) == ["agent configuration functions.uids"])
        #expect(rejection.issues[0].message.contains("widen the range"))
    }

    @Test func anAgentThatIsNotRootRunsFunctionsAsItself() throws {
        let admission = try check([:], policy(agentUid: 1000)).get()
        #expect(!admission.ownUid && admission.uid == 1000)
    }
}
