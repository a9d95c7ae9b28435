/// A first-in first-out queue over an array with a moving head (posted receives, early messages,
/// transmit queues: short, and popped from the front far more often than they grow).
struct FIFO<Element> {
    private var items: [Element] = []
    private var head = 0

    var isEmpty: Bool { self.head == self.items.count }
    var count: Int { self.items.count - self.head }
    var first: Element? { self.isEmpty ? nil : self.items[self.head] }

    mutating func append(_ element: Element) { self.items.append(element) }

    mutating func popFirst() -> Element? {
        guard !self.isEmpty else { return nil }
        let element = self.items[self.head]
        self.head += 1
        if self.head == self.items.count {
            self.items.removeAll(keepingCapacity: true)
            self.head = 0
        } else if self.head >= 64 && self.head * 2 >= self.items.count {
            self.items.removeFirst(self.head)
            self.head = 0
        }
        return element
    }

    /// Changes the first element in place.
    mutating func withFirst<R>(_ body: (inout Element) -> R) -> R? {
        guard !self.isEmpty else { return nil }
        return body(&self.items[self.head])
    }

    /// Changes the element `offset` places behind the first, in place.
    mutating func withElement<R>(at offset: Int, _ body: (inout Element) -> R) -> R? {
        guard offset >= 0, offset < self.count else { return nil }
        return body(&self.items[self.head + offset])
    }

    /// The oldest element matching `predicate`.
    func first(where predicate: (Element) -> Bool) -> Element? {
        self.items[self.head...].first(where: predicate)
    }

    /// Empties the queue and returns what it held, oldest first.
    mutating func drain() -> [Element] {
        let out = Array(self.items[self.head...])
        self.items.removeAll()
        self.head = 0
        return out
    }
}

extension FIFO: Sendable where Element: Sendable {}
