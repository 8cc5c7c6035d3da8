import Testing
@testable import EdgeCore

private func doc(_ id: String, _ revision: Int64, _ functions: [FunctionSpec],
                 policy: DeploymentPolicy = DeploymentPolicy()) -> Deployment {
    Deployment(deploymentId: id, revision: revision,
               functions: Dictionary(uniqueKeysWithValues: functions.map { ($0.name, $0) }), policy: policy)
}

@Suite struct DeploymentSetTests {
    @Test func emptySetHasNothing() {
        let effective = DeploymentSet().effective(groupOrder: ["a", "b"])
        #expect(effective == EffectiveDeployment())
        #expect(effective.policy == DeploymentPolicy())
    }

    @Test func laterGroupWinsForAFunctionBothName() {
        var set = DeploymentSet()
        set.set(doc("ga", 1, [makeSpec("f", version: "a"), makeSpec("onlyA")]), from: .group("a"))
        set.set(doc("gb", 1, [makeSpec("f", version: "b"), makeSpec("onlyB")]), from: .group("b"))

        let ab = set.effective(groupOrder: ["a", "b"])
        #expect(ab.functions["f"]?.version == "b")
        #expect(ab.origins == ["f": .group("b"), "onlyA": .group("a"), "onlyB": .group("b")])
        #expect(ab.sources.map(\.source) == [.group("a"), .group("b")])

        let ba = set.effective(groupOrder: ["b", "a"])
        #expect(ba.functions["f"]?.version == "a")
        #expect(ba.origins["f"] == .group("a"))
        #expect(ba.sources.map(\.source) == [.group("b"), .group("a")])
        #expect(Set(ba.functions.keys) == ["f", "onlyA", "onlyB"])
    }

    @Test func thingOverridesPerFunction() {
        var set = DeploymentSet()
        set.set(doc("g", 3, [makeSpec("f", version: "group"), makeSpec("g", version: "group")]), from: .group("cams"))
        set.set(doc("t", 7, [makeSpec("f", version: "thing"), makeSpec("h", version: "thing")]), from: .thing)
        let effective = set.effective(groupOrder: ["cams"])
        #expect(effective.functions.mapValues(\.version) == ["f": "thing", "g": "group", "h": "thing"])
        #expect(effective.origins == ["f": .thing, "g": .group("cams"), "h": .thing])
        #expect(effective.sources == [
            SourceRevision(source: .group("cams"), deploymentId: "g", revision: 3),
            SourceRevision(source: .thing, deploymentId: "t", revision: 7),
        ])
    }

    @Test func groupsNotInTheOrderAreIgnored() {
        var set = DeploymentSet()
        set.set(doc("old", 1, [makeSpec("f")]), from: .group("former"))
        let effective = set.effective(groupOrder: ["current"])
        #expect(effective.functions.isEmpty)
        #expect(effective.sources.isEmpty)
    }

    @Test func policyIsTheThingsOrElseTheLastGroups() {
        let p1 = DeploymentPolicy(onFailure: .none, healthySeconds: 1)
        let p2 = DeploymentPolicy(onFailure: .rollback, healthySeconds: 2)
        let pt = DeploymentPolicy(onFailure: .none, healthySeconds: 9)
        var set = DeploymentSet()
        set.set(doc("g1", 1, [], policy: p1), from: .group("g1"))
        set.set(doc("g2", 1, [], policy: p2), from: .group("g2"))
        #expect(set.effective(groupOrder: ["g1", "g2"]).policy == p2)
        #expect(set.effective(groupOrder: ["g2", "g1"]).policy == p1)
        // A group listed but without a document does not reset the policy.
        #expect(set.effective(groupOrder: ["g1", "g2", "g3"]).policy == p2)
        set.set(doc("t", 1, [], policy: pt), from: .thing)
        #expect(set.effective(groupOrder: ["g1", "g2"]).policy == pt)
    }

    @Test func isNewerAndMarkSeenArePerSource() {
        var set = DeploymentSet()
        #expect(set.isNewer(1, from: .thing))
        #expect(set.isNewer(Int64.min, from: .thing))
        set.markSeen(5, from: .thing)
        #expect(!set.isNewer(4, from: .thing))
        #expect(!set.isNewer(5, from: .thing))
        #expect(set.isNewer(6, from: .thing))
        #expect(set.isNewer(1, from: .group("g")))
        // Marking a lower revision never lowers what was seen.
        set.markSeen(3, from: .thing)
        #expect(set.seenRevisions[.thing] == 5)
        #expect(!set.isNewer(5, from: .thing))
        set.markSeen(9, from: .group("g"))
        #expect(set.seenRevisions == [.thing: 5, .group("g"): 9])
    }

    @Test func settingADocumentMarksItsRevisionSeen() {
        var set = DeploymentSet()
        set.set(doc("t", 4, [makeSpec("f")]), from: .thing)
        #expect(set.seenRevisions[.thing] == 4)
        #expect(!set.isNewer(4, from: .thing))
        #expect(set.documents[.thing]?.deploymentId == "t")
    }

    @Test func clearingASourceRemovesItsFunctionsButKeepsItsRevision() {
        var set = DeploymentSet()
        set.set(doc("g", 2, [makeSpec("f", version: "g")]), from: .group("g"))
        set.set(doc("t", 5, [makeSpec("f", version: "t"), makeSpec("x")]), from: .thing)
        set.set(nil, from: .thing)
        #expect(set.documents[.thing] == nil)
        #expect(set.seenRevisions[.thing] == 5)
        let effective = set.effective(groupOrder: ["g"])
        #expect(effective.functions.mapValues(\.version) == ["f": "g"])
        #expect(effective.origins == ["f": .group("g")])
        #expect(effective.sources.map(\.source) == [.group("g")])
    }

    @Test func emptyFunctionsDocumentRemovesThatSourcesFunctions() {
        var set = DeploymentSet()
        set.set(doc("g", 1, [makeSpec("f")]), from: .group("g"))
        set.set(doc("g", 2, []), from: .group("g"))
        let effective = set.effective(groupOrder: ["g"])
        #expect(effective.functions.isEmpty)
        #expect(effective.sources == [SourceRevision(source: .group("g"), deploymentId: "g", revision: 2)])
    }

    @Test func initialiserKeepsBothMaps() {
        let set = DeploymentSet(documents: [.thing: doc("t", 2, [])], seenRevisions: [.thing: 3])
        #expect(!set.isNewer(3, from: .thing))
        #expect(set.documents[.thing]?.revision == 2)
    }
}

