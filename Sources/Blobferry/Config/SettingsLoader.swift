import Foundation
import Yams

/// Builds `Settings` from the defaults, then the YAML file, then the environment; the
/// executables apply their flags on top and call `validate(for:)`. Both sources are read
/// through `SettingDescriptor.all`, so a setting has one YAML path and one set of
/// variables, spelled once.
///
/// The environment alone is enough to configure a job (compose, Kubernetes), using the
/// standard Azure and AWS variable names where they exist.
public enum SettingsLoader {
    /// The variable naming the config file when no `--config` flag is given.
    public static let configFileVariable = "BLOBFERRY_CONFIG"

    public static func load(
        configPath: String?, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> Settings {
        var settings = Settings()
        let path = configPath ?? environment[configFileVariable].flatMap { $0.isEmpty ? nil : $0 }
        let file = try path.map { try ConfigFile.load(path: $0) } ?? [:]
        for descriptor in SettingDescriptor.all {
            if let raw = file[descriptor.path] {
                try descriptor.store(&settings, try descriptor.parse(file: raw, in: path ?? ""))
            }
        }
        for descriptor in SettingDescriptor.all {
            // Unset and empty are the same (compose writes empty values).
            let set = descriptor.variables.lazy.compactMap { name in
                environment[name].flatMap { $0.isEmpty ? nil : (name, $0) }
            }.first
            if let (name, text) = set {
                try descriptor.store(&settings, try descriptor.parse(environment: text, variable: name))
            }
        }
        return settings
    }
}

extension SettingDescriptor {
    /// A YAML scalar (or list, for partitions) as this setting's value.
    func parse(file raw: Any, in path: String) throws -> Value {
        let wrongType = { (expected: String) in
            BlobferryError(.configuration, "config file \(path): setting \(self.path) must be \(expected)")
        }
        switch kind {
        case .integer:
            guard let number = raw as? Int else { throw wrongType("a whole number") }
            return .integer(number)
        case .number:
            if let number = raw as? Int { return .number(Double(number)) }
            guard let number = raw as? Double else { throw wrongType("a number") }
            return .number(number)
        case .flag:
            guard let flag = raw as? Bool else { throw wrongType("true or false") }
            return .flag(flag)
        case .partitions:
            if let list = raw as? [Any] {
                let prefixes = list.compactMap { $0 as? String }
                guard prefixes.count == list.count else { throw wrongType("a scheme name or a list of prefixes") }
                return .text(prefixes.joined(separator: ","))
            }
            guard let text = raw as? String else { throw wrongType("a scheme name or a list of prefixes") }
            return .text(text)
        case .text, .secret, .connectionString:
            if raw is [Any] || raw is [String: Any] { throw wrongType("a single value") }
            return .text(raw as? String ?? String(describing: raw))
        }
    }

    /// An environment variable's text as this setting's value; an unparsable value names
    /// its variable (and, unless it is a secret, the value).
    func parse(environment text: String, variable: String) throws -> Value {
        let shown = isSecret ? variable : "\(variable)=\(text)"
        switch kind {
        case .integer:
            guard let number = Int(text.replacingOccurrences(of: "_", with: "")) else {
                throw BlobferryError(.configuration, "\(shown) is not a whole number")
            }
            return .integer(number)
        case .number:
            guard let number = Double(text) else { throw BlobferryError(.configuration, "\(shown) is not a number") }
            return .number(number)
        case .flag:
            switch text.lowercased() {
            case "1", "true", "yes", "on": return .flag(true)
            case "0", "false", "no", "off": return .flag(false)
            default: throw BlobferryError(.configuration, "\(shown) is not true or false")
            }
        case .text, .secret, .partitions, .connectionString:
            return .text(text)
        }
    }
}
