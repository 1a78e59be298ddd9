import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Separate "machines" on this host, for tests of consumers on several VMs: a bridge in
/// the root network namespace holding the first address of a private /24 (services the
/// test starts listen there), and one network namespace per machine joined to the bridge
/// by a veth pair, with its own address on that /24 and its own loopback.
///
/// Nothing leaves the host: no namespace gets a default route, so a machine reaches only
/// its loopback, the bridge's address and the other machines of the lab. `cut` pulls a
/// machine's cable (its veth end on the bridge goes down: its packets are dropped
/// silently, as in a network partition, and its TCP connections stall until `restore`).
///
/// Every name starts with `bfnt` followed by the owning process id (base 36) and a
/// sequence number: `remove()` (also run when the lab is released) deletes exactly this
/// lab's namespaces and links, and a new lab first deletes those of labs whose process no
/// longer exists (a test run that crashed or was killed). Needs root (CAP_NET_ADMIN) and
/// iproute2; `unavailableReason` says why not, for the test to skip with that line.
public final class NetworkLab: @unchecked Sendable {
    /// One machine: a network namespace and its veth pair.
    public struct Machine: Sendable {
        public let label: String
        public let namespace: String
        /// The machine's IPv4 address on the lab's /24.
        public let address: String
        /// The veth end on the bridge, in the root namespace (what `cut` takes down).
        public let bridgePort: String
        /// The veth end inside the namespace.
        public let interface: String
    }

    /// What every name this type creates starts with.
    public static let namePrefix = "bfnt"

    /// The bridge's address: where the lab's services listen.
    public let gateway: String
    public let bridge: String
    /// The lab's network, e.g. `10.231.42.0/24`.
    public let subnet: String
    private let tag: String
    private let octets: (Int, Int, Int)
    private let state = Mutex(State())

    private struct State {
        var machines: [Machine] = []
        var removed = false
    }

    private static let sequence = Atomic<Int>(0)

    /// Why labs cannot be made on this machine (no iproute2, no CAP_NET_ADMIN), or nil.
    /// Checked once per process by creating and deleting a probe namespace and bridge.
    public static let unavailableReason: String? = probe()

    /// Removes leftovers of crashed runs, picks a free /24 under 10.231.0.0/16, and creates
    /// the bridge.
    public init() throws {
        if let reason = Self.unavailableReason { throw Unavailable(reason: reason) }
        Self.removeLeftovers()
        let sequence = Self.sequence.add(1, ordering: .relaxed).newValue
        tag = Self.namePrefix + String(getpid(), radix: 36) + String(sequence % 36, radix: 36)
        bridge = tag + "-br"
        let third = try Self.freeThirdOctet(seed: Int(getpid()) &+ sequence)
        octets = (10, 231, third)
        gateway = "10.231.\(third).1"
        subnet = "10.231.\(third).0/24"
        do {
            try Self.ip(["link", "add", bridge, "type", "bridge"])
            try Self.ip(["addr", "add", "\(gateway)/24", "dev", bridge])
            try Self.ip(["link", "set", bridge, "up"])
        } catch {
            remove()
            throw error
        }
    }

    deinit { remove() }

    /// The machines added so far.
    public var machines: [Machine] { state.withLock { $0.machines } }

    /// Adds a machine: a namespace, a veth pair to the bridge, the next address, loopback up.
    @discardableResult
    public func addMachine(_ label: String) throws -> Machine {
        let index = state.withLock { $0.machines.count } + 1
        guard index < 100 else { throw Unavailable(reason: "a lab holds at most 99 machines") }
        let machine = Machine(
            label: label, namespace: "\(tag)-m\(index)", address: "10.231.\(octets.2).\(10 + index)",
            bridgePort: "\(tag)-h\(index)", interface: "\(tag)-n\(index)")
        state.withLock { $0.machines.append(machine) }
        try Self.ip(["netns", "add", machine.namespace])
        try Self.ip(["link", "add", machine.bridgePort, "type", "veth", "peer", "name", machine.interface])
        try Self.ip(["link", "set", machine.interface, "netns", machine.namespace])
        try Self.ip(["link", "set", machine.bridgePort, "master", bridge])
        try Self.ip(["link", "set", machine.bridgePort, "up"])
        try Self.ip(["-n", machine.namespace, "addr", "add", "\(machine.address)/24", "dev", machine.interface])
        try Self.ip(["-n", machine.namespace, "link", "set", machine.interface, "up"])
        try Self.ip(["-n", machine.namespace, "link", "set", "lo", "up"])
        return machine
    }

