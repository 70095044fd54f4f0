import AlexConvCore
import Foundation

/// Where a checkpoint's files are, from what a user passed: a prefix (`model.ckpt-1000`), its
/// `.index`, any `.data-NNNNN-of-NNNNN` shard, a `checkpoint` state file or a directory holding
/// one (its `model_checkpoint_path` is taken), or a SavedModel directory (`variables/variables`).
struct CheckpointLocation: Equatable {
    enum Kind: Equatable {
        case checkpoint
        /// A SavedModel directory: weights in `variables/`, the Keras config in `keras_metadata.pb`.
        case savedModel(directory: String)
    }

    /// The bundle prefix: `prefix.index` exists.
    var prefix: String
    var kind: Kind
    /// What was taken and why (for `inspect`).
    var notes: [String]
    /// The `checkpoint` state file that named the prefix, when one did.
    var stateFile: String? = nil

    /// Name of the state file TensorFlow keeps beside checkpoints.
    static let stateFileName = "checkpoint"

    // MARK: - Recognising an input

    /// True when `path` names a bundle file: `X.index` or `X.data-NNNNN-of-NNNNN`.
    static func isBundleFile(_ path: String) -> Bool {
        prefix(ofBundleFile: path) != nil
    }

    /// The prefix of `X.index` or `X.data-00000-of-00001`, nil for other names.
    static func prefix(ofBundleFile path: String) -> String? {
        if path.hasSuffix(".index"), path.count > 6 { return String(path.dropLast(6)) }
        let name = URL(fileURLWithPath: path).lastPathComponent
        guard let range = name.range(of: ".data-", options: .backwards) else { return nil }
        let tail = name[range.upperBound...]
        let parts = tail.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[1] == "of", parts[0].count == 5, parts[2].count == 5,
            parts[0].allSatisfy(\.isASCII), parts[0].allSatisfy(\.isNumber), parts[2].allSatisfy(\.isNumber)
        else { return nil }
        return String(path.dropLast(name.distance(from: range.lowerBound, to: name.endIndex)))
    }

    /// True when `path` (a directory, or a path that is no file) is a checkpoint input.
    static func claims(path: String, isDirectory: Bool) -> Bool {
        let fm = FileManager.default
        if isDirectory {
            return isSavedModel(path) || fm.fileExists(atPath: path + "/" + stateFileName)
        }
        return fm.fileExists(atPath: path + ".index")
    }

    static func isSavedModel(_ directory: String) -> Bool {
        let fm = FileManager.default
        return fm.fileExists(atPath: directory + "/saved_model.pb") || fm.fileExists(atPath: directory + "/saved_model.pbtxt")
            || fm.fileExists(atPath: directory + "/variables/variables.index")
    }

    // MARK: - Resolving

    /// The checkpoint `path` names; errors say what was looked for.
    static func resolve(_ path: String) throws -> CheckpointLocation {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        let exists = fm.fileExists(atPath: path, isDirectory: &isDirectory)
        if exists && isDirectory.boolValue {
            let directory = path.hasSuffix("/") && path.count > 1 ? String(path.dropLast()) : path
            if isSavedModel(directory) {
                let prefix = directory + "/variables/variables"
                guard fm.fileExists(atPath: prefix + ".index") else {
                    throw FormatError(
                        .truncated, file: prefix + ".index",
                        "missing: a SavedModel keeps its weights in variables/variables.index and variables/variables.data-*")
                }
                return CheckpointLocation(
                    prefix: prefix, kind: .savedModel(directory: directory),
                    notes: ["SavedModel directory: weights from variables/variables.index and its data shards; saved_model.pb (the graph) is not read"])
            }
            let state = directory + "/" + stateFileName
            guard fm.fileExists(atPath: state) else {
                throw IOError(path: path, "is a directory without a '\(stateFileName)' state file, saved_model.pb or variables/: expected a TensorFlow checkpoint directory or a SavedModel")
            }
            return try fromStateFile(state)
        }
        if exists {
            if URL(fileURLWithPath: path).lastPathComponent == stateFileName, !path.hasSuffix(".index") {
                return try fromStateFile(path)
            }
            if let prefix = prefix(ofBundleFile: path) {
                guard fm.fileExists(atPath: prefix + ".index") else {
                    throw FormatError(.truncated, file: prefix + ".index", "missing: \(URL(fileURLWithPath: path).lastPathComponent) is a data shard; its tensors are listed in the index beside it")
                }
                return CheckpointLocation(prefix: prefix, kind: .checkpoint, notes: [])
            }
        }
        if fm.fileExists(atPath: path + ".index") {
            return CheckpointLocation(prefix: path, kind: .checkpoint, notes: [])
        }
        throw IOError(
            path: path,
            exists
                ? "not a checkpoint file (expected PREFIX.index, PREFIX.data-NNNNN-of-NNNNN or a '\(stateFileName)' file)"
                : "no such file, and no \(URL(fileURLWithPath: path).lastPathComponent).index beside it")
    }

