import AlexConvCore
import Foundation

// MARK: - Limits

/// Bounds the pickle reader enforces; each has a clear error when a file exceeds it.
public struct PickleLimits: Sendable {
    /// Values on the stack at once (real weight pickles stay in the hundreds).
    public var maxStackDepth: Int = 100_000
    /// Open MARKs at once.
    public var maxMarkDepth: Int = 10_000
    /// Distinct memo entries.
    public var maxMemoEntries: Int = 1_000_000
    /// Containers inside containers (a dict of lists of arrays is about 8 deep).
    public var maxNestingDepth: Int = 256
    /// Items placed into tuples, lists, dicts, sets and objects, in total.
    public var maxElements: Int = 20_000_000
    /// Bytes of one LONG1/LONG4 integer.
    public var maxBigIntBytes: Int = 4096
    /// Persistent ids (torch: one per storage, so about one per tensor).
    public var maxPersistentIDs: Int = ImportLimits.maxTensors

    public init() {}
    /// The defaults above.
    public static let standard = PickleLimits()
}

/// The result of reading one pickle.
public struct PickleResult: @unchecked Sendable {
    /// The value STOP returned.
    public let value: PickleValue
    /// Offset in the storage just past the STOP opcode (the next pickle of a legacy torch file starts there).
    public let endOffset: Int
    /// The PROTO version, or 0/1 when the pickle has no PROTO opcode.
    public let protocolVersion: Int
}

// MARK: - Reader

/// Reads pickles as data. Globals must be in an allow-list ("module.name"); any other is refused
/// with a `FormatError` naming it. REDUCE/NEWOBJ/BUILD only record `PickleObject`s; nothing is called,
/// except `_codecs.encode(text, 'latin1')` (and `bytes()`), which are evaluated as data because
/// Python 3 protocol-2 pickles spell bytes that way.
public enum PickleReader {
    /// Reads the pickle starting at `offset` of `storage`; bytes values view `storage` without copying.
    public static func read(
        storage: ByteStorage, offset: Int = 0, allowedGlobals: Set<String>,
        limits: PickleLimits = .standard
    ) throws -> PickleResult {
        var input = ByteCursor(storage.bytes, label: "pickle")
        try input.seek(to: offset, what: "pickle start")
        var machine = PickleMachine(storage: storage, input: input, allowedGlobals: allowedGlobals, limits: limits)
        return try machine.run()
    }

    /// Reads a pickle held in `bytes` (copied into owned storage).
    public static func read(bytes: [UInt8], allowedGlobals: Set<String>, limits: PickleLimits = .standard) throws -> PickleResult {
        try read(storage: ByteStorage(copying: bytes), allowedGlobals: allowedGlobals, limits: limits)
    }
}

/// Globals the reader evaluates as data when they are allowed.
enum PickleDataGlobals {
    static let codecsEncode = "_codecs.encode"
    static let bytesTypes: Set<String> = ["builtins.bytes", "__builtin__.bytes"]
}

/// The pickle virtual machine: a value stack, a mark stack and a memo; iterative, never recursive.
/// Its input is a `ByteCursor`; an error raised while an opcode runs is located at that opcode
/// ("pickle opcode BINPUT at byte 1234").
struct PickleMachine {
    /// A stack or memo slot: the value and the nesting depth of immutable values (containers track their own).
    struct Entry {
        var value: PickleValue
        var depth: Int
    }

    let storage: ByteStorage
    /// The pickle's bytes; its position is the next opcode or argument byte.
    var input: ByteCursor
    let allowedGlobals: Set<String>
    let limits: PickleLimits

    var stack: [Entry] = []
    var marks: [Int] = []
    var memo: [Int: Entry] = [:]
    var elements = 0
    var persistentIDs = 0
    var protocolVersion = 0
    /// Offset of the opcode being executed (for error messages).
    var opcodeOffset = 0
    var opcode: PickleOpcode = .stop

    mutating func countPersistentID() throws {
        persistentIDs += 1
        guard persistentIDs <= limits.maxPersistentIDs else {
            throw limitError("more than \(limits.maxPersistentIDs) persistent ids (storages; limit)")
        }
    }

    init(storage: ByteStorage, input: ByteCursor, allowedGlobals: Set<String>, limits: PickleLimits) {
        self.storage = storage
        self.input = input
        self.allowedGlobals = allowedGlobals
        self.limits = limits
    }

    // MARK: Errors

