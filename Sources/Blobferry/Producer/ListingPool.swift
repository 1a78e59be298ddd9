/// The listing units of one run and who lists them: listers take units in turn, a unit that
/// splits adds its children, and a partition counts as listed once all its units are.
///
/// Why a pool and not one task per partition: the units are not known in advance (a large
/// one splits while it lists), and how many listers are idle decides whether splitting is
/// worth a request at all.
actor ListingPool {
    private var pending: [ListingUnit]
    private var active = 0
    private let listers: Int
    private var units: [String: ListingUnit] = [:]
    private var finished = Set<String>()
    /// At most this many units in one run (splits stop there).
    let maxUnits: Int

    init(units: [ListingUnit], listers: Int, maxUnits: Int = 4096) {
        self.listers = listers
        self.maxUnits = maxUnits
        self.pending = units
        for unit in units { self.units[unit.id] = unit }
    }

    /// The next unit to list; nil once every unit is taken and no lister can add more.
    func next() async throws -> ListingUnit? {
        while true {
            if !pending.isEmpty {
                active += 1
                return pending.removeFirst()
            }
            if active == 0 { return nil }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
    }

    /// A lister is done with the unit it took.
    func release() { active -= 1 }

    /// Listers that would sit idle now: what a split may put to work.
    var idleListers: Int { max(0, listers - active - pending.count) }

    /// Whether one more split fits the run's bound.
    var maySplit: Bool { units.count < maxUnits }

    /// Records a split: the parent's new range and its children to list.
    func split(parent: ListingUnit, children: [ListingUnit]) {
        units[parent.id] = parent
        for child in children { units[child.id] = child }
        pending.append(contentsOf: children)
    }

    /// Records a unit as listed; returns whether its partition is now complete (no unit
    /// of it is left, and none can appear: only a unit still listing can split).
    func finish(_ unit: ListingUnit) -> Bool {
        finished.insert(unit.id)
        return units.values.allSatisfy { $0.partition != unit.partition || finished.contains($0.id) }
    }
}
