import AlexConvCore
import CHDF5
import Foundation

// The one Swift layer over libhdf5: every C call of alexconv's HDF5 readers and writers goes through this file. Negative
// returns become `FormatError`s (reading) or `IOError`s (writing) naming the file and the HDF5 path,
// with HDF5's own description of what failed; HDF5's printing to stderr is switched off.

// MARK: - Library state

/// Serialises all HDF5 calls: the serial libhdf5 is not thread-safe.
enum HDF5Library {
    private static let lock = NSRecursiveLock()
    nonisolated(unsafe) private static var initialised = false

    /// Runs `body` holding the library lock (re-entrant), after initialising the library once.
    static func serialized<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        if !initialised {
            // No clean-up at process exit: alexconv closes every file it writes itself, and a file
            // whose close failed (a full disk) would make libhdf5's exit-time close crash the process.
            H5dont_atexit()
            H5open()
            initialised = true
        }
        // Per thread in thread-safe builds of HDF5, so set on every entry (cheap).
        _ = chdf5_silence_errors()
        return try body()
    }

    /// HDF5's description of the last failure ("inner; outer"), clearing the error stack.
    /// libhdf5's text on one line, and for a failed system call only the part a user needs: its
    /// "file write failed: time = ...\n, filename = ..., error message = 'No space left on device', buf = 0x..."
    /// becomes "file write failed: No space left on device".
    static func conciseMessage(_ text: String) -> String {
        let flat = text.split(whereSeparator: \.isNewline).joined(separator: " ")
        guard let start = flat.range(of: "error message = '"),
            let end = flat[start.upperBound...].firstIndex(of: "'")
        else { return flat }
        let head = flat[..<(flat.range(of: ": time =")?.lowerBound ?? flat.range(of: " (")?.lowerBound ?? start.lowerBound)]
        return "\(head.trimmingCharacters(in: CharacterSet(charactersIn: " ,("))): \(flat[start.upperBound..<end])"
    }

    static func lastError() -> String {
        var buffer = [CChar](repeating: 0, count: 1024)
        buffer.withUnsafeMutableBufferPointer { chdf5_last_error($0.baseAddress, $0.count) }
        let inner = conciseMessage(buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
        let outer = conciseMessage(buffer[512...].withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
        switch (inner.isEmpty, outer.isEmpty) {
        case (true, true): return "no detail from HDF5"
        case (false, true): return inner
        case (true, false): return outer
        case (false, false): return inner == outer ? inner : "\(outer) (\(inner))"
        }
    }
}

/// Whether an HDF5 failure is reported as unreadable input or as a failed write.
enum HDF5Mode { case reading, writing }

/// The signature every HDF5 file starts with (at offset 0, 512, 1024, ... when a user block precedes it).
let hdf5Signature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]

// MARK: - Objects

/// An open HDF5 object (file, group, dataset, attribute, type or space), closed when released.
final class HDF5Handle: @unchecked Sendable {
    enum Kind { case file, group, dataset, attribute, datatype, dataspace, propertyList }
    let id: hid_t
    let kind: Kind

    init(_ id: hid_t, _ kind: Kind) {
        self.id = id
        self.kind = kind
    }

    deinit {
        let id = self.id
        let kind = self.kind
        HDF5Library.serialized {
            switch kind {
            case .file: _ = H5Fclose(id)
            case .group: _ = H5Gclose(id)
            case .dataset: _ = H5Dclose(id)
            case .attribute: _ = H5Aclose(id)
            case .datatype: _ = H5Tclose(id)
            case .dataspace: _ = H5Sclose(id)
            case .propertyList: _ = H5Pclose(id)
            }
        }
    }
}

/// A file or group: something with links and attributes, named by its file and HDF5 path.
package class HDF5Location: @unchecked Sendable {
    let handle: HDF5Handle
    /// The file on disk (or the archive member) for error messages.
    package let file: String
    /// The HDF5 path of this object ("/" for the root).
    package let path: String
    let mode: HDF5Mode
    /// The file's bytes, for checking attributes, strings and group heaps before libhdf5 decodes them (nil when writing).
    let precheck: HDF5Precheck?

    init(handle: HDF5Handle, file: String, path: String, mode: HDF5Mode, precheck: HDF5Precheck?) {
        self.handle = handle
        self.file = file
        self.path = path
        self.mode = mode
        self.precheck = precheck
    }

    var id: hid_t { handle.id }

    /// The HDF5 path of `name` below this location.
    package func childPath(_ name: String) -> String { path == "/" ? "/" + name : path + "/" + name }

    /// An error for a failed `operation` at `location` (default: this object), with HDF5's reason.
    func failure(_ operation: String, at location: String? = nil) -> Error {
        let reason = HDF5Library.lastError()
        switch mode {
        case .reading: return FormatError(.malformed, file: file, location: location ?? path, "\(operation) failed: \(reason)")
        case .writing: return IOError(path: file, "HDF5 \(location ?? path): \(operation) failed: \(reason)")
        }
    }

    /// `value`, or the failure of `operation` when it is negative.
    @discardableResult
    func check<T: BinaryInteger>(_ value: T, _ operation: String, at location: String? = nil) throws -> T {
        if value < 0 { throw failure(operation, at: location) }
        return value
    }

    // MARK: Links

    /// Runs `body` with the file's bytes and this object's header address, to check what libhdf5
    /// is about to decode; throws when the file was opened without its bytes.
    private func withPrecheck<T>(checking what: String, _ body: (HDF5Precheck, UInt64) throws -> T) throws -> T {
        guard let precheck else {
            throw FormatError(.malformed, file: file, location: path, "\(what) are read only from files opened with their bytes")
        }
        return try HDF5Library.serialized { try body(precheck, try headerAddress()) }
    }

    /// Checks this group's link storage before libhdf5 looks a name up in it (reading mode).
    func checkLinks() throws {
        guard mode == .reading else { return }
        try withPrecheck(checking: "links") { try $0.checkLinkStorage(objectAddress: $1, location: path) }
    }

    /// The group holding the last component of `name` (`a/b/c`: group `a/b`, opened one checked
    /// component at a time) and that component; nil when an intermediate component is not a group.
    private func parentAndLeaf(_ name: String) throws -> (parent: HDF5Location, leaf: String)? {
        let components = name.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        guard let leaf = components.last else { return nil }
        var current: HDF5Location = self
        for component in components.dropLast() {
            guard try current.linkExists(component), current.kindOfChild(component) == .group else { return nil }
            current = try current.group(component)
        }
        try current.checkLinks()
        return (current, leaf)
    }

    /// True when this group has a link `component` (one path component), after checking its links.
    private func linkExists(_ component: String) throws -> Bool {
        try checkLinks()
        return HDF5Library.serialized {
            let result = H5Lexists(id, component, chdf5_p_default())
            if result < 0 { _ = HDF5Library.lastError() }
            return result > 0
        }
    }

    /// What the existing link `component` (one path component) of this group points to.
    private func kindOfChild(_ component: String) -> HDF5ObjectKind {
        HDF5Library.serialized {
            let object = H5Oopen(id, component, chdf5_p_default())
            if object < 0 {
                _ = HDF5Library.lastError()
                return .other
            }
            defer { H5Oclose(object) }
            switch H5Iget_type(object) {
            case H5I_GROUP: return .group
            case H5I_DATASET: return .dataset
            default: return .other
            }
        }
    }

    /// What `name` is: a group, a dataset, something else, or nil when absent.
    package func kind(of name: String) throws -> HDF5ObjectKind? {
        guard let (parent, leaf) = try parentAndLeaf(name), try parent.linkExists(leaf) else { return nil }
        return parent.kindOfChild(leaf)
    }

    /// Names of the links directly below this group, in HDF5's name order.
    package func childNames() throws -> [String] {
        try checkLinks()
        return try HDF5Library.serialized {
            var info = H5G_info_t()
            try check(H5Gget_info(id, &info), "listing the group")
            guard info.nlinks <= UInt64(HDF5Limits.maxLinksPerGroup) else {
                throw FormatError(.limit, file: file, location: path, "group has \(info.nlinks) members, more than the limit \(HDF5Limits.maxLinksPerGroup)")
            }
            var names: [String] = []
            for index in 0..<info.nlinks {
                let length = try check(
                    H5Lget_name_by_idx(id, ".", H5_INDEX_NAME, H5_ITER_INC, index, nil, 0, chdf5_p_default()),
                    "reading a member name")
                guard length <= HDF5Limits.maxNameBytes else {
                    throw FormatError(.limit, file: file, location: path, "member name of \(length) bytes exceeds the limit \(HDF5Limits.maxNameBytes)")
                }
                var buffer = [CChar](repeating: 0, count: Int(length) + 1)
                try check(
                    H5Lget_name_by_idx(id, ".", H5_INDEX_NAME, H5_ITER_INC, index, &buffer, buffer.count, chdf5_p_default()),
                    "reading a member name")
                names.append(String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self))
            }
            return names
        }
    }

    /// Opens the group `name` (relative to this location; components separated by `/`).
    package func group(_ name: String) throws -> HDF5Group {
        let id = try openChild(name, "group") { H5Gopen2($0, $1, chdf5_p_default()) }
        return HDF5Group(handle: HDF5Handle(id, .group), file: file, path: childPath(name), mode: mode, precheck: precheck)
    }

    /// Opens the dataset `name` (relative to this location; components separated by `/`).
    package func dataset(_ name: String) throws -> HDF5Dataset {
        let id = try openChild(name, "dataset") { H5Dopen2($0, $1, chdf5_p_default()) }
        return HDF5Dataset(handle: HDF5Handle(id, .dataset), file: file, path: childPath(name), mode: mode, precheck: precheck)
    }

    /// The id `open(parent id, last component)` gives for `name`, reached one checked component at a time.
    private func openChild(_ name: String, _ kind: String, _ open: (hid_t, String) -> hid_t) throws -> hid_t {
        guard let (parent, leaf) = try parentAndLeaf(name) else {
            throw FormatError(.malformed, file: file, location: childPath(name), "opening \(kind) failed: a component of the path is not a group")
        }
        return try HDF5Library.serialized {
            let id = open(parent.id, leaf)
            if id < 0 { throw failure("opening \(kind)", at: childPath(name)) }
            return id
        }
    }

    /// The file address of this object's header, relative to the superblock's base address.
    package func headerAddress() throws -> UInt64 {
        try HDF5Library.serialized {
            var address = haddr_t()
            try check(chdf5_object_address(id, &address), "locating the object header")
            return UInt64(address)
        }
    }

    // MARK: Reading attributes

    /// Checks this object's attribute messages before libhdf5 decodes any of them (reading mode).
    func checkAttributes() throws {
        guard mode == .reading else { return }
        _ = try withPrecheck(checking: "attributes") { try $0.checkedAttributes(objectAddress: $1, location: path) }
    }

    /// True when this object has an attribute `name`; throws when its attributes fail `checkAttributes`.
    package func hasAttribute(_ name: String) throws -> Bool {
        try checkAttributes()
        return HDF5Library.serialized {
            let result = H5Aexists(id, name)
            if result < 0 { _ = HDF5Library.lastError() }
            return result > 0
        }
    }

    /// The attribute `name` as a list of strings (a scalar string gives one element). Reads
    /// variable-length and fixed-length strings; an empty numeric array (Keras' marker for a layer
    /// without weights) gives an empty list; nil when the attribute does not exist.
    package func stringsAttribute(_ name: String) throws -> [String]? {
        guard try hasAttribute(name) else { return nil }
        return try HDF5Library.serialized {
            let where_ = "\(path)@\(name)"
            let attribute = HDF5Handle(try check(H5Aopen(id, name, chdf5_p_default()), "opening attribute", at: where_), .attribute)
            let type = HDF5Handle(try check(H5Aget_type(attribute.id), "reading attribute type", at: where_), .datatype)
            let space = HDF5Handle(try check(H5Aget_space(attribute.id), "reading attribute shape", at: where_), .dataspace)
            let count = try check(H5Sget_simple_extent_npoints(space.id), "reading attribute shape", at: where_)
            guard count <= HDF5Limits.maxAttributeElements else {
                throw FormatError(.limit, file: file, location: where_, "attribute has \(count) elements, more than the limit \(HDF5Limits.maxAttributeElements)")
            }
            let typeClass = H5Tget_class(type.id)
            guard typeClass == H5T_STRING else {
                if count == 0 { return [] }
                throw FormatError(.malformed, file: file, location: where_, "expected strings, found \(describe(typeClass)) values")
            }
            if count == 0 { return [] }
            let elements = Int(count)
            let variable = try check(H5Tis_variable_str(type.id), "reading attribute type", at: where_) > 0
            if variable {
                // libhdf5 follows each string's heap reference unchecked: check them first.
                try withPrecheck(checking: "variable-length strings") {
                    try $0.checkVariableLengthStrings(objectAddress: $1, attribute: name, count: elements, location: where_)
                }
                let memory = HDF5Handle(try check(H5Tcopy(chdf5_t_c_s1()), "making a string type"), .datatype)
                try check(H5Tset_size(memory.id, chdf5_t_variable()), "making a string type")
                try check(H5Tset_cset(memory.id, H5Tget_cset(type.id)), "making a string type")
                var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: elements)
                try check(H5Aread(attribute.id, memory.id, &pointers), "reading attribute", at: where_)
                defer { for pointer in pointers where pointer != nil { H5free_memory(pointer) } }
                return pointers.map { $0.map { String(cString: $0) } ?? "" }
            }
            let size = H5Tget_size(type.id)
            guard size > 0, size <= HDF5Limits.maxFixedStringBytes else {
                throw FormatError(.limit, file: file, location: where_, "fixed-length string size \(size) outside 1...\(HDF5Limits.maxFixedStringBytes)")
            }
            let total = try checkedMultiply(size, elements, what: where_)
            var bytes = [UInt8](repeating: 0, count: total)
            try check(H5Aread(attribute.id, type.id, &bytes), "reading attribute", at: where_)
            return (0..<elements).map { index in
                let slice = bytes[(index * size)..<((index + 1) * size)]
                let end = slice.firstIndex(of: 0) ?? slice.endIndex
                var text = String(decoding: slice[slice.startIndex..<end], as: UTF8.self)
                while text.hasSuffix(" ") { text.removeLast() }  // H5T_STR_SPACEPAD
                return text
            }
        }
    }

    /// A Keras attribute that may be split into `name0`, `name1`, ... when large; nil when absent.
    package func splitStringsAttribute(_ name: String) throws -> [String]? {
        if let whole = try stringsAttribute(name) { return whole }
        var parts: [String] = []
        var index = 0
        while let chunk = try stringsAttribute("\(name)\(index)") {
            parts += chunk
            index += 1
            guard index <= HDF5Limits.maxAttributeChunks else {
                throw FormatError(.limit, file: file, location: "\(path)@\(name)", "more than \(HDF5Limits.maxAttributeChunks) attribute chunks")
            }
        }
        return index == 0 ? nil : parts
    }

    /// A scalar (or first) string attribute; nil when absent.
    package func stringAttribute(_ name: String) throws -> String? {
        guard let values = try stringsAttribute(name) else { return nil }
        guard values.count == 1 else {
            throw FormatError(.malformed, file: file, location: "\(path)@\(name)", "expected one string, found \(values.count)")
        }
        return values[0]
    }

    // MARK: Writing

    /// Creates group `name` below this one.
    package func createGroup(_ name: String) throws -> HDF5Group {
        try HDF5Library.serialized {
            let id = H5Gcreate2(self.id, name, chdf5_p_default(), chdf5_p_default(), chdf5_p_default())
            if id < 0 { throw failure("creating group", at: childPath(name)) }
            return HDF5Group(handle: HDF5Handle(id, .group), file: file, path: childPath(name), mode: mode, precheck: precheck)
        }
    }

    /// Writes a variable-length string attribute: a scalar for one value unless `array`, as h5py
    /// does for `str` (UTF-8) and `bytes` (ASCII) values and lists of them.
    package func writeStringAttribute(_ name: String, _ values: [String], utf8: Bool, array: Bool) throws {
        try HDF5Library.serialized {
            let where_ = "\(path)@\(name)"
            let type = HDF5Handle(try check(H5Tcopy(chdf5_t_c_s1()), "making a string type"), .datatype)
            try check(H5Tset_size(type.id, chdf5_t_variable()), "making a string type")
            try check(H5Tset_cset(type.id, utf8 ? H5T_CSET_UTF8 : H5T_CSET_ASCII), "making a string type")
            let space: HDF5Handle
            if array {
                var dims: [hsize_t] = [hsize_t(values.count)]
                space = HDF5Handle(try check(H5Screate_simple(1, &dims, nil), "making a dataspace", at: where_), .dataspace)
            } else {
                precondition(values.count == 1, "a scalar attribute takes one value")
                space = HDF5Handle(try check(H5Screate(H5S_SCALAR), "making a dataspace", at: where_), .dataspace)
            }
            let attribute = HDF5Handle(
                try check(
                    H5Acreate2(id, name, type.id, space.id, chdf5_p_default(), chdf5_p_default()),
                    "creating attribute", at: where_), .attribute)
            let strings = values.map { strdup($0) }
            defer { strings.forEach { free($0) } }
            var pointers: [UnsafePointer<CChar>?] = strings.map { UnsafePointer($0) }
            if pointers.isEmpty { pointers = [nil] }
            try check(H5Awrite(attribute.id, type.id, &pointers), "writing attribute", at: where_)
        }
    }

    /// Writes an empty float64 array attribute: what h5py stores for Keras' empty `weight_names`.
    package func writeEmptyFloat64ArrayAttribute(_ name: String) throws {
        try HDF5Library.serialized {
            let where_ = "\(path)@\(name)"
            var dims: [hsize_t] = [0]
            let space = HDF5Handle(try check(H5Screate_simple(1, &dims, nil), "making a dataspace", at: where_), .dataspace)
            let attribute = HDF5Handle(
                try check(
                    H5Acreate2(id, name, chdf5_t_ieee_f64le(), space.id, chdf5_p_default(), chdf5_p_default()),
                    "creating attribute", at: where_), .attribute)
            var dummy = 0.0
            try check(H5Awrite(attribute.id, chdf5_t_native_double(), &dummy), "writing attribute", at: where_)
        }
    }

    /// Creates a contiguous little-endian dataset `name` of `dtype` and `shape`, creating missing
    /// intermediate groups (as h5py does for names like `conv2d/kernel:0`).
    package func createDataset(_ name: String, dtype: DType, shape: [Int]) throws -> HDF5Dataset {
        try HDF5Library.serialized {
            let where_ = childPath(name)
            let fileType = try HDF5Dataset.fileType(for: dtype, at: where_, file: file)
            var dims = shape.map { hsize_t($0) }
            let space = HDF5Handle(
                try check(
                    shape.isEmpty ? H5Screate(H5S_SCALAR) : H5Screate_simple(Int32(shape.count), &dims, nil),
                    "making a dataspace", at: where_), .dataspace)
            let linkCreation = HDF5Handle(try check(H5Pcreate(chdf5_p_link_create()), "making a property list"), .propertyList)
            try check(H5Pset_create_intermediate_group(linkCreation.id, 1), "making a property list")
            let id = H5Dcreate2(self.id, name, fileType.id, space.id, linkCreation.id, chdf5_p_default(), chdf5_p_default())
            if id < 0 { throw failure("creating dataset", at: where_) }
            return HDF5Dataset(handle: HDF5Handle(id, .dataset), file: file, path: where_, mode: mode, precheck: precheck)
        }
    }
}

