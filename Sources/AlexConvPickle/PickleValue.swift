import AlexConvCore
import Foundation

// MARK: - Values

/// A value a pickle describes. Nothing here is ever executed: globals are names, and calls on
/// them (REDUCE, NEWOBJ, BUILD) are recorded as `object` nodes for the consumer to interpret.
public indirect enum PickleValue: @unchecked Sendable {
    case none
    case bool(Bool)
    /// An integer that fits in 64 bits.
    case int(Int)
    /// A larger integer: little-endian two's complement bytes (LONG1 / LONG4).
    case bigInt([UInt8])
    case float(Double)
    /// A Python 3 `str` (unicode opcodes).
    case string(String)
    /// A Python 2 `str` (STRING / BINSTRING / SHORT_BINSTRING): raw bytes; text is their latin-1 decoding.
    case legacyString(PickleBytes)
    /// `bytes` / `bytearray`: a zero-copy view of the input where the pickle holds them inline.
    case bytes(PickleBytes)
    case tuple([PickleValue])
    /// A list (shared by reference, as the memo shares it).
    case list(PickleList)
    /// A dict, keys in insertion order (shared by reference).
    case dict(PickleDict)
    /// A set or frozenset (elements in pickle order).
    case set(PickleList)
    /// A global (class or function) the pickle names; only allowed names are ever produced.
    case global(PickleGlobal)
    /// A call on a global, recorded, never performed: REDUCE / NEWOBJ with its arguments, plus any BUILD state.
    case object(PickleObject)
    /// A persistent id (PERSID / BINPERSID): the consumer resolves it (torch storages).
    case persistentID(PickleValue)
}

/// A global as the pickle names it: module and qualified name.
public struct PickleGlobal: Hashable, Sendable, CustomStringConvertible {
    public let module: String
    public let name: String
    public init(module: String, name: String) {
        self.module = module
        self.name = name
    }
    /// `module.name`, the spelling allow-lists use.
    public var description: String { "\(module).\(name)" }
}

/// Bytes held by a pickle: a view of `storage` (the input, or owned memory for computed bytes).
public struct PickleBytes: @unchecked Sendable {
    public let storage: ByteStorage
    public let offset: Int
    public let count: Int

    /// Views `count` bytes at `offset` of `storage` (the caller has checked the range).
    public init(storage: ByteStorage, offset: Int, count: Int) {
        self.storage = storage
        self.offset = offset
        self.count = count
    }

    /// Copies `bytes` into owned memory.
    public init(copying bytes: [UInt8]) {
        self.init(storage: ByteStorage(copying: bytes), offset: 0, count: bytes.count)
    }

    /// The bytes, valid while `storage` is alive.
    public var buffer: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: storage.bytes[offset..<(offset + count)])
    }

    /// A copy of the bytes as an array (for small values: keys, codes).
    public var array: [UInt8] { Array(buffer) }

    /// The bytes decoded as latin-1 (every byte is one code point), as Python 2 str keys are read.
    public var latin1: String {
        String(String.UnicodeScalarView(buffer.map { Unicode.Scalar($0) }))
    }
}

/// A list in a pickle; a class because the memo shares it and APPEND mutates it.
public final class PickleList: @unchecked Sendable {
    public internal(set) var items: [PickleValue]
    /// Nesting depth of the deepest value inside (0 when empty).
    var depth: Int = 0
    /// Set once the list is nested inside another value; later changes are refused (no cycles).
    var sealed = false
    public init(_ items: [PickleValue] = []) { self.items = items }
}

/// A dict in a pickle, keys in insertion order; a class because the memo shares it.
public final class PickleDict: @unchecked Sendable {
    public internal(set) var entries: [(key: PickleValue, value: PickleValue)]
    var depth: Int = 0
    var sealed = false
    /// Position of each simple key in `entries` (a repeated key replaces the value, as in Python).
    var positions: [String: Int] = [:]
    public init(_ entries: [(key: PickleValue, value: PickleValue)] = []) {
        self.entries = []
        for entry in entries { set(entry.key, entry.value) }
    }

    /// Sets `key` to `value`, replacing an earlier equal simple key.
    func set(_ key: PickleValue, _ value: PickleValue) {
        if let simple = key.hashableKey {
            if let index = positions[simple] {
                entries[index].value = value
                return
            }
            positions[simple] = entries.count
        }
        entries.append((key, value))
    }

