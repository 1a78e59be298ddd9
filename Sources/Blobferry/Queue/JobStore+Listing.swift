import BlobferryRedis
import Foundation

/// What became of a split.
public enum SplitResult: Sendable, Equatable {
    /// The parent's new range and its children are in Redis.
    case recorded
    /// The unit or its cursor is not what the producer split (nothing written).
    case unitMoved
}

extension JobStore {
    /// The ids of the current pass's listing units.
    func listingUnitIDs() async throws -> [String] {
        let key = keys.units
        return try await runIdempotent { try $0.send("HKEYS", RedisArgument(key)).decodeStrings("HKEYS units") }
    }

    /// The current pass's listing units, as Redis has them (empty before they are recorded).
    public func listingUnits() async throws -> [ListingUnit] {
        let key = keys.units
        let fields = try await runIdempotent { try $0.send("HGETALL", RedisArgument(key)).decodeHash("HGETALL units") }
        return try fields.values.map { try Self.decodeUnit($0) }.sorted { ListingUnit.precedes($0.id, $1.id) }
    }

    /// Records the units a pass starts with, in one command, unless some are recorded
    /// already (a resumed pass keeps what it had). Returns the units Redis has.
    public func recordRootUnits(_ units: [ListingUnit]) async throws -> [ListingUnit] {
        let key = keys.units
        let fields = try units.flatMap { [RedisArgument($0.id), RedisArgument(try Self.encode($0))] }
        _ = try await runIdempotent { connection in
            if try connection.send("HLEN", RedisArgument(key)).decodeInt("HLEN units") == 0 {
                _ = try connection.send(["HSET", RedisArgument(key)] + fields)
            }
        }
        return try await listingUnits()
    }

    /// Where a unit's lister starts.
    public func listingPosition(of unit: ListingUnit) async throws -> ListingPosition {
        let keys = self.keys
        return try await runIdempotent { connection in
            let replies = try connection.pipelineOrThrow([
                ["EXISTS", RedisArgument(keys.unitListed(unit.id))],
                ["GET", RedisArgument(keys.cursor(unit.id))],
            ])
            let listed = try replies[0].decodeInt("EXISTS unit listed") == 1
            let marker = try replies[1].decodeOptionalString("GET cursor") ?? ""
            return ListingPosition(isListed: listed, marker: listed ? "" : marker)
        }
    }

    /// Records a split of `old` into `parent` (the same id, a lower upper bound) and
    /// `children`, if the unit's cursor is still at `marker` (see `QueueScripts.splitUnit`).
    public func splitUnit(
        producer: String, old: ListingUnit, parent: ListingUnit, children: [ListingUnit], at marker: String
    ) async throws -> SplitResult {
        let keys = self.keys
        var arguments = [
            RedisArgument(producer), RedisArgument(old.id), RedisArgument(marker),
            RedisArgument(try Self.encode(old)), RedisArgument(try Self.encode(parent)),
        ]
        for child in children {
            arguments += [RedisArgument(child.id), RedisArgument(try Self.encode(child))]
        }
        let frozen = arguments
        let reply = try await runIdempotent { connection in
            try connection.evalScript(
                QueueScripts.splitUnit,
                keys: [
                    RedisArgument(keys.producerLease), RedisArgument(keys.units), RedisArgument(keys.cursor(old.id)),
                ],
                arguments: frozen
            ).decodeInt("splitUnit script")
        }
        return reply == 1 ? .recorded : .unitMoved
    }

    /// Marks partitions fully listed in this pass (all their units are).
    public func markPartitionsListed(_ partitions: [String]) async throws {
        guard !partitions.isEmpty else { return }
        let command =
            [RedisArgument("SADD"), RedisArgument(keys.listedPartitions)] + partitions.map { RedisArgument($0) }
        _ = try await runIdempotent { try $0.send(command) }
    }

    static func encode(_ unit: ListingUnit) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: try encoder.encode(unit), as: UTF8.self)
    }

    static func decodeUnit(_ text: String) throws -> ListingUnit {
        do {
            return try JSONDecoder().decode(ListingUnit.self, from: Data(text.utf8))
        } catch {
            throw BlobferryError(.failed, "a listing unit in Redis does not parse (\(error))")
        }
    }
}