    /// The words that run a command inside `machine` (`ip netns exec <namespace>`, which
    /// execs the command in place: the process id is the command's own).
    public func launcher(for machine: Machine) throws -> [String] {
        [try Self.ipPath(), "netns", "exec", machine.namespace]
    }

    /// Waits until `machine` opens a TCP connection to `host`:`port`; throws after `timeout`.
    public func waitUntilReachable(from machine: Machine, host: String, port: Int, timeout: TimeInterval = 15) throws {
        let deadline = Date().addingTimeInterval(timeout)
        var last = HostCommand.Result(status: -1, output: "")
        while Date() < deadline {
            last = try HostCommand.run(
                try Self.ipPath(),
                ["netns", "exec", machine.namespace, "bash", "-c", "exec 3<>/dev/tcp/\(host)/\(port)"], timeout: 5)
            if last.succeeded { return }
            usleep(100_000)
        }
        throw LocalProcess.TimedOut(
            what:
                "\(machine.label) (\(machine.address)) cannot reach \(host):\(port) after \(Int(timeout)) s: \(last.output)"
        )
    }

    /// Pulls `machine`'s cable: its port on the bridge goes down, every packet to or from
    /// it is dropped without an answer.
    public func cut(_ machine: Machine) throws {
        try Self.ip(["link", "set", machine.bridgePort, "down"])
    }

    /// Plugs `machine`'s cable back in.
    public func restore(_ machine: Machine) throws {
        try Self.ip(["link", "set", machine.bridgePort, "up"])
    }

    /// Deletes the lab's namespaces, veth pairs and bridge; safe to call more than once
    /// (also run when the lab is released). Processes still inside a namespace keep
    /// running with no network.
    public func remove() {
        let machines: [Machine]? = state.withLock { state in
            if state.removed { return nil }
            state.removed = true
            return state.machines
        }
        guard let machines else { return }
        for machine in machines {
            _ = try? Self.ipResult(["link", "del", machine.bridgePort])
            _ = try? Self.ipResult(["netns", "del", machine.namespace])
        }
        _ = try? Self.ipResult(["link", "del", bridge])
    }

