// MARK: - Opcodes

/// The pickle opcodes of protocols 0-5 that alexconv interprets (CPython `Lib/pickle.py` names).
/// Anything else (EXT1/2/4, NEXT_BUFFER, READONLY_BUFFER, unknown bytes) is refused.
public enum PickleOpcode: UInt8, Sendable {
    // Protocol control
    case proto = 0x80  // \x80 version
    case frame = 0x95  // \x95 u64 length
    case stop = 0x2E  // .
    // Stack manipulation
    case mark = 0x28  // (
    case pop = 0x30  // 0
    case popMark = 0x31  // 1
    case dup = 0x32  // 2
    // Constants
    case none = 0x4E  // N
    case newTrue = 0x88
    case newFalse = 0x89
    // Integers
    case int = 0x49  // I text line
    case binInt = 0x4A  // J i32
    case binInt1 = 0x4B  // K u8
    case binInt2 = 0x4D  // M u16
    case long = 0x4C  // L text line
    case long1 = 0x8A  // u8 length, two's complement LE
    case long4 = 0x8B  // i32 length, two's complement LE
    // Floats
    case float = 0x46  // F text line
    case binFloat = 0x47  // G f64 big-endian
    // Python 2 str
    case string = 0x53  // S repr line
    case binString = 0x54  // T i32 length
    case shortBinString = 0x55  // U u8 length
    // Unicode str
    case unicode = 0x56  // V raw-unicode-escape line
    case binUnicode = 0x58  // X u32 length
    case shortBinUnicode = 0x8C  // u8 length
    case binUnicode8 = 0x8D  // u64 length
    // Bytes
    case binBytes = 0x42  // B u32 length
    case shortBinBytes = 0x43  // C u8 length
    case binBytes8 = 0x8E  // u64 length
    case byteArray8 = 0x96  // u64 length
    // Tuples
    case emptyTuple = 0x29  // )
    case tuple = 0x74  // t
    case tuple1 = 0x85
    case tuple2 = 0x86
    case tuple3 = 0x87
    // Lists
    case emptyList = 0x5D  // ]
    case list = 0x6C  // l
    case append = 0x61  // a
    case appends = 0x65  // e
    // Dicts
    case emptyDict = 0x7D  // }
    case dict = 0x64  // d
    case setItem = 0x73  // s
    case setItems = 0x75  // u
    // Sets
    case emptySet = 0x8F
    case addItems = 0x90
    case frozenSet = 0x91
    // Globals and construction (recorded, never executed)
    case global = 0x63  // c module\nname\n
    case stackGlobal = 0x93
    case reduce = 0x52  // R
    case build = 0x62  // b
    case inst = 0x69  // i module\nname\n
    case obj = 0x6F  // o
    case newObj = 0x81
    case newObjEx = 0x92
    // Persistent ids
    case persID = 0x50  // P line
    case binPersID = 0x51  // Q
    // Memo
    case get = 0x67  // g line
    case binGet = 0x68  // h u8
    case longBinGet = 0x6A  // j u32
    case put = 0x70  // p line
    case binPut = 0x71  // q u8
    case longBinPut = 0x72  // r u32
    case memoize = 0x94

    /// CPython's name for the opcode, for error messages.
    public var pythonName: String {
        switch self {
        case .proto: return "PROTO"
        case .frame: return "FRAME"
        case .stop: return "STOP"
        case .mark: return "MARK"
        case .pop: return "POP"
        case .popMark: return "POP_MARK"
        case .dup: return "DUP"
        case .none: return "NONE"
        case .newTrue: return "NEWTRUE"
        case .newFalse: return "NEWFALSE"
        case .int: return "INT"
        case .binInt: return "BININT"
        case .binInt1: return "BININT1"
        case .binInt2: return "BININT2"
        case .long: return "LONG"
        case .long1: return "LONG1"
        case .long4: return "LONG4"
        case .float: return "FLOAT"
        case .binFloat: return "BINFLOAT"
        case .string: return "STRING"
        case .binString: return "BINSTRING"
        case .shortBinString: return "SHORT_BINSTRING"
        case .unicode: return "UNICODE"
        case .binUnicode: return "BINUNICODE"
        case .shortBinUnicode: return "SHORT_BINUNICODE"
        case .binUnicode8: return "BINUNICODE8"
        case .binBytes: return "BINBYTES"
        case .shortBinBytes: return "SHORT_BINBYTES"
        case .binBytes8: return "BINBYTES8"
        case .byteArray8: return "BYTEARRAY8"
        case .emptyTuple: return "EMPTY_TUPLE"
        case .tuple: return "TUPLE"
        case .tuple1: return "TUPLE1"
        case .tuple2: return "TUPLE2"
        case .tuple3: return "TUPLE3"
        case .emptyList: return "EMPTY_LIST"
        case .list: return "LIST"
        case .append: return "APPEND"
        case .appends: return "APPENDS"
        case .emptyDict: return "EMPTY_DICT"
        case .dict: return "DICT"
        case .setItem: return "SETITEM"
        case .setItems: return "SETITEMS"
        case .emptySet: return "EMPTY_SET"
        case .addItems: return "ADDITEMS"
        case .frozenSet: return "FROZENSET"
        case .global: return "GLOBAL"
        case .stackGlobal: return "STACK_GLOBAL"
        case .reduce: return "REDUCE"
        case .build: return "BUILD"
        case .inst: return "INST"
        case .obj: return "OBJ"
        case .newObj: return "NEWOBJ"
        case .newObjEx: return "NEWOBJ_EX"
        case .persID: return "PERSID"
        case .binPersID: return "BINPERSID"
        case .get: return "GET"
        case .binGet: return "BINGET"
        case .longBinGet: return "LONG_BINGET"
        case .put: return "PUT"
        case .binPut: return "BINPUT"
        case .longBinPut: return "LONG_BINPUT"
        case .memoize: return "MEMOIZE"
        }
    }
}