/// What a link points to.
package enum HDF5ObjectKind { case group, dataset, other }

/// Limits on sizes read from a file, checked before anything is allocated.
public enum HDF5Limits {
    /// Members listed per group.
    public static let maxLinksPerGroup: UInt64 = 1_000_000
    /// Bytes of one link or attribute name.
    public static let maxNameBytes = 65_535
    /// Elements of one string attribute (layer_names of a very deep model stays far below).
    public static let maxAttributeElements: Int64 = 1_000_000
    /// Bytes of one fixed-length string element.
    public static let maxFixedStringBytes = 1 << 20
    /// Keras splits large attributes into name0, name1, ...; at most this many parts.
    public static let maxAttributeChunks = 100_000
    /// Bytes of one dataset read into memory.
    public static let maxDatasetBytes = 1 << 36
    /// Rank of one dataset.
    public static let maxRank = 32
}

private func describe(_ typeClass: H5T_class_t) -> String {
    switch typeClass {
    case H5T_INTEGER: return "integer"
    case H5T_FLOAT: return "floating-point"
    case H5T_STRING: return "string"
    case H5T_COMPOUND: return "compound"
    case H5T_OPAQUE: return "opaque"
    case H5T_ENUM: return "enum"
    case H5T_ARRAY: return "array"
    case H5T_VLEN: return "variable-length"
    case H5T_REFERENCE: return "reference"
    default: return "unknown-class"
    }
}

