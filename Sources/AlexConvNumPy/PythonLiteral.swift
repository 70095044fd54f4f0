import AlexConvCore
import Foundation

// MARK: - Python literals

/// A Python literal as `.npy` headers write them: dict, tuple, list, str, int (Python 2 `3L`
/// too), True/False/None.
indirect enum PythonLiteral: Equatable {
    case dict([(key: PythonLiteral, value: PythonLiteral)])
    case tuple([PythonLiteral])
    case list([PythonLiteral])
    case string(String)
    case int(Int)
    case bool(Bool)
    case none

    static func == (a: PythonLiteral, b: PythonLiteral) -> Bool {
        switch (a, b) {
        case (.dict(let x), .dict(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        case (.tuple(let x), .tuple(let y)), (.list(let x), .list(let y)): return x == y
        case (.string(let x), .string(let y)): return x == y
        case (.int(let x), .int(let y)): return x == y
        case (.bool(let x), .bool(let y)): return x == y
        case (.none, .none): return true
        default: return false
        }
    }

    var text: String? { if case .string(let s) = self { return s } else { return nil } }
}

/// Parses the small Python-literal subset of `.npy` headers. Iterative over an explicit stack, with
/// a nesting limit, so hostile headers cannot overflow the Swift stack.
struct PythonLiteralParser {
    /// Deepest nesting accepted (a header is a dict holding a tuple; structured dtypes go deeper).
    static let maxNesting = 32

    private let text: [UInt8]
    private var index = 0

    init(_ text: String) { self.text = Array(text.utf8) }

    static func parse(_ text: String) throws -> PythonLiteral {
        var parser = PythonLiteralParser(text)
        let value = try parser.parseValue()
        parser.skipSpace()
        guard parser.index == parser.text.count else { throw parser.failure("unexpected text after the literal") }
        return value
    }

    private func failure(_ detail: String) -> FormatError {
        FormatError(.malformed, location: "npy header", "\(detail) at character \(index)")
    }

    private mutating func skipSpace() {
        while index < text.count, [0x20, 0x09, 0x0A, 0x0D].contains(text[index]) { index += 1 }
    }

    private enum Frame {
        case dict([(key: PythonLiteral, value: PythonLiteral)], pendingKey: PythonLiteral?)
        case tuple([PythonLiteral], sawComma: Bool)
        case list([PythonLiteral])
    }

    /// Parses one value; containers are handled with an explicit stack of frames.
    private mutating func parseValue() throws -> PythonLiteral {
        var frames: [Frame] = []
        while true {
            skipSpace()
            guard index < text.count else { throw failure("header ended inside a literal") }
            var completed: PythonLiteral?
            let byte = text[index]
            // Closing a container (or an empty one) before a value.
            if let frame = frames.last, let closed = try close(frame, at: byte) {
                frames.removeLast()
                completed = closed
            } else {
                switch byte {
                case UInt8(ascii: "{"):
                    index += 1
                    frames.append(.dict([], pendingKey: nil))
                case UInt8(ascii: "("):
                    index += 1
                    frames.append(.tuple([], sawComma: false))
                case UInt8(ascii: "["):
                    index += 1
                    frames.append(.list([]))
                case UInt8(ascii: "'"), UInt8(ascii: "\""):
                    completed = .string(try parseString())
                default:
                    completed = try parseAtom()
                }
                if frames.count > Self.maxNesting { throw failure("literal nested more than \(Self.maxNesting) deep") }
            }
            // Feed completed values into their containers.
            while let value = completed {
                guard let frame = frames.popLast() else { return value }
                completed = nil
                skipSpace()
                guard index < text.count else { throw failure("header ended inside a literal") }
                let next = text[index]
                switch frame {
                case .dict(var entries, let pendingKey):
                    if let key = pendingKey {
                        entries.append((key, value))
                        if next == UInt8(ascii: ",") {
                            index += 1
                            frames.append(.dict(entries, pendingKey: nil))
                        } else if next == UInt8(ascii: "}") {
                            index += 1
                            completed = .dict(entries)
                        } else {
                            throw failure("expected ',' or '}' in a dict")
                        }
                    } else {
                        guard next == UInt8(ascii: ":") else { throw failure("expected ':' after a dict key") }
                        index += 1
                        frames.append(.dict(entries, pendingKey: value))
                    }
                case .tuple(var items, _):
                    items.append(value)
                    if next == UInt8(ascii: ",") {
                        index += 1
                        frames.append(.tuple(items, sawComma: true))
                    } else if next == UInt8(ascii: ")") {
                        index += 1
                        // `(5)` is just 5 in Python; a one-element tuple needs its comma.
                        completed = items.count == 1 ? (items[0]) : .tuple(items)
                    } else {
                        throw failure("expected ',' or ')' in a tuple")
                    }
                case .list(var items):
                    items.append(value)
                    if next == UInt8(ascii: ",") {
                        index += 1
                        frames.append(.list(items))
                    } else if next == UInt8(ascii: "]") {
                        index += 1
                        completed = .list(items)
                    } else {
                        throw failure("expected ',' or ']' in a list")
                    }
                }
            }
        }
    }

    /// If `byte` closes `frame` at a position where a value could start (empty container or
    /// trailing comma), consumes it and returns the finished container.
    private mutating func close(_ frame: Frame, at byte: UInt8) throws -> PythonLiteral? {
        switch frame {
        case .dict(let entries, let pendingKey) where byte == UInt8(ascii: "}") && pendingKey == nil:
            index += 1
            return .dict(entries)
        case .tuple(let items, _) where byte == UInt8(ascii: ")"):
            index += 1
            return .tuple(items)
        case .list(let items) where byte == UInt8(ascii: "]"):
            index += 1
            return .list(items)
        default:
            return nil
        }
    }

    private mutating func parseString() throws -> String {
        let quote = text[index]
        index += 1
        var scalars = String.UnicodeScalarView()
        var utf8: [UInt8] = []
        func flush() {
            if !utf8.isEmpty {
                scalars.append(contentsOf: String(decoding: utf8, as: UTF8.self).unicodeScalars)
                utf8 = []
            }
        }
        while index < text.count {
            let byte = text[index]
            index += 1
            if byte == quote {
                flush()
                return String(scalars)
            }
            if byte == UInt8(ascii: "\\") {
                guard index < text.count else { break }
                let escape = text[index]
                index += 1
                flush()
                switch escape {
                case UInt8(ascii: "n"): scalars.append("\n")
                case UInt8(ascii: "t"): scalars.append("\t")
                case UInt8(ascii: "\\"), UInt8(ascii: "'"), UInt8(ascii: "\""): scalars.append(Unicode.Scalar(escape))
                default: throw failure("unsupported escape \\\(Character(Unicode.Scalar(escape)))")
                }
            } else {
                utf8.append(byte)
            }
        }
        throw failure("unterminated string")
    }

    private mutating func parseAtom() throws -> PythonLiteral {
        let start = index
        while index < text.count, !",:)]} \t\n\r".utf8.contains(text[index]) { index += 1 }
        var word = String(decoding: text[start..<index], as: UTF8.self)
        switch word {
        case "True": return .bool(true)
        case "False": return .bool(false)
        case "None": return .none
        default: break
        }
        if word.hasSuffix("L") || word.hasSuffix("l") { word.removeLast() }  // Python 2 long: 3L
        guard let value = Int(word) else {
            index = start
            throw failure(word.isEmpty ? "expected a value" : "'\(word)' is not a supported literal")
        }
        return .int(value)
    }
}