    /// A `.malformed` error; `run` locates it at the opcode being executed.
    func error(_ detail: String) -> FormatError {
        FormatError(.malformed, detail)
    }

    /// A `.limit` error: the pickle is well-formed but bigger than alexconv's bounds.
    func limitError(_ detail: String) -> FormatError {
        FormatError(.limit, detail)
    }

    /// Where the opcode being executed stands, for errors.
    var opcodeLocation: String { "pickle opcode \(opcode.pythonName) at byte \(opcodeOffset)" }

    // MARK: Input (the opcode's argument bytes)

    mutating func readUInt8() throws -> Int { Int(try input.read(UInt8.self, what: "argument")) }

    mutating func readLE<T: FixedWidthInteger>(_ type: T.Type) throws -> T {
        try input.read(type, what: "argument")
    }

    /// A length field of `T` checked to fit in the rest of the input.
    mutating func readLength<T: FixedWidthInteger>(_ type: T.Type) throws -> Int {
        try input.readLength(type, what: "length")
    }

    /// The bytes up to the next newline (exclusive); the newline is consumed.
    mutating func readLine() throws -> UnsafeRawBufferPointer {
        try input.readLine(what: "text argument")
    }

    mutating func readLineText() throws -> String {
        let line = try readLine()
        guard let text = String(validating: line, as: UTF8.self) else { throw error("line is not UTF-8 text") }
        return text
    }

    /// The next `count` bytes of the input, as bytes viewing the storage.
    mutating func readSlice(_ count: Int) throws -> PickleBytes {
        let start = input.offset
        try input.skip(count, what: "argument")
        return PickleBytes(storage: storage, offset: start, count: count)
    }

    /// The next `count` bytes of the input (a view, no copy).
    mutating func readBytes(_ count: Int) throws -> UnsafeRawBufferPointer {
        try input.readBytes(count, what: "argument")
    }

    // MARK: Stack

    mutating func push(_ value: PickleValue, depth: Int = 0) throws {
        guard stack.count < limits.maxStackDepth else {
            throw limitError("stack holds more than \(limits.maxStackDepth) values (limit)")
        }
        stack.append(Entry(value: value, depth: depth))
    }

    var frameBase: Int { marks.last ?? 0 }

    mutating func pop() throws -> Entry {
        guard stack.count > frameBase else { throw error("stack underflow") }
        return stack.removeLast()
    }

    mutating func top() throws -> Entry {
        guard stack.count > frameBase else { throw error("stack underflow") }
        return stack[stack.count - 1]
    }

    /// Removes and returns the values pushed since the last MARK, and the MARK.
    mutating func popToMark() throws -> [Entry] {
        guard let base = marks.popLast() else { throw error("no MARK on the stack") }
        let items = Array(stack[base...])
        stack.removeSubrange(base...)
        return items
    }

    // MARK: Nesting

    /// Current nesting depth of a stack entry (containers track theirs as items are added).
    func depth(of entry: Entry) -> Int {
        switch entry.value {
        case .list(let list), .set(let list): return list.depth
        case .dict(let dict): return dict.depth
        case .object(let object): return object.depth
        default: return entry.depth
        }
    }

    /// Marks a value as nested: containers can no longer change (so no cycles can form) and the
    /// depth of the new parent is checked. Returns the parent's depth contribution.
    mutating func nest(_ entries: [Entry]) throws -> Int {
        guard elements <= limits.maxElements - entries.count else {
            throw limitError("more than \(limits.maxElements) items in containers (limit)")
        }
        elements += entries.count
        var deepest = 0
        for entry in entries {
            switch entry.value {
            case .list(let list), .set(let list): list.sealed = true
            case .dict(let dict): dict.sealed = true
            case .object(let object): object.sealed = true
            default: break
            }
            deepest = Swift.max(deepest, depth(of: entry))
        }
        let parent = deepest + 1
        guard parent <= limits.maxNestingDepth else {
            throw limitError("values nested more than \(limits.maxNestingDepth) deep (limit)")
        }
        return parent
    }

    func refuseIfSealed(_ sealed: Bool, _ kind: String) throws {
        if sealed {
            throw error("changes a \(kind) after it was nested in another value (recursive structures are not supported)")
        }
    }

    // MARK: Run