/// A group.
package final class HDF5Group: HDF5Location, @unchecked Sendable {}

// MARK: - Files

/// An open HDF5 file; its root group is the location.
package final class HDF5File: HDF5Location, @unchecked Sendable {
    /// Keeps an in-memory image alive while HDF5 reads it.
    private var image: AnyObject?

    /// Opens `path` read-only; `storage` is its bytes (mapped here when nil), used to check
    /// attributes, strings and group heaps before libhdf5 decodes them.
    package static func open(path: String, storage: ByteStorage? = nil) throws -> HDF5File {
        let precheck = try HDF5Precheck(storage: try storage ?? ByteStorage.map(path: path), file: path)
        return try HDF5Library.serialized {
            let id = H5Fopen(path, chdf5_f_acc_rdonly(), chdf5_p_default())
            if id < 0 {
                let reason = HDF5Library.lastError()
                throw FormatError(.malformed, file: path, "not a readable HDF5 file (\(reason))")
            }
            return HDF5File(handle: HDF5Handle(id, .file), file: path, path: "/", mode: .reading, precheck: precheck)
        }
    }

    /// Opens an HDF5 file held in memory (for example a member of a zip archive), read-only.
    /// HDF5 copies the image; `name` is used in error messages.
    package static func open(image storage: ByteStorage, name: String) throws -> HDF5File {
        let image = storage.bytes
        guard image.count > 0 else { throw FormatError(.malformed, file: name, "empty HDF5 image") }
        let precheck = try HDF5Precheck(storage: storage, file: name)
        return try HDF5Library.serialized {
            guard let base = image.baseAddress else { throw FormatError(.malformed, file: name, "empty HDF5 image") }
            let access = HDF5Handle(H5Pcreate(chdf5_p_file_access()), .propertyList)
            if access.id < 0 { throw FormatError(.malformed, file: name, "cannot make an HDF5 property list: \(HDF5Library.lastError())") }
            if H5Pset_fapl_core(access.id, 1 << 20, false) < 0 || H5Pset_file_image(access.id, UnsafeMutableRawPointer(mutating: base), image.count) < 0 {
                throw FormatError(.malformed, file: name, "cannot open the HDF5 image: \(HDF5Library.lastError())")
            }
            let id = H5Fopen(name, chdf5_f_acc_rdonly(), access.id)
            if id < 0 {
                throw FormatError(.malformed, file: name, "not a readable HDF5 file (\(HDF5Library.lastError()))")
            }
            return HDF5File(handle: HDF5Handle(id, .file), file: name, path: "/", mode: .reading, precheck: precheck)
        }
    }

    /// Creates (truncating) an HDF5 file at `path` for writing; errors name `reportedPath`.
    package static func create(path: String, reportedPath: String) throws -> HDF5File {
        try HDF5Library.serialized {
            let id = H5Fcreate(path, chdf5_f_acc_trunc(), chdf5_p_default(), chdf5_p_default())
            if id < 0 { throw IOError(path: reportedPath, "cannot create the HDF5 file: \(HDF5Library.lastError())") }
            return HDF5File(handle: HDF5Handle(id, .file), file: reportedPath, path: "/", mode: .writing, precheck: nil)
        }
    }

    /// Flushes everything written to disk (the handle closes when released).
    package func flush() throws {
        try HDF5Library.serialized {
            _ = try check(H5Fflush(id, H5F_SCOPE_GLOBAL), "flushing the file")
        }
    }
}