    /// The value of the first entry whose key is the text `key` (str or Python 2 str).
    public subscript(key: String) -> PickleValue? {
        entries.first(where: { $0.key.text == key })?.value
    }
}

/// A recorded call on a global: `callable(*arguments)` (REDUCE) or `callable.__new__(callable, *arguments)`
/// (NEWOBJ), then the state BUILD gave it and the items SETITEM(S)/APPEND(S) added to it.
public final class PickleObject: @unchecked Sendable {
    public enum Construction: Sendable { case reduce, newObject }
    public let callable: PickleGlobal
    public let construction: Construction
    public let arguments: [PickleValue]
    /// Keyword arguments (NEWOBJ_EX only).
    public let keywordArguments: PickleValue?
    /// The BUILD state, if any.
    public internal(set) var state: PickleValue?
    /// Key/value pairs set on the object (an OrderedDict's entries), in order.
    public internal(set) var items: [(key: PickleValue, value: PickleValue)] = []
    /// Values appended to the object (a list subclass), in order.
    public internal(set) var appended: [PickleValue] = []
    var depth: Int = 0
    var sealed = false

    init(callable: PickleGlobal, construction: Construction, arguments: [PickleValue], keywordArguments: PickleValue? = nil) {
        self.callable = callable
        self.construction = construction
        self.arguments = arguments
        self.keywordArguments = keywordArguments
    }
}

// MARK: - Reading values

extension PickleValue {
    /// Short kind name for error messages (`int`, `dict`, `global numpy.dtype`, ...).
    public var kindName: String {
        switch self {
        case .none: return "None"
        case .bool: return "bool"
        case .int, .bigInt: return "int"
        case .float: return "float"
        case .string: return "str"
        case .legacyString: return "Python 2 str"
        case .bytes: return "bytes"
        case .tuple(let items): return "tuple of \(items.count)"
        case .list(let list): return "list of \(list.items.count)"
        case .dict(let dict): return "dict of \(dict.entries.count)"
        case .set: return "set"
        case .global(let global): return "global \(global)"
        case .object(let object): return "\(object.callable) object"
        case .persistentID: return "persistent id"
        }
    }

    /// The integer value (bools count as 0/1, as Python 2 pickles write flags as ints).
    public var int: Int? {
        switch self {
        case .int(let value): return value
        case .bool(let value): return value ? 1 : 0
        default: return nil
        }
    }

    /// True/False for bools and the ints 0/1 (Python 2 numpy writes flags as ints).
    public var bool: Bool? {
        switch self {
        case .bool(let value): return value
        case .int(0): return false
        case .int(1): return true
        default: return nil
        }
    }

    public var double: Double? {
        switch self {
        case .float(let value): return value
        case .int(let value): return Double(value)
        default: return nil
        }
    }

    /// Text of a str, or of a Python 2 str decoded as latin-1 (as `np.load(encoding='latin1')` does).
    public var text: String? {
        switch self {
        case .string(let value): return value
        case .legacyString(let bytes): return bytes.latin1
        default: return nil
        }
    }

    /// Raw bytes of `bytes` or of a Python 2 str (array data in Python 2 pickles).
    public var rawBytes: PickleBytes? {
        switch self {
        case .bytes(let bytes), .legacyString(let bytes): return bytes
        default: return nil
        }
    }

    /// Items of a tuple or a list.
    public var sequence: [PickleValue]? {
        switch self {
        case .tuple(let items): return items
        case .list(let list): return list.items
        default: return nil
        }
    }

    /// Entries of a dict, or of a dict-like object: one that received SETITEM(S), or whose class
    /// name ends in `dict` (an empty `OrderedDict`).
    public var dictEntries: [(key: PickleValue, value: PickleValue)]? {
        switch self {
        case .dict(let dict): return dict.entries
        case .object(let object)
        where object.appended.isEmpty
            && (!object.items.isEmpty || object.callable.name.lowercased().hasSuffix("dict")):
            return object.items
        default: return nil
        }
    }

    public var object: PickleObject? {
        if case .object(let object) = self { return object }
        return nil
    }

    public var global: PickleGlobal? {
        if case .global(let global) = self { return global }
        return nil
    }
}