    mutating func run() throws -> PickleResult {
        while true {
            opcodeOffset = input.offset
            guard let byte = input.nextByte() else {
                throw FormatError(.truncated, location: "pickle", "truncated: input ended at byte \(opcodeOffset) before STOP")
            }
            guard let op = PickleOpcode(rawValue: byte) else {
                throw FormatError(
                    .unsupported, location: "pickle",
                    "unknown or unsupported opcode 0x\(String(byte, radix: 16, uppercase: true)) at byte \(opcodeOffset)")
            }
            opcode = op
            do {
                if op == .stop {
                    let result = try pop()
                    return PickleResult(value: result.value, endOffset: input.offset, protocolVersion: protocolVersion)
                }
                try execute(op)
            } catch var error as FormatError {
                // Everything that goes wrong while an opcode runs is located at the opcode.
                if error.location == nil || error.location == input.label { error.location = opcodeLocation }
                throw error
            }
        }
    }

    mutating func execute(_ op: PickleOpcode) throws {
        switch op {
        case .stop:
            break
        case .proto:
            let version = try readUInt8()
            guard version <= 5 else { throw error("unsupported pickle protocol \(version)") }
            protocolVersion = version
        case .frame:
            _ = try readLength(UInt64.self)
        case .mark:
            guard marks.count < limits.maxMarkDepth else { throw limitError("more than \(limits.maxMarkDepth) open MARKs (limit)") }
            marks.append(stack.count)
        case .pop:
            if stack.count > frameBase { stack.removeLast() } else if !marks.isEmpty { marks.removeLast() } else { throw error("stack underflow") }
        case .popMark:
            _ = try popToMark()
        case .dup:
            let entry = try top()
            try push(entry.value, depth: entry.depth)

        // Constants and numbers
        case .none: try push(.none)
        case .newTrue: try push(.bool(true))
        case .newFalse: try push(.bool(false))
        case .int:
            let text = try readLineText()
            if text == "00" {
                try push(.bool(false))
            } else if text == "01" {
                try push(.bool(true))
            } else {
                try push(try parseInteger(text))
            }
        case .long:
            var text = try readLineText()
            if text.hasSuffix("L") { text.removeLast() }
            try push(try parseInteger(text))
        case .binInt: try push(.int(Int(try readLE(Int32.self))))
        case .binInt1: try push(.int(try readUInt8()))
        case .binInt2: try push(.int(Int(try readLE(UInt16.self))))
        case .long1: try pushLong(length: try readLength(UInt8.self))
        case .long4:
            let raw = try readLE(Int32.self)
            guard raw >= 0 else { throw error("negative LONG4 length \(raw)") }
            let length = Int(raw)
            guard length <= input.remaining else { throw error("LONG4 claims \(length) bytes, only \(input.remaining) left") }
            try pushLong(length: length)
        case .float:
            let text = try readLineText()
            guard let value = Double(text.trimmingCharacters(in: .whitespaces)) else { throw error("'\(text)' is not a float") }
            try push(.float(value))
        case .binFloat:
            let bits = try input.read(UInt64.self, .bigEndian, what: "argument")
            try push(.float(Double(bitPattern: bits)))

        // Strings and bytes
        case .string:
            try push(.legacyString(PickleBytes(copying: try unescapePythonTwoString(try readLine()))))
        case .binString:
            let raw = try readLE(Int32.self)
            guard raw >= 0 else { throw error("negative BINSTRING length \(raw)") }
            try push(.legacyString(try readSlice(Int(raw))))
        case .shortBinString:
            try push(.legacyString(try readSlice(try readUInt8())))
        case .unicode:
            try push(.string(try decodeRawUnicodeEscape(try readLine())))
        case .binUnicode: try pushUnicode(length: try readLength(UInt32.self))
        case .shortBinUnicode: try pushUnicode(length: try readLength(UInt8.self))
        case .binUnicode8: try pushUnicode(length: try readLength(UInt64.self))
        case .binBytes: try pushBytes(length: try readLength(UInt32.self))
        case .shortBinBytes: try pushBytes(length: try readLength(UInt8.self))
        case .binBytes8, .byteArray8: try pushBytes(length: try readLength(UInt64.self))

        // Tuples
        case .emptyTuple: try push(.tuple([]), depth: 1)
        case .tuple:
            let items = try popToMark()
            try pushTuple(items)
        case .tuple1, .tuple2, .tuple3:
            let count = op == .tuple1 ? 1 : op == .tuple2 ? 2 : 3
            guard stack.count - frameBase >= count else { throw error("stack underflow") }
            let items = Array(stack[(stack.count - count)...])
            stack.removeLast(count)
            try pushTuple(items)

        // Lists
        case .emptyList:
            try push(.list(PickleList()))
            setDepth(of: stack.count - 1, 1)
        case .list:
            let items = try popToMark()
            let list = PickleList()
            list.depth = try nest(items)
            list.items = items.map(\.value)
            try push(.list(list))
        case .append:
            let item = try pop()
            try appendItems([item], to: try top())
        case .appends:
            let items = try popToMark()
            try appendItems(items, to: try top())

        // Dicts
        case .emptyDict:
            try push(.dict(PickleDict()))
            setDepth(of: stack.count - 1, 1)
        case .dict:
            let items = try popToMark()
            let dict = PickleDict()
            try setItems(items, on: Entry(value: .dict(dict), depth: 1))
            try push(.dict(dict))
        case .setItem:
            let value = try pop()
            let key = try pop()
            try setItems([key, value], on: try top())
        case .setItems:
            let items = try popToMark()
            try setItems(items, on: try top())

        // Sets
        case .emptySet:
            try push(.set(PickleList()))
            setDepth(of: stack.count - 1, 1)
        case .addItems:
            let items = try popToMark()
            guard case .set(let set) = try top().value else { throw error("ADDITEMS needs a set, found \(try top().value.kindName)") }
            let depth = try nest(items)  // seal first: adding a set to itself is refused below
            try refuseIfSealed(set.sealed, "set")
            set.depth = Swift.max(set.depth, depth)
            set.items.append(contentsOf: items.map(\.value))
        case .frozenSet:
            let items = try popToMark()
            let set = PickleList()
            set.depth = try nest(items)
            set.items = items.map(\.value)
            try push(.set(set))

        // Globals and construction
        case .global:
            let module = try readLineText()
            let name = try readLineText()
            try pushGlobal(module: module, name: name)
        case .stackGlobal:
            let name = try pop().value
            let module = try pop().value
            guard case .string(let nameText) = name, case .string(let moduleText) = module else {
                throw error("STACK_GLOBAL needs two str, found \(module.kindName) and \(name.kindName)")
            }
            try pushGlobal(module: moduleText, name: nameText)
        case .reduce:
            let arguments = try pop()
            let callable = try pop()
            try construct(callable: callable, arguments: arguments, construction: .reduce)
        case .newObj:
            let arguments = try pop()
            let cls = try pop()
            try construct(callable: cls, arguments: arguments, construction: .newObject)
        case .newObjEx:
            let keywords = try pop()
            let arguments = try pop()
            let cls = try pop()
            try construct(callable: cls, arguments: arguments, construction: .newObject, keywords: keywords)
        case .inst:
            let module = try readLineText()
            let name = try readLineText()
            let global = try allowedGlobal(module: module, name: name)
            let items = try popToMark()
            try construct(callable: Entry(value: .global(global), depth: 0), argumentItems: items, construction: .reduce)
        case .obj:
            var items = try popToMark()
            guard !items.isEmpty else { throw error("OBJ needs a class after MARK") }
            let cls = items.removeFirst()
            try construct(callable: cls, argumentItems: items, construction: .newObject)
        case .build:
            let state = try pop()
            guard case .object(let object) = try top().value else {
                throw error("BUILD needs an object made by REDUCE or NEWOBJ, found \(try top().value.kindName)")
            }
            let depth = try nest([state])
            try refuseIfSealed(object.sealed, "object")
            object.depth = Swift.max(object.depth, depth)
            object.state = state.value

        // Persistent ids
        case .persID:
            try countPersistentID()
            let text = try readLineText()
            try push(.persistentID(.string(text)), depth: 1)
        case .binPersID:
            try countPersistentID()
            let id = try pop()
            let depth = try nest([id])
            try push(.persistentID(id.value), depth: depth)

        // Memo
        case .get: try memoGet(try parseMemoIndex(try readLineText()))
        case .binGet: try memoGet(try readUInt8())
        case .longBinGet: try memoGet(Int(try readLE(UInt32.self)))
        case .put: try memoPut(try parseMemoIndex(try readLineText()))
        case .binPut: try memoPut(try readUInt8())
        case .longBinPut: try memoPut(Int(try readLE(UInt32.self)))
        case .memoize: try memoPut(memo.count)
        }
    }

