import EdgeCore

/// Where an MQTT message or a direct invocation goes: a topic-filter trie over the functions'
/// subscriptions, rebuilt only when the rollout changes the routes, and the events held for
/// functions being replaced. The hot path reads it; the rollout writes it.
final class Router {
    enum Delivery { case delivered, held, heldQueueFull, unknown }

    private var table: [String: Route] = [:]
    private var trie = TopicTrie<String>()
    /// The trie's answers for the topics seen lately: devices publish on a few topics over and
    /// over, and a lookup costs less than a walk. Emptied when the routes change or it is full.
    private var matched: [String: [String]] = [:]
    static let matchedTopics = 1024
    private var holding: [String: (events: RingQueue<Invocation>, capacity: Int)] = [:]
    /// The runner behind a route's target.
    private let runner: (RunnerID) -> FunctionRunner?

    init(runner: @escaping (RunnerID) -> FunctionRunner?) {
        self.runner = runner
    }

    /// The rollout's new table.
    func update(_ routes: [String: Route]) {
        table = routes
        var rebuilt = TopicTrie<String>()
        for name in routes.keys.sorted() where routes[name]!.subscribes {
            for subscription in routes[name]!.spec.subscriptions { rebuilt.insert(subscription.filter, name) }
        }
        trie = rebuilt
        matched.removeAll()
    }

    /// The specs whose subscriptions the agent must hold at the broker.
    var subscribedSpecs: [FunctionSpec] {
        table.values.filter(\.subscribes).map(\.spec)
    }

    /// The functions a message on `topic` goes to.
    func functions(for topic: String) -> [String] {
        if let known = matched[topic] { return known }
        let found = trie.matches(topic)
        if matched.count >= Self.matchedTopics { matched.removeAll(keepingCapacity: true) }
        matched[topic] = found
        return found
    }

    /// Gives an event to function `name`, or holds it while that function is being replaced.
    func deliver(_ invocation: Invocation, to name: String) -> Delivery {
        if case .runner(let id)? = table[name]?.target, let runner = runner(id) {
            runner.enqueue(invocation)
            return .delivered
        }
        guard var held = holding[name] else { return .unknown }
        guard held.events.count < held.capacity else { return .heldQueueFull }
        held.events.append(invocation)
        holding[name] = held
        return .held
    }

    /// Takes `from`'s queued events and holds them, and new ones, for `name`'s successor.
    func hold(_ name: String, from: FunctionRunner?, capacity: Int) {
        var held = holding[name] ?? (RingQueue(), capacity)
        held.events.append(contentsOf: from?.takeQueue() ?? [])
        held.capacity = capacity
        holding[name] = held
    }

    /// Gives the events held for `name` to its successor.
    func release(_ name: String, to successor: FunctionRunner?) {
        guard let held = holding.removeValue(forKey: name) else { return }
        successor?.enqueue(contentsOf: Array(held.events))
    }
}
