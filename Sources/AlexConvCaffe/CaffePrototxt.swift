import AlexConvCore
import Foundation
import SwiftProtobuf

/// Caffe network definitions in protobuf text format (`deploy.prototxt`), decoded by swift-protobuf's
/// TextFormat decoder with the messages generated from caffe.proto.
enum CaffePrototxt {
    /// The comment line alexconv's writer puts first in a prototxt: the architecture spec as JSON,
    /// so the input conventions Caffe's files cannot state (e.g. per-channel std) survive a round trip.
    static let specComment = "# \(CanonicalFile.specKey): "

    /// Reads a text file of at most `CaffeLimits.maxTextBytes` bytes as UTF-8.
    static func readText(path: String) throws -> String {
        let storage = try ByteStorage.map(path: path)
        guard storage.bytes.count <= CaffeLimits.maxTextBytes else {
            throw FormatError(.limit, file: path, "is \(storage.bytes.count) bytes, more than the \(CaffeLimits.maxTextBytes) a prototxt may have")
        }
        guard let text = String(validating: storage.bytes, as: UTF8.self) else {
            throw FormatError(.malformed, file: path, "is not UTF-8 text: not a prototxt")
        }
        return text
    }

    /// Decodes `text` as a `NetParameter`. On failure the error names the line and column where the
    /// text stops being a valid net (found by decoding ever longer whole-line prefixes, closed with
    /// the braces they leave open: swift-protobuf's errors carry no position).
    static func decodeNet(_ text: String, file: String) throws -> Caffe_NetParameter {
        do {
            return try Caffe_NetParameter(textFormatString: text)
        } catch let error as TextFormatDecodingError {
            let what = describe(error)
            if let (line, column) = locateError(in: text) {
                throw FormatError(.malformed, file: file, location: "line \(line), column \(column)", "not a valid Caffe NetParameter in text format: \(what)")
            }
            throw FormatError(.malformed, file: file, "not a valid Caffe NetParameter in text format: \(what)")
        }
    }

    static func describe(_ error: TextFormatDecodingError) -> String {
        switch error {
        case .malformedText: return "syntax error"
        case .malformedNumber: return "a number that does not parse or does not fit its field"
        case .trailingGarbage: return "unexpected text after the net"
        case .truncated: return "the text ends inside a message (a '{' is never closed)"
        case .invalidUTF8: return "a string is not valid UTF-8"
        case .schemaMismatch: return "a value of the wrong type for its field"
        case .unknownField: return "a field name caffe.proto does not define"
        case .unrecognizedEnumValue: return "an enum value caffe.proto does not define"
        case .conflictingOneOf: return "conflicting values for one field"
        case .messageDepthLimit: return "messages nested deeper than the decoder allows"
        default: return "\(error)"
        }
    }

    /// Whether `text` decodes (used on prefixes while locating an error).
    private static func decodes(_ text: String) -> Bool { decodingError(text) == nil }

    private static func decodingError(_ text: String) -> TextFormatDecodingError? {
        do {
            _ = try Caffe_NetParameter(textFormatString: text)
            return nil
        } catch let error as TextFormatDecodingError {
            return error
        } catch {
            return .malformedText
        }
    }

    /// Lines longer than this, or tokens past the `maxLocatedTokens`th, get the column of the line's
    /// start: locating within them would decode the prefix once per token.
    static let maxLocatedLineBytes = 4096
    static let maxLocatedTokens = 64

    /// 1-based line and column of the first token from which no prefix of `text` decodes.
    static func locateError(in text: String) -> (Int, Int)? {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard !lines.isEmpty else { return nil }
        func prefix(_ count: Int, plus partial: String? = nil) -> String {
            var body = lines[0..<count].joined(separator: "\n")
            if let partial { body += (count > 0 ? "\n" : "") + partial }
            return body + "\n" + closers(body)
        }
        // Smallest line count whose prefix fails (a prefix that fails stays failing as it grows).
        var low = 0
        var high = lines.count
        guard !decodes(prefix(high)) else { return nil }
        while low + 1 < high {
            let mid = (low + high) / 2
            if decodes(prefix(mid)) { low = mid } else { high = mid }
        }
        let line = lines[high - 1]
        // Within the line: the first token whose inclusion fails (tokens ending in ':' wait for their value).
        var column = (line.firstIndex { !$0.isWhitespace }.map { line.distance(from: line.startIndex, to: $0) } ?? 0) + 1
        var index = line.startIndex
        var fieldStart: String.Index?
        var tokens = 0
        // Token by token only on lines of ordinary length (each step decodes a prefix again).
        while index < line.endIndex, line.utf8.count <= maxLocatedLineBytes, tokens < maxLocatedTokens {
            tokens += 1
            while index < line.endIndex && line[index].isWhitespace { index = line.index(after: index) }
            let start = index
            while index < line.endIndex && !line[index].isWhitespace { index = line.index(after: index) }
            if start == index { break }
            if line[start..<index].hasSuffix(":") {
                fieldStart = start
                continue
            }
            if let error = decodingError(prefix(high - 1, plus: String(line[..<index]))) {
                // An unknown name is the field's fault, anything else its value's.
                let at = error == .unknownField ? (fieldStart ?? start) : start
                column = line.distance(from: line.startIndex, to: at) + 1
                break
            }
            fieldStart = nil
        }
        return (high, column)
    }

    /// The closing brackets for the `{`/`<` that `text` leaves open (strings and `#` comments skipped).
    static func closers(_ text: String) -> String {
        var stack: [Character] = []
        var quote: Character?
        var escaped = false
        var comment = false
        for ch in text {
            if comment {
                if ch == "\n" { comment = false }
                continue
            }
            if let q = quote {
                if escaped { escaped = false } else if ch == "\\" { escaped = true } else if ch == q || ch == "\n" { quote = nil }
                continue
            }
            switch ch {
            case "#": comment = true
            case "\"", "'": quote = ch
            case "{": stack.append("}")
            case "<": stack.append(">")
            case "}", ">": if !stack.isEmpty { stack.removeLast() }
            default: break
            }
        }
        return String(stack.reversed())
    }

    /// The architecture spec alexconv recorded in the prototxt's first comment line, if any.
    static func recordedSpec(in text: String, file: String) throws -> ArchitectureSpec? {
        guard let line = text.split(separator: "\n", maxSplits: 8).first(where: { $0.hasPrefix(specComment) }) else { return nil }
        return try ArchitectureSpec.parse(json: String(line.dropFirst(specComment.count)), source: "\(file) comment '\(specComment.trimmingCharacters(in: .whitespaces))'")
    }
}