@Suite struct EffectiveDeploymentChangesTests {
    func effective(_ specs: [FunctionSpec]) -> EffectiveDeployment {
        var result = EffectiveDeployment()
        for spec in specs { result.functions[spec.name] = spec; result.origins[spec.name] = .thing }
        return result
    }

    @Test func fromNothingEverythingStarts() {
        let changes = effective([makeSpec("b"), makeSpec("a")]).changes(from: EffectiveDeployment())
        #expect(changes.started == ["a", "b"])
        #expect(changes.stopped == [])
        #expect(changes.unchanged == [])
    }

    @Test func toNothingEverythingStops() {
        let changes = EffectiveDeployment().changes(from: effective([makeSpec("b"), makeSpec("a")]))
        #expect(changes.started == [])
        #expect(changes.stopped == ["a", "b"])
        #expect(changes.unchanged == [])
    }

    @Test func mixedChanges() {
        let previous = effective([makeSpec("same"), makeSpec("changed", version: "1"), makeSpec("removed")])
        let next = effective([makeSpec("same"), makeSpec("changed", version: "2"), makeSpec("added")])
        let changes = next.changes(from: previous)
        #expect(changes.started == ["added", "changed"])
        #expect(changes.stopped == ["changed", "removed"])
        #expect(changes.unchanged == ["same"])
    }

    @Test func anyFieldChangeRestartsTheFunction() {
        var changed = makeSpec("f")
        changed.environment = ["MODE": "x"]
        let changes = effective([changed]).changes(from: effective([makeSpec("f")]))
        #expect(changes.started == ["f"])
        #expect(changes.stopped == ["f"])
        #expect(changes.unchanged == [])
    }

    @Test func originChangeAloneIsUnchanged() {
        var previous = effective([makeSpec("f")])
        previous.origins["f"] = .group("g")
        let changes = effective([makeSpec("f")]).changes(from: previous)
        #expect(changes.unchanged == ["f"])
        #expect(changes.started.isEmpty && changes.stopped.isEmpty)
    }

    @Test func mergeThenChangesWhenThingOverridesAGroupFunction() {
        var set = DeploymentSet()
        set.set(doc("g", 1, [makeSpec("f", version: "g"), makeSpec("k")]), from: .group("g"))
        let before = set.effective(groupOrder: ["g"])
        set.set(doc("t", 1, [makeSpec("f", version: "t")]), from: .thing)
        let changes = set.effective(groupOrder: ["g"]).changes(from: before)
        #expect(changes.started == ["f"])
        #expect(changes.stopped == ["f"])
        #expect(changes.unchanged == ["k"])
    }
}

@Suite struct DeploymentSourceTests {
    @Test(arguments: [(DeploymentSource.thing, "thing"), (.group("cams"), "group/cams"), (.group("a:b_c-d"), "group/a:b_c-d")])
    func labelsRoundTrip(_ source: DeploymentSource, _ label: String) {
        #expect(source.description == label)
        #expect(DeploymentSource(label: label) == source)
    }

    @Test(arguments: ["", "Thing", "group/", "group/a/b", "group/a b", "groups/x", "cams"])
    func invalidLabels(_ label: String) {
        #expect(DeploymentSource(label: label) == nil)
    }
}