    /// The prefix a `checkpoint` state file names as `model_checkpoint_path` (relative to its
    /// directory unless absolute; an absolute path that no longer exists, because the folder was
    /// moved, is looked for beside the state file).
    static func fromStateFile(_ state: String) throws -> CheckpointLocation {
        let storage = try ByteStorage.map(path: state)
        guard storage.bytes.count <= TensorFlowLimits.maxStateFileBytes else {
            throw FormatError(.limit, file: state, "\(storage.bytes.count) bytes; a checkpoint state file is a few lines (limit \(TensorFlowLimits.maxStateFileBytes))")
        }
        let text = String(decoding: storage.bytes, as: UTF8.self)
        let fields = try CheckpointState.parse(text, file: state)
        guard let named = fields.first(where: { $0.key == "model_checkpoint_path" })?.value, !named.isEmpty else {
            throw FormatError(.malformed, file: state, location: "model_checkpoint_path", "the state file names no model_checkpoint_path")
        }
        let all = fields.filter { $0.key == "all_model_checkpoint_paths" }.map(\.value)
        let directory = URL(fileURLWithPath: state).deletingLastPathComponent().path
        let fm = FileManager.default
        var prefix = named.hasPrefix("/") ? named : directory + "/" + named
        var notes: [String] = []
        let kept = all.count > 1 ? " (the latest of \(all.count) kept: \(all.joined(separator: ", ")))" : ""
        if !fm.fileExists(atPath: prefix + ".index"), named.hasPrefix("/") {
            let beside = directory + "/" + URL(fileURLWithPath: named).lastPathComponent
            if fm.fileExists(atPath: beside + ".index") {
                notes.append("\(stateFileName) file names \(named), which does not exist (moved folder?); took \(URL(fileURLWithPath: beside).lastPathComponent) beside it")
                prefix = beside
            }
        }
        guard fm.fileExists(atPath: prefix + ".index") else {
            throw FormatError(
                .corrupted, file: state, location: "model_checkpoint_path",
                "names the checkpoint '\(named)', but \(prefix).index does not exist")
        }
        if notes.isEmpty {
            notes.append("\(stateFileName) file names model_checkpoint_path \"\(named)\"\(kept); read \(URL(fileURLWithPath: prefix).lastPathComponent)")
        }
        return CheckpointLocation(prefix: prefix, kind: .checkpoint, notes: notes, stateFile: state)
    }
}

/// TensorFlow's `CheckpointState` in protobuf text format, as far as alexconv reads it: lines of
/// `field: "string"` (C escapes) or `field: number`.
enum CheckpointState {
    /// The fields in file order.
    static func parse(_ text: String, file: String) throws -> [(key: String, value: String)] {
        var fields: [(String, String)] = []
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let colon = line.firstIndex(of: ":") else {
                throw FormatError(.malformed, file: file, location: "line \(number + 1)", "expected `field: value`, found '\(line.prefix(80))'")
            }
            let key = String(line[..<colon]).trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if value.hasPrefix("\"") {
                fields.append((key, try unquote(value, file: file, line: number + 1)))
            } else {
                fields.append((key, value))
            }
        }
        return fields
    }

    /// A protobuf text-format string literal: `"..."` with `\"`, `\\`, `\n`, `\t`, `\r`, `\'`, octal and `\x` escapes.
    static func unquote(_ literal: String, file: String, line: Int) throws -> String {
        let bytes = Array(literal.utf8)
        guard bytes.count >= 2, bytes.first == UInt8(ascii: "\""), bytes.last == UInt8(ascii: "\"") else {
            throw FormatError(.malformed, file: file, location: "line \(line)", "unterminated string \(literal.prefix(80))")
        }
        var out: [UInt8] = []
        var i = 1
        let end = bytes.count - 1
        while i < end {
            let c = bytes[i]
            guard c == UInt8(ascii: "\\") else {
                out.append(c)
                i += 1
                continue
            }
            guard i + 1 < end else { throw FormatError(.malformed, file: file, location: "line \(line)", "string ends in a lone backslash") }
            let e = bytes[i + 1]
            i += 2
            switch e {
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "x"):
                var value = 0
                var digits = 0
                while digits < 2, i < end, let d = Int(String(UnicodeScalar(bytes[i])), radix: 16) {
                    value = value * 16 + d
                    i += 1
                    digits += 1
                }
                guard digits > 0 else { throw FormatError(.malformed, file: file, location: "line \(line)", "\\x without hex digits") }
                out.append(UInt8(value))
            case UInt8(ascii: "0")...UInt8(ascii: "7"):
                var value = Int(e - UInt8(ascii: "0"))
                var digits = 1
                while digits < 3, i < end, (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(bytes[i]) {
                    value = value * 8 + Int(bytes[i] - UInt8(ascii: "0"))
                    i += 1
                    digits += 1
                }
                out.append(UInt8(truncatingIfNeeded: value))
            default: out.append(e)  // \" \\ \' \?
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The state file text naming `name` (a prefix relative to the file's directory), as TF2 writes it.
    static func text(naming name: String) -> String {
        let quoted = name.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        return "model_checkpoint_path: \"\(quoted)\"\nall_model_checkpoint_paths: \"\(quoted)\"\n"
    }
}