/// True when `bytes` start with the HDF5 signature at offset 0 or at a user-block offset (512, 1024, ...).
public func looksLikeHDF5(_ bytes: UnsafeRawBufferPointer) -> Bool {
    hdf5SuperblockOffset(bytes) != nil
}

/// Where the superblock (the HDF5 signature) starts: 0, or after a user block of 512, 1024, ... bytes.
func hdf5SuperblockOffset(_ bytes: UnsafeRawBufferPointer) -> Int? {
    let file = ByteCursor(bytes, label: "HDF5 signature")
    var offset = 0
    while offset + hdf5Signature.count <= bytes.count {
        if file.hasSignature(hdf5Signature, at: offset) { return offset }
        offset = offset == 0 ? 512 : offset * 2
    }
    return nil
}

// MARK: - Datasets

/// A dataset: shape, element type, where its bytes are, reading and writing.
package final class HDF5Dataset: HDF5Location, @unchecked Sendable {
    /// Element type and where a dataset's bytes lie in the file.
    package struct Layout {
        package var shape: [Int]
        package var dtype: DType
        package var byteOrder: Tensor.ByteOrder
        /// File offset of the bytes when they are stored contiguously, unfiltered and allocated.
        package var contiguousOffset: Int?
    }

    /// Shape, element type and storage of the dataset; errors name the dataset.
    package func layout() throws -> Layout {
        try HDF5Library.serialized {
            let space = HDF5Handle(try check(H5Dget_space(id), "reading the dataset shape"), .dataspace)
            let rank = try check(H5Sget_simple_extent_ndims(space.id), "reading the dataset shape")
            guard rank <= HDF5Limits.maxRank else {
                throw FormatError(.limit, file: file, location: path, "rank \(rank) exceeds the limit \(HDF5Limits.maxRank)")
            }
            var dims = [hsize_t](repeating: 0, count: Int(rank))
            try check(H5Sget_simple_extent_dims(space.id, &dims, nil), "reading the dataset shape")
            var shape: [Int] = []
            for dim in dims {
                guard dim <= hsize_t(Int.max) else { throw FormatError(.limit, file: file, location: path, "dimension \(dim) too large") }
                shape.append(Int(dim))
            }
            let type = HDF5Handle(try check(H5Dget_type(id), "reading the dataset type"), .datatype)
            let typeClass = H5Tget_class(type.id)
            let size = H5Tget_size(type.id)
            let order = H5Tget_order(type.id)
            let bfloat16 = (try? stringAttribute("dtype")) == "bfloat16"
            let dtype: DType
            switch (typeClass, size) {
            case (H5T_FLOAT, 8): dtype = .float64
            case (H5T_FLOAT, 4): dtype = .float32
            case (H5T_FLOAT, 2): dtype = .float16
            case (_, 2) where bfloat16: dtype = .bfloat16
            case (H5T_INTEGER, _):
                let signed = H5Tget_sign(type.id) == H5T_SGN_2
                switch (size, signed) {
                case (8, true): dtype = .int64
                case (4, true): dtype = .int32
                case (2, true): dtype = .int16
                case (1, true): dtype = .int8
                case (1, false): dtype = .uint8
                default:
                    throw FormatError(.unsupported, file: file, location: path, "unsupported element type: \(signed ? "signed" : "unsigned") \(size * 8)-bit integer")
                }
            default:
                throw FormatError(.unsupported, file: file, location: path, "unsupported element type: \(describe(typeClass)) of \(size) bytes")
            }
            if dtype == .float16 || dtype == .float32 || dtype == .float64 {
                // Only IEEE layouts can be viewed or converted as such.
                let ieee = H5Tget_ebias(type.id) == (dtype == .float16 ? 15 : dtype == .float32 ? 127 : 1023)
                guard ieee else { throw FormatError(.unsupported, file: file, location: path, "non-IEEE floating-point layout") }
            }
            let byteOrder: Tensor.ByteOrder = order == H5T_ORDER_BE ? .big : .little
            let count = try checkedElementCount(shape, what: path)
            let bytes = try checkedMultiply(count, dtype.size, what: path)
            var offset: Int?
            let creation = HDF5Handle(try check(H5Dget_create_plist(id), "reading the dataset storage"), .propertyList)
            if H5Pget_layout(creation.id) == H5D_CONTIGUOUS, H5Pget_nfilters(creation.id) == 0, bytes > 0 {
                let address = H5Dget_offset(id)
                if address != chdf5_haddr_undef(), address <= haddr_t(Int.max),
                    H5Dget_storage_size(id) == hsize_t(bytes), order == H5T_ORDER_LE || order == H5T_ORDER_BE
                {
                    offset = Int(address)
                }
                _ = HDF5Library.lastError()
            }
            return Layout(shape: shape, dtype: dtype, byteOrder: byteOrder, contiguousOffset: offset)
        }
    }

    /// Reads the whole dataset into new memory as little-endian `layout.dtype`.
    package func readAll(_ layout: Layout) throws -> Tensor {
        try HDF5Library.serialized {
            let count = try checkedElementCount(layout.shape, what: path)
            let bytes = try checkedMultiply(count, layout.dtype.size, what: path)
            guard bytes <= HDF5Limits.maxDatasetBytes else {
                throw FormatError(.limit, file: file, location: path, "dataset of \(bytes) bytes exceeds the limit \(HDF5Limits.maxDatasetBytes)")
            }
            try withFileContext(file) { try AllocationBudget.charge(bytes, what: path) }
            let (storage, buffer) = ByteStorage.zeroed(count: bytes)
            if bytes > 0 {
                let memoryType: HDF5Handle
                switch layout.dtype {
                case .float32: memoryType = HDF5Handle(H5Tcopy(chdf5_t_native_float()), .datatype)
                case .float64: memoryType = HDF5Handle(H5Tcopy(chdf5_t_native_double()), .datatype)
                case .int8: memoryType = HDF5Handle(H5Tcopy(chdf5_t_native_int8()), .datatype)
                case .uint8, .bool: memoryType = HDF5Handle(H5Tcopy(chdf5_t_native_uint8()), .datatype)
                case .int16: memoryType = HDF5Handle(H5Tcopy(chdf5_t_native_int16()), .datatype)
                case .int32: memoryType = HDF5Handle(H5Tcopy(chdf5_t_native_int32()), .datatype)
                case .int64: memoryType = HDF5Handle(H5Tcopy(chdf5_t_native_int64()), .datatype)
                case .float16, .bfloat16:
                    // 16-bit floats: read the file's bits, little-endian (HDF5 swaps a big-endian float16).
                    let fileType = HDF5Handle(try check(H5Dget_type(id), "reading the dataset type"), .datatype)
                    memoryType = HDF5Handle(H5Tcopy(fileType.id), .datatype)
                    if layout.dtype == .float16 { _ = H5Tset_order(memoryType.id, H5T_ORDER_LE) }
                }
                try check(memoryType.id, "making a memory type")
                try check(
                    H5Dread(id, memoryType.id, chdf5_s_all(), chdf5_s_all(), chdf5_p_default(), buffer.baseAddress),
                    "reading the dataset")
            }
            return try Tensor(storage: storage, dtype: layout.dtype, shape: layout.shape, name: path)
        }
    }

    /// The HDF5 file type written for `dtype` (little-endian IEEE floats, standard integers).
    static func fileType(for dtype: DType, at location: String, file: String) throws -> HDF5Handle {
        let id: hid_t
        switch dtype {
        case .float32: id = H5Tcopy(chdf5_t_ieee_f32le())
        case .float64: id = H5Tcopy(chdf5_t_ieee_f64le())
        case .float16:
            // IEEE binary16, as numpy/h5py write float16: 1 sign, 5 exponent, 10 mantissa bits, bias 15.
            id = H5Tcopy(chdf5_t_ieee_f32le())
            if id >= 0 {
                let ok =
                    H5Tset_fields(id, 15, 10, 5, 0, 10) >= 0 && H5Tset_size(id, 2) >= 0
                    && H5Tset_precision(id, 16) >= 0 && H5Tset_ebias(id, 15) >= 0
                if !ok {
                    H5Tclose(id)
                    return HDF5Handle(-1, .datatype)
                }
            }
        default:
            throw IOError(path: file, "HDF5 \(location): writing \(dtype.name) is not supported (float16, float32, float64 are)")
        }
        if id < 0 { throw IOError(path: file, "HDF5 \(location): cannot make the element type: \(HDF5Library.lastError())") }
        return HDF5Handle(id, .datatype)
    }

    /// Writes `tensor` (same shape as the dataset) converted to `dtype`, streaming rows of the
    /// first axis so a transposed view is never materialised whole.
    package func write(_ tensor: Tensor, as dtype: DType) throws {
        try HDF5Library.serialized {
            let memoryType = try HDF5Dataset.fileType(for: dtype, at: path, file: file)
            let shape = tensor.shape
            if shape.isEmpty || tensor.count == 0 {
                if tensor.count == 0 { return }
                try tensor.withContiguousBytes(as: dtype) { bytes in
                    _ = try check(H5Dwrite(id, memoryType.id, chdf5_s_all(), chdf5_s_all(), chdf5_p_default(), bytes.baseAddress), "writing the dataset")
                }
                return
            }
            let fileSpace = HDF5Handle(try check(H5Dget_space(id), "reading the dataset shape"), .dataspace)
            let rowElements = tensor.count / shape[0]
            var row = 0
            try tensor.forEachChunk(as: dtype) { chunk in
                let rows = chunk.count / (rowElements * dtype.size)
                var start = [hsize_t](repeating: 0, count: shape.count)
                start[0] = hsize_t(row)
                var count = shape.map { hsize_t($0) }
                count[0] = hsize_t(rows)
                try check(H5Sselect_hyperslab(fileSpace.id, H5S_SELECT_SET, &start, nil, &count, nil), "selecting rows")
                let memorySpace = HDF5Handle(try check(H5Screate_simple(Int32(shape.count), &count, nil), "making a dataspace"), .dataspace)
                try check(H5Dwrite(id, memoryType.id, memorySpace.id, fileSpace.id, chdf5_p_default(), chunk.baseAddress), "writing the dataset")
                row += rows
            }
        }
    }
}