    /// Deletes namespaces and links named by a lab whose process no longer exists; returns
    /// their names.
    @discardableResult
    public static func removeLeftovers() -> [String] {
        guard unavailableReason == nil else { return [] }
        var removed: [String] = []
        let namespaces = ((try? ipResult(["netns", "list"]))?.output ?? "")
            .split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) }
        for name in namespaces where isLeftover(name) {
            if (try? ipResult(["netns", "del", name]))?.succeeded == true { removed.append(name) }
        }
        // `ip -o link` lines: "7: name@peer: <FLAGS> ..." (the peer part on veths).
        let links = ((try? ipResult(["-o", "link", "show"]))?.output ?? "")
            .split(separator: "\n").compactMap { line -> String? in
                let fields = line.split(separator: ":", maxSplits: 2)
                guard fields.count >= 2 else { return nil }
                return fields[1].trimmingCharacters(in: .whitespaces).split(separator: "@").first.map(String.init)
            }
        for name in links where isLeftover(name) {
            if (try? ipResult(["link", "del", name]))?.succeeded == true { removed.append(name) }
        }
        if !removed.isEmpty {
            print("NetworkLab: removed leftovers of a previous run: \(removed.joined(separator: " "))")
        }
        return removed
    }

    /// The process id a lab name carries (`bfnt<pid base 36><sequence>-...`).
    static func ownerPID(of name: String) -> Int32? {
        guard name.hasPrefix(namePrefix), let dash = name.firstIndex(of: "-") else { return nil }
        let tag = name[name.index(name.startIndex, offsetBy: namePrefix.count)..<dash]
        guard tag.count >= 2 else { return nil }
        return Int32(tag.dropLast(), radix: 36)
    }

    /// A lab name whose owner is gone (a running process's labs are left alone).
    static func isLeftover(_ name: String) -> Bool {
        guard let pid = ownerPID(of: name) else { return false }
        if pid == getpid() { return false }
        return kill(pid, 0) != 0 && errno == ESRCH
    }

    /// A third octet for 10.231.x.0/24 that no address or route of this host touches.
    private static func freeThirdOctet(seed: Int) throws -> Int {
        let addresses = try ipResult(["-o", "-4", "addr", "show"]).output
        let routes = try ipResult(["-4", "route", "show", "table", "all"]).output
        let prefixes =
            (addresses.split(separator: "\n").compactMap { line -> String? in
                let words = line.split(separator: " ")
                guard let index = words.firstIndex(of: "inet"), index + 1 < words.count else { return nil }
                return String(words[index + 1])
            })
            + routes.split(separator: "\n").compactMap { line -> String? in
                let words = line.split(separator: " ")
                guard let first = words.first else { return nil }
                // "local 10.x.y.z ...", "broadcast ...", or the destination itself.
                let destination =
                    ["local", "broadcast", "unicast", "multicast"].contains(String(first))
                    ? (words.count > 1 ? words[1] : "") : first
                return destination == "default" ? nil : String(destination)
            }
        let taken = prefixes.compactMap(parseCIDR)
        for step in 0..<200 {
            let third = 20 + (abs(seed) + step) % 200
            let network = UInt32(10) << 24 | UInt32(231) << 16 | UInt32(third) << 8
            let overlaps = taken.contains { address, length in
                let shared = min(length, 24)
                let mask: UInt32 = shared == 0 ? 0 : ~UInt32(0) << (32 - UInt32(shared))
                return address & mask == network & mask
            }
            if !overlaps { return third }
        }
        throw Unavailable(reason: "no free /24 under 10.231.0.0/16 on this host")
    }

    /// "a.b.c.d/len" (or a bare address, /32) as (address, length).
    static func parseCIDR(_ text: String) -> (UInt32, Int)? {
        let parts = text.split(separator: "/")
        let quads = parts[0].split(separator: ".").compactMap { UInt32($0) }
        guard quads.count == 4, quads.allSatisfy({ $0 < 256 }) else { return nil }
        let length = parts.count > 1 ? Int(parts[1]) ?? 32 : 32
        return (quads[0] << 24 | quads[1] << 16 | quads[2] << 8 | quads[3], length)
    }

    private static func probe() -> String? {
        guard let ip = try? ipPath() else {
            return "iproute2's `ip` is not installed (scripts/install-deps.sh installs it)"
        }
        #if os(Linux)
            // At most 15 characters: it names a bridge too.
            let probe = namePrefix + String(getpid(), radix: 36) + "z-p"
            defer {
                _ = try? HostCommand.run(ip, ["link", "del", probe])
                _ = try? HostCommand.run(ip, ["netns", "del", probe])
            }
            guard let created = try? HostCommand.run(ip, ["netns", "add", probe]) else {
                return "cannot run \(ip)"
            }
            guard created.succeeded else {
                return
                    "cannot create network namespaces here (needs root with CAP_NET_ADMIN): \(created.output.trimmingCharacters(in: .whitespacesAndNewlines))"
            }
            guard let bridge = try? HostCommand.run(ip, ["link", "add", probe, "type", "bridge"]), bridge.succeeded
            else {
                return "cannot create a bridge here (needs CAP_NET_ADMIN and the bridge driver)"
            }
            return nil
        #else
            return "network namespaces are Linux only"
        #endif
    }

    static func ipPath() throws -> String {
        guard let path = HostCommand.find(["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]) else {
            throw Unavailable(reason: "iproute2's `ip` is not installed (scripts/install-deps.sh installs it)")
        }
        return path
    }

    private static func ip(_ arguments: [String]) throws {
        try HostCommand.check(try ipPath(), arguments)
    }

    private static func ipResult(_ arguments: [String]) throws -> HostCommand.Result {
        try HostCommand.run(try ipPath(), arguments)
    }

    /// Labs cannot be made here, and why.
    public struct Unavailable: Error, CustomStringConvertible {
        public let reason: String
        public var description: String { reason }
    }
}
