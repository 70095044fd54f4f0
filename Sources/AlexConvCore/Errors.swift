import Foundation

/// An error the command-line tool reports as one line and an exit code (docs/contract.md).
public protocol UserFacingError: Error, CustomStringConvertible {
    /// Process exit code: 1 verification failed, 2 usage error, 3 unreadable or invalid input.
    var exitCode: Int32 { get }
    /// What the user can do about it, if there is one thing to do.
    var remedy: Remedy? { get }
}

extension UserFacingError {
    public var remedy: Remedy? { nil }
}

/// What a user can do about an error. Library messages say it in words; the command line adds the
/// option that does it, so messages below the command line never name its flags.
public enum Remedy: String, Sendable, Equatable, CaseIterable {
    /// Name the architecture: a preset or an architecture spec file.
    case nameArchitecture
    /// Rename the file's tensors with a name map (source name -> canonical name).
    case mapTensorNames
    /// Allow replacing an existing output file.
    case allowOverwrite
}

/// Exit codes of the contract.
public enum ExitStatus {
    public static let success: Int32 = 0
    public static let verificationFailed: Int32 = 1
    public static let usage: Int32 = 2
    public static let invalidInput: Int32 = 3
}

/// A file could not be read as the format it claims to be, or holds something alexconv refuses.
public struct FormatError: UserFacingError, Equatable {
    /// What kind of problem this is, for code that handles errors (the message says it for people).
    public enum Kind: String, Sendable, Equatable, CaseIterable {
        /// The file ends before a structure it declares (a short read, a cut-off download).
        case truncated
        /// A size, count or depth exceeds one of alexconv's named limits.
        case limit
        /// The parts of the file contradict each other (checksums, overlaps, duplicates, sizes).
        case corrupted
        /// The file asks for something alexconv never does (a pickle global outside the allow-list).
        case refused
        /// Well-formed, but a feature or a format alexconv does not read.
        case unsupported
        /// Not what the format allows (wrong type, missing field, a value out of range).
        case malformed
    }

    /// What kind of problem this is.
    public var kind: Kind
    /// The file, when known (readers of in-memory bytes leave it nil; `withFileContext` fills it in).
    public var file: String?
    /// The part of the file: a tensor name, a pickle global, an HDF5 path, a zip entry.
    public var location: String?
    /// What was wrong, stated as "expected X, found Y" where that applies.
    public var detail: String

    public init(_ kind: Kind, file: String? = nil, location: String? = nil, _ detail: String) {
        self.kind = kind
        self.file = file
        self.location = location
        self.detail = detail
    }

    public var exitCode: Int32 { ExitStatus.invalidInput }

    public var description: String {
        var parts: [String] = []
        if let file { parts.append(file) }
        if let location { parts.append(location) }
        parts.append(detail)
        return oneLine(parts.joined(separator: ": "))
    }

    /// The same error, naming `file` if it did not name one yet.
    public func inFile(_ file: String) -> FormatError {
        var copy = self
        if copy.file == nil { copy.file = file }
        return copy
    }
}

/// The tensors do not fit an architecture, a mapping or a requested transformation.
public struct ModelError: UserFacingError, Equatable {
    public var file: String?
    public var tensor: String?
    public var detail: String
    /// Every tensor that does not fit the architecture, when that is the problem (`TensorMatcher`).
    public var mismatch: TensorMismatch?
    public var remedy: Remedy?

    public init(file: String? = nil, tensor: String? = nil, _ detail: String, remedy: Remedy? = nil) {
        self.file = file
        self.tensor = tensor
        self.detail = detail
        self.remedy = remedy
    }

    public var exitCode: Int32 { ExitStatus.invalidInput }

    public var description: String {
        var parts: [String] = []
        if let file { parts.append(file) }
        if let tensor { parts.append("tensor '\(tensor)'") }
        parts.append(detail)
        return oneLine(parts.joined(separator: ": "))
    }

    public func inFile(_ file: String) -> ModelError {
        var copy = self
        if copy.file == nil { copy.file = file }
        return copy
    }
}

/// The user asked for something that cannot be done as asked (bad option value, missing argument).
public struct UsageError: UserFacingError, Equatable {
    public var detail: String
    public var remedy: Remedy?
    public init(_ detail: String, remedy: Remedy? = nil) {
        self.detail = detail
        self.remedy = remedy
    }
    public var exitCode: Int32 { ExitStatus.usage }
    public var description: String { oneLine(detail) }
}

/// Reading or writing a file failed at the operating-system level.
public struct IOError: UserFacingError, Equatable {
    public var path: String
    public var detail: String
    public init(path: String, _ detail: String) {
        self.path = path
        self.detail = detail
    }
    public var exitCode: Int32 { ExitStatus.invalidInput }
    public var description: String { oneLine("\(path): \(detail)") }
}

/// `text` with control characters (newlines, tabs, escape sequences a hostile file may carry in a
/// name or header) written as `\n`, `\t`, `\u{1B}`, so an error stays one harmless line.
public func oneLine(_ text: String) -> String {
    guard text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else { return text }
    var result = ""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\n": result += "\\n"
        case "\r": result += "\\r"
        case "\t": result += "\\t"
        default:
            if scalar.properties.generalCategory == .control {
                result += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
    }
    return result
}

/// Runs `body`, attaching `file` to any format or model error that does not name a file yet.
public func withFileContext<T>(_ file: String, _ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as FormatError {
        throw error.inFile(file)
    } catch let error as ModelError {
        throw error.inFile(file)
    }
}

/// Runs `body`, naming `location()` in any format error that names no location yet. The label is
/// built only when an error is thrown, so loops over many records (zip entries, pickle opcodes)
/// label their errors without formatting a label per record.
public func withLocation<T>(_ location: @autoclosure () -> String, _ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch var error as FormatError {
        if error.location == nil { error.location = location() }
        throw error
    }
}

/// `a * b`, or a `FormatError` when the product overflows `Int` (sizes computed from a file).
public func checkedMultiply(_ a: Int, _ b: Int, what: String) throws -> Int {
    let (value, overflow) = a.multipliedReportingOverflow(by: b)
    if overflow || a < 0 || b < 0 {
        throw FormatError(.limit, "\(what): size \(a) x \(b) overflows or is negative")
    }
    return value
}

/// The product of `dims`, or a `FormatError` naming `what` when a dimension is negative or it overflows.
/// The extent (the product with zero dimensions counted as 1, which strides are computed from) must
/// fit too: an empty tensor of shape [0, 2^40, 2^40] has 0 elements but no representable strides.
public func checkedElementCount(_ dims: [Int], what: String) throws -> Int {
    var count = 1
    var extent = 1
    for dim in dims {
        if dim < 0 { throw FormatError(.malformed, "\(what): negative dimension \(dim) in shape \(dims)") }
        count = try checkedMultiply(count, dim, what: what)
        let (next, overflow) = extent.multipliedReportingOverflow(by: Swift.max(dim, 1))
        if overflow { throw FormatError(.limit, "\(what): shape \(dims) is too large to address (its strides overflow)") }
        extent = next
    }
    return count
}
