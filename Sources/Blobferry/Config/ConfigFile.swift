import Foundation
import Yams

/// The YAML configuration file (see `config/blobferry.example.yaml`), read as a tree and
/// flattened to dotted paths (`consumer.batch`) that `SettingDescriptor` names; a path no
/// descriptor knows is an error, not a silently ignored line.
enum ConfigFile {
    /// The file's settings by dotted path, values as YAML decoded them.
    static func load(path: String) throws -> [String: Any] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw BlobferryError(.configuration, "config file \(path): cannot be read")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw BlobferryError(.configuration, "config file \(path): not UTF-8 text")
        }
        let root: Any?
        do {
            root = try Yams.load(yaml: text)
        } catch let error as YamlError {
            throw BlobferryError(.configuration, "config file \(path): invalid YAML \(describe(error))")
        }
        guard let root else { return [:] }
        guard let mapping = root as? [String: Any] else {
            throw BlobferryError(.configuration, "config file \(path): expected a mapping of settings")
        }
        var settings: [String: Any] = [:]
        try flatten(mapping, into: &settings, prefix: "", path: path)
        return settings
    }

    private static func flatten(
        _ mapping: [String: Any], into settings: inout [String: Any], prefix: String, path: String
    )
        throws
    {
        for (name, value) in mapping {
            let dotted = prefix + name
            if SettingDescriptor.named(dotted) != nil {
                settings[dotted] = value
            } else if let section = value as? [String: Any],
                SettingDescriptor.all.contains(where: { $0.path.hasPrefix(dotted + ".") })
            {
                try flatten(section, into: &settings, prefix: dotted + ".", path: path)
            } else {
                throw BlobferryError(.configuration, "config file \(path): unknown setting '\(dotted)'")
            }
        }
    }

    /// Where the YAML is broken and why, never the offending line's text (a password may
    /// sit on it; Yams's own description quotes it).
    private static func describe(_ error: YamlError) -> String {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
            .composer(_, let problem, let mark, _):
            return "at line \(mark.line), column \(mark.column): \(problem)"
        case .reader(let problem, let offset, _, _):
            return "at byte \(offset.map(String.init) ?? "?"): \(problem)"
        case .duplicatedKeysInMapping(let duplicates, let context):
            return "at line \(context.mark.line): duplicated setting \(duplicates.joined(separator: ", "))"
        default:
            return "(the YAML library gave no position)"
        }
    }
}