    // MARK: Helpers

    mutating func setDepth(of index: Int, _ depth: Int) {
        switch stack[index].value {
        case .list(let list), .set(let list): list.depth = depth
        case .dict(let dict): dict.depth = depth
        case .object(let object): object.depth = depth
        default: stack[index].depth = depth
        }
    }

    /// A decimal integer (INT / LONG text): `.int` when it fits 64 bits, else `.bigInt`.
    func parseInteger(_ text: String) throws -> PickleValue {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if let value = Int(trimmed) { return .int(value) }
        var digits = Substring(trimmed)
        let negative = digits.first == "-"
        if negative || digits.first == "+" { digits = digits.dropFirst() }
        guard !digits.isEmpty, digits.count <= limits.maxBigIntBytes * 3, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            throw error("'\(text)' is not an integer")
        }
        // Magnitude as little-endian base-256 digits, then two's complement.
        var magnitude: [UInt8] = [0]
        for digit in digits.utf8 {
            var carry = Int(digit - 0x30)
            for index in magnitude.indices {
                let value = Int(magnitude[index]) * 10 + carry
                magnitude[index] = UInt8(value & 0xFF)
                carry = value >> 8
            }
            while carry > 0 {
                magnitude.append(UInt8(carry & 0xFF))
                carry >>= 8
            }
        }
        magnitude.append(0)  // room for the sign bit
        if negative {
            var carry = 1
            for index in magnitude.indices {
                let value = Int(~magnitude[index]) + carry
                magnitude[index] = UInt8(value & 0xFF)
                carry = value >> 8
            }
        }
        return .bigInt(minimalTwosComplement(magnitude))
    }

    /// Drops redundant sign bytes so equal integers have equal byte strings.
    func minimalTwosComplement(_ raw: [UInt8]) -> [UInt8] {
        var bytes = raw
        while bytes.count > 1 {
            let last = bytes[bytes.count - 1]
            let previous = bytes[bytes.count - 2]
            if (last == 0 && previous & 0x80 == 0) || (last == 0xFF && previous & 0x80 != 0) { bytes.removeLast() } else { break }
        }
        return bytes
    }

    func parseMemoIndex(_ text: String) throws -> Int {
        guard let index = Int(text), index >= 0 else { throw error("'\(text)' is not a memo index") }
        return index
    }

    mutating func pushLong(length: Int) throws {
        guard length <= limits.maxBigIntBytes else { throw limitError("integer of \(length) bytes exceeds \(limits.maxBigIntBytes) (limit)") }
        let raw = minimalTwosComplement(Array(try readBytes(length)))
        if length == 0 {
            try push(.int(0))
            return
        }
        if raw.count <= 8 {
            var value: UInt64 = 0
            for (index, byte) in raw.enumerated() { value |= UInt64(byte) << (8 * UInt64(index)) }
            let shift = UInt64(64 - 8 * raw.count)
            try push(.int(Int(Int64(bitPattern: value << shift) >> shift)))  // sign-extend
        } else {
            try push(.bigInt(raw))
        }
    }

    mutating func pushUnicode(length: Int) throws {
        let raw = try readBytes(length)
        guard let text = String(validating: raw, as: UTF8.self) else { throw error("str of \(length) bytes is not valid UTF-8") }
        try push(.string(text))
    }

    mutating func pushBytes(length: Int) throws {
        try push(.bytes(try readSlice(length)))
    }

    mutating func pushTuple(_ items: [Entry]) throws {
        let depth = try nest(items)
        try push(.tuple(items.map(\.value)), depth: depth)
    }

    func allowedGlobal(module: String, name: String) throws -> PickleGlobal {
        let global = PickleGlobal(module: module, name: name)
        guard allowedGlobals.contains(global.description) else {
            throw FormatError(
                .refused,
                "refused pickle global '\(global)': only the globals weight files use are allowed, and nothing in a pickle is ever executed")
        }
        return global
    }

    mutating func pushGlobal(module: String, name: String) throws {
        try push(.global(try allowedGlobal(module: module, name: name)))
    }

    mutating func appendItems(_ items: [Entry], to target: Entry) throws {
        switch target.value {
        case .list(let list):
            let depth = try nest(items)  // seal first: appending a list to itself is refused below
            try refuseIfSealed(list.sealed, "list")
            list.depth = Swift.max(list.depth, depth)
            list.items.append(contentsOf: items.map(\.value))
        case .object(let object):
            let depth = try nest(items)
            try refuseIfSealed(object.sealed, "object")
            object.depth = Swift.max(object.depth, depth)
            object.appended.append(contentsOf: items.map(\.value))
        default:
            throw error("\(opcode.pythonName) needs a list, found \(target.value.kindName)")
        }
    }

    mutating func setItems(_ items: [Entry], on target: Entry) throws {
        guard items.count % 2 == 0 else { throw error("odd number of values (\(items.count)) for key/value pairs") }
        var pairs: [(key: PickleValue, value: PickleValue)] = []
        pairs.reserveCapacity(items.count / 2)
        for index in stride(from: 0, to: items.count, by: 2) { pairs.append((items[index].value, items[index + 1].value)) }
        switch target.value {
        case .dict(let dict):
            let depth = try nest(items)
            try refuseIfSealed(dict.sealed, "dict")
            dict.depth = Swift.max(dict.depth, depth)
            for pair in pairs { dict.set(pair.key, pair.value) }
        case .object(let object):
            let depth = try nest(items)
            try refuseIfSealed(object.sealed, "object")
            object.depth = Swift.max(object.depth, depth)
            object.items.append(contentsOf: pairs)
        default:
            throw error("\(opcode.pythonName) needs a dict, found \(target.value.kindName)")
        }
    }

    mutating func construct(callable: Entry, arguments: Entry, construction: PickleObject.Construction, keywords: Entry? = nil) throws {
        guard case .tuple(let items) = arguments.value else {
            throw error("\(opcode.pythonName) arguments must be a tuple, found \(arguments.value.kindName)")
        }
        try construct(
            callable: callable, argumentItems: items.map { Entry(value: $0, depth: 0) }, construction: construction,
            argumentDepth: arguments.depth, keywords: keywords)
    }

    mutating func construct(
        callable: Entry, argumentItems: [Entry], construction: PickleObject.Construction,
        argumentDepth: Int? = nil, keywords: Entry? = nil
    ) throws {
        guard case .global(let global) = callable.value else {
            throw error("\(opcode.pythonName) callable must be an allowed global, found \(callable.value.kindName) (call chains are refused)")
        }
        let arguments = argumentItems.map(\.value)
        if construction == .reduce, let data = try evaluateAsData(global, arguments) {
            try push(.bytes(data))
            return
        }
        let object = PickleObject(
            callable: global, construction: construction, arguments: arguments,
            keywordArguments: keywords?.value)
        var depth = try nest(argumentItems)
        if let argumentDepth { depth = Swift.max(depth, argumentDepth + 1) }
        if let keywords { depth = Swift.max(depth, try nest([keywords])) }
        guard depth <= limits.maxNestingDepth else { throw limitError("values nested more than \(limits.maxNestingDepth) deep (limit)") }
        object.depth = depth
        try push(.object(object))
    }

    /// `_codecs.encode(text, 'latin1')` and `bytes()` as data, when the consumer allowed them.
    func evaluateAsData(_ global: PickleGlobal, _ arguments: [PickleValue]) throws -> PickleBytes? {
        let name = global.description
        if PickleDataGlobals.bytesTypes.contains(name) && arguments.isEmpty {
            return PickleBytes(copying: [])
        }
        guard name == PickleDataGlobals.codecsEncode else { return nil }
        guard arguments.count == 1 || arguments.count == 2, case .string(let text) = arguments[0] else {
            throw error("_codecs.encode needs (str, encoding), found \(arguments.count) arguments")
        }
        let encoding = arguments.count == 2 ? (arguments[1].text ?? "") : "utf-8"
        switch encoding.lowercased().replacingOccurrences(of: "_", with: "-") {
        case "latin1", "latin-1", "iso-8859-1", "iso8859-1", "l1":
            var out: [UInt8] = []
            out.reserveCapacity(text.unicodeScalars.count)
            for scalar in text.unicodeScalars {
                guard scalar.value <= 0xFF else { throw error("_codecs.encode: character U+\(String(scalar.value, radix: 16)) is not latin-1") }
                out.append(UInt8(scalar.value))
            }
            return PickleBytes(copying: out)
        case "utf-8", "utf8":
            return PickleBytes(copying: Array(text.utf8))
        default:
            throw error("_codecs.encode with encoding '\(encoding)' is not supported (expected latin1)")
        }
    }

    mutating func memoGet(_ index: Int) throws {
        guard let entry = memo[index] else {
            throw error("memo index \(index) was never stored (the memo holds \(memo.count) entries)")
        }
        try push(entry.value, depth: entry.depth)
    }

    mutating func memoPut(_ index: Int) throws {
        let entry = try top()
        if memo[index] == nil {
            guard memo.count < limits.maxMemoEntries else { throw limitError("memo holds more than \(limits.maxMemoEntries) entries (limit)") }
        }
        memo[index] = entry
    }

    // MARK: Text opcodes

    /// Decodes a protocol-0 STRING argument: a Python 2 repr in single or double quotes.
    func unescapePythonTwoString(_ line: UnsafeRawBufferPointer) throws -> [UInt8] {
        var raw = Array(line)
        while let last = raw.last, last == 0x20 || last == 0x0D { raw.removeLast() }
        guard raw.count >= 2, let quote = raw.first, quote == 0x27 || quote == 0x22, raw.last == quote else {
            throw error("STRING argument is not quoted")
        }
        let body = raw[1..<(raw.count - 1)]
        var out: [UInt8] = []
        out.reserveCapacity(body.count)
        var index = body.startIndex
        func hexValue(_ byte: UInt8) -> UInt8? {
            switch byte {
            case 0x30...0x39: return byte - 0x30
            case 0x61...0x66: return byte - 0x61 + 10
            case 0x41...0x46: return byte - 0x41 + 10
            default: return nil
            }
        }
        while index < body.endIndex {
            let byte = body[index]
            index += 1
            guard byte == 0x5C else {
                out.append(byte)
                continue
            }
            guard index < body.endIndex else { throw error("STRING ends in a lone backslash") }
            let escape = body[index]
            index += 1
            switch escape {
            case 0x6E: out.append(0x0A)  // \n
            case 0x74: out.append(0x09)  // \t
            case 0x72: out.append(0x0D)  // \r
            case 0x61: out.append(0x07)  // \a
            case 0x62: out.append(0x08)  // \b
            case 0x66: out.append(0x0C)  // \f
            case 0x76: out.append(0x0B)  // \v
            case 0x0A: break  // line continuation
            case 0x78:  // \xhh
                guard index + 1 < body.endIndex, let high = hexValue(body[index]), let low = hexValue(body[index + 1]) else {
                    throw error("STRING has a bad \\x escape")
                }
                out.append(high << 4 | low)
                index += 2
            case 0x30...0x37:  // \ooo
                var value = Int(escape - 0x30)
                var digits = 1
                while digits < 3, index < body.endIndex, (0x30...0x37).contains(body[index]) {
                    value = value * 8 + Int(body[index] - 0x30)
                    index += 1
                    digits += 1
                }
                out.append(UInt8(truncatingIfNeeded: value))
            case 0x5C, 0x27, 0x22: out.append(escape)
            default:
                out.append(0x5C)
                out.append(escape)  // unknown escapes stay as written
            }
        }
        return out
    }

    /// Decodes a protocol-0 UNICODE argument (raw-unicode-escape: \uXXXX, \UXXXXXXXX, else latin-1).
    func decodeRawUnicodeEscape(_ line: UnsafeRawBufferPointer) throws -> String {
        var scalars = String.UnicodeScalarView()
        let raw = Array(line)
        var index = 0
        while index < raw.count {
            let byte = raw[index]
            if byte == 0x5C, index + 1 < raw.count, raw[index + 1] == 0x75 || raw[index + 1] == 0x55 {
                let digits = raw[index + 1] == 0x75 ? 4 : 8
                guard index + 2 + digits <= raw.count,
                    let code = UInt32(String(decoding: raw[(index + 2)..<(index + 2 + digits)], as: UTF8.self), radix: 16),
                    let scalar = Unicode.Scalar(code)
                else {
                    throw error("UNICODE has a bad \\u escape")
                }
                scalars.append(scalar)
                index += 2 + digits
            } else {
                scalars.append(Unicode.Scalar(byte))
                index += 1
            }
        }
        return String(scalars)
    }
}

extension PickleValue {
    /// A comparable form of simple keys (text, int, bool) for replacing repeated dict keys.
    var hashableKey: String? {
        switch self {
        case .string(let text): return "s:" + text
        case .legacyString(let bytes): return "b:" + bytes.latin1
        case .bytes(let bytes): return "y:" + bytes.latin1
        case .int(let value): return "i:\(value)"
        case .bool(let value): return "i:\(value ? 1 : 0)"
        default: return nil
        }
    }
}
