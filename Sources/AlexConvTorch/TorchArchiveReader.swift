import AlexConvCore
import AlexConvPickle
import AlexConvZip
import Foundation

// MARK: - Reader

/// Reads `torch.save` files: zip archives (torch >= 1.6) and the legacy pre-1.6 stream format.
///
/// The pickle is interpreted as data with `TorchGlobals.allowed` (torch's `weights_only`
/// allow-list); storages are zero-copy views of the file's memory map, and every tensor is a
/// strided view into its storage (offsets, strides and shared storages as torch saved them).
/// Checkpoints are unwrapped (`state_dict`, `model_state_dict`, `model`, `net`), the
/// DataParallel `module.` prefix is stripped, and other checkpoint entries are listed in
/// `bundle.notes`. Tensors keep torch's layout: conv (out, in/groups, kh, kw), linear (out, in).
public enum TorchArchiveReader: WeightFileReader {
    public static let formatName = "pth"

    /// Checkpoint keys that hold the model's state dict, in the order they are tried.
    public static let stateDictKeys = ["state_dict", "model_state_dict", "model", "net", "network", "module", "weights"]
    /// Deepest nesting of checkpoint dicts followed when looking for the state dict.
    static let maxCheckpointNesting = 4
    /// The legacy format's first pickle: this integer, as LONG1 little-endian bytes.
    static let legacyMagic: [UInt8] = [0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]
    static let legacyProtocolVersion = 1001

    public static func matches(path: String, prefix: UnsafeRawBufferPointer) -> Bool {
        if isLegacy(prefix) { return true }
        guard ZipArchive.looksLike(prefix) else { return false }
        // A zip whose first entry is `<folder>/data.pkl` (torch writes it first), or a torch extension.
        let lower = path.lowercased()
        if [".pth", ".pt", ".bin", ".ckpt", ".tar"].contains(where: { lower.hasSuffix($0) }) { return true }
        let header = ByteCursor(prefix, label: "zip local header")
        guard let nameLength = try? header.integer(UInt16.self, at: 26, what: "name length"),
            let nameBytes = try? header.slice(at: 30, count: Int(nameLength), what: "name")
        else { return false }
        let name = String(decoding: nameBytes, as: UTF8.self)
        return name.hasSuffix("/data.pkl") || name == "data.pkl"
    }

    /// True when `prefix` starts with the legacy format's magic-number pickle.
    static func isLegacy(_ prefix: UnsafeRawBufferPointer) -> Bool {
        let head: [UInt8] = [0x80, 0x02, 0x8A, 0x0A] + legacyMagic
        return prefix.count >= head.count && prefix.prefix(head.count).elementsEqual(head)
    }

    public static func read(path: String) throws -> TensorBundle {
        let storage = try ByteStorage.map(path: path)
        return try read(storage: storage, path: path)
    }

    /// Reads torch.save bytes held by `storage`; errors name `path`.
    public static func read(storage: ByteStorage, path: String) throws -> TensorBundle {
        try withFileContext(path) {
            let loaded: LoadedPickle
            if isLegacy(storage.bytes) {
                loaded = try readLegacy(storage: storage, path: path)
            } else if ZipArchive.looksLike(storage.bytes) {
                loaded = try readZip(storage: storage, path: path)
            } else {
                throw FormatError(.malformed, "not a torch.save file: neither a zip archive nor the legacy format's magic number")
            }
            var notes = loaded.notes
            var metadata = loaded.metadata
            let stateDict = try TorchCheckpoint.stateDict(
                in: loaded.root, resolver: loaded.resolver, notes: &notes,
                metadata: &metadata)
            return TensorBundle(
                path: path, format: loaded.format, tensors: stateDict, layout: .channelsFirst,
                metadata: metadata, notes: notes)
        }
    }

    struct LoadedPickle {
        var root: PickleValue
        var resolver: StorageResolver
        var format: String
        var metadata: [String: String]
        var notes: [String]
    }

    // MARK: - Zip archives

    static func readZip(storage: ByteStorage, path: String) throws -> LoadedPickle {
        let archive = try ZipArchive(storage: storage, path: path)
        // The pickle is `<folder>/data.pkl` for any folder name; take the shallowest.
        let candidates = archive.entries.filter { $0.name == "data.pkl" || $0.name.hasSuffix("/data.pkl") }
        guard let pickleEntry = candidates.min(by: { $0.name.count < $1.name.count }) else {
            if archive.entries.contains(where: { $0.name.hasSuffix(".npy") }) {
                throw FormatError(.malformed, "zip archive holds .npy members but no data.pkl: an npz file, not torch.save")
            }
            throw FormatError(.malformed, "zip archive has no data.pkl entry: not a torch.save file (entries: \(archive.entries.prefix(5).map(\.name).joined(separator: ", ")))")
        }
        let folder = String(pickleEntry.name.dropLast("data.pkl".count))
        if archive[folder + "constants.pkl"] != nil || archive.entries.contains(where: { $0.name.hasPrefix(folder + "code/") }) {
            throw FormatError(.unsupported, "TorchScript archive (torch.jit.save): alexconv reads state dicts; in Python, torch.save(torch.jit.load(path).state_dict(), 'weights.pth')")
        }
        var byteOrder = Tensor.ByteOrder.little
        if let entry = archive[folder + "byteorder"] {
            let text = String(decoding: try archive.bytes(of: entry).bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            switch text {
            case "little": byteOrder = .little
            case "big": byteOrder = .big
            default: throw FormatError(.malformed, location: "zip entry '\(entry.name)'", "byte order '\(text)', expected 'little' or 'big'")
            }
        }
        var metadata: [String: String] = ["torch.archive_folder": String(folder.dropLast())]
        if let entry = archive[folder + "version"] {
            metadata["torch.archive_version"] = String(decoding: try archive.bytes(of: entry).bytes, as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let pickleBytes = try archive.bytes(of: pickleEntry)
        let result = try pickle(pickleBytes, offset: 0, entry: pickleEntry.name)
        let resolver = StorageResolver(byteOrder: byteOrder) { key, dtype, numel, tensorName in
            let name = folder + "data/" + key
            guard let entry = archive[name] else {
                throw FormatError(.malformed, location: "tensor '\(tensorName)'", "its storage '\(key)' is missing from the archive (no entry '\(name)')")
            }
            let bytes = try archive.bytes(of: entry)
            let needed = try checkedMultiply(numel, dtype.size, what: "tensor '\(tensorName)' storage '\(key)'")
            guard bytes.bytes.count >= needed else {
                throw FormatError(
                    .malformed, location: "tensor '\(tensorName)'",
                    "storage entry '\(name)' has \(bytes.bytes.count) bytes, its pickle declares \(numel) \(dtype.name) elements (\(needed) bytes)")
            }
            return bytes
        }
        return LoadedPickle(
            root: result.value, resolver: resolver, format: "pth (torch.save zip archive)",
            metadata: metadata, notes: [])
    }

    /// Reads one pickle, adding torch-specific advice to a refused global.
    static func pickle(_ storage: ByteStorage, offset: Int, entry: String) throws -> PickleResult {
        do {
            return try PickleReader.read(storage: storage, offset: offset, allowedGlobals: TorchGlobals.allowed)
        } catch var error as FormatError {
            error.location = error.location.map { "\(entry) \($0)" } ?? entry
            if error.detail.hasPrefix("refused pickle global") && !error.detail.contains("'torch.") {
                error.detail += ". If this file pickles a whole model (torch.save(model)), save its state dict instead: torch.save(model.state_dict(), path)"
            }
            throw error
        }
    }

    // MARK: - Legacy format (before torch 1.6)

    static func readLegacy(storage: ByteStorage, path: String) throws -> LoadedPickle {
        let magic = try pickle(storage, offset: 0, entry: "magic number")
        guard case .bigInt(let bytes) = magic.value, bytes == legacyMagic else {
            throw FormatError(.malformed, "legacy torch file: bad magic number")
        }
        let version = try pickle(storage, offset: magic.endOffset, entry: "protocol version")
        guard version.value.int == legacyProtocolVersion else {
            throw FormatError(.malformed, "legacy torch file: protocol version \(version.value.kindName) \(version.value.int.map(String.init) ?? ""), expected \(legacyProtocolVersion)")
        }
        let sysInfo = try pickle(storage, offset: version.endOffset, entry: "sys_info")
        var byteOrder = Tensor.ByteOrder.little
        if let info = sysInfo.value.dictEntries,
            let little = info.first(where: { $0.key.text == "little_endian" })?.value.bool, !little
        {
            byteOrder = .big
        }
        let object = try pickle(storage, offset: sysInfo.endOffset, entry: "data")
        let keysPickle = try pickle(storage, offset: object.endOffset, entry: "storage keys")
        guard let keyValues = keysPickle.value.sequence else {
            throw FormatError(.malformed, location: "storage keys", "expected a list of storage keys, found \(keysPickle.value.kindName)")
        }
        let keys = try keyValues.map { value -> String in
            guard let key = value.text else { throw FormatError(.malformed, location: "storage keys", "storage key is \(value.kindName), expected str") }
            return key
        }
        // The storages' dtypes come from the persistent ids in the data pickle.
        var dtypes: [String: DType] = [:]
        try collectLegacyStorageTypes(object.value, into: &dtypes)
        // Then per storage: int64 element count and the raw bytes.
        var table = ByteCursor(storage.bytes, label: "legacy storage table", at: keysPickle.endOffset)
        var blobs: [String: ByteStorage] = [:]
        for key in keys {
            guard let dtype = dtypes[key] else {
                throw FormatError(.corrupted, location: "storage '\(key)'", "listed in the storage table but never used by the data pickle")
            }
            let count = try table.read(Int64.self, what: "storage '\(key)' element count")
            guard count >= 0, count <= Int64(storage.bytes.count) else {
                throw FormatError(.malformed, location: "storage '\(key)'", "element count \(count) is impossible for a file of \(storage.bytes.count) bytes")
            }
            let byteCount = try checkedMultiply(Int(count), dtype.size, what: "storage '\(key)'")
            let data = try table.readBytes(byteCount, what: "storage '\(key)' data")
            blobs[key] = ByteStorage(viewing: data, keepingAlive: storage)
        }
        let position = table.offset
        let resolver = StorageResolver(byteOrder: byteOrder) { key, dtype, numel, tensorName in
            guard let bytes = blobs[key] else {
                throw FormatError(.malformed, location: "tensor '\(tensorName)'", "its storage '\(key)' is missing from the storage table")
            }
            let needed = try checkedMultiply(numel, dtype.size, what: "tensor '\(tensorName)' storage '\(key)'")
            guard bytes.bytes.count >= needed else {
                throw FormatError(
                    .malformed, location: "tensor '\(tensorName)'",
                    "storage '\(key)' has \(bytes.bytes.count) bytes, its pickle declares \(numel) \(dtype.name) elements (\(needed) bytes)")
            }
            return bytes
        }
        var notes: [String] = []
        if position != storage.bytes.count {
            notes.append("\(storage.bytes.count - position) bytes after the last storage were ignored")
        }
        return LoadedPickle(
            root: object.value, resolver: resolver, format: "pth (legacy torch.save format)",
            metadata: [:], notes: notes)
    }

    /// Finds every legacy persistent id (6 fields) and records its root storage's dtype. Shared
    /// containers (memo references) are visited once, so a pickle of nested shared lists cannot
    /// make the walk exponential.
    static func collectLegacyStorageTypes(_ root: PickleValue, into dtypes: inout [String: DType]) throws {
        var pending: [PickleValue] = [root]
        var seen = Set<ObjectIdentifier>()
        func firstVisit(_ object: AnyObject) -> Bool { seen.insert(ObjectIdentifier(object)).inserted }
        while let value = pending.popLast() {
            switch value {
            case .persistentID(let id):
                let ref = try StorageReference(persistentID: id, tensorName: "?")
                if let existing = dtypes[ref.key], existing != ref.dtype {
                    throw FormatError(.corrupted, location: "storage '\(ref.key)'", "used as both \(existing.name) and \(ref.dtype.name)")
                }
                dtypes[ref.key] = ref.dtype
            case .tuple(let items): pending.append(contentsOf: items)
            case .list(let list), .set(let list):
                if firstVisit(list) { pending.append(contentsOf: list.items) }
            case .dict(let dict):
                if firstVisit(dict) {
                    for entry in dict.entries {
                        pending.append(entry.key)
                        pending.append(entry.value)
                    }
                }
            case .object(let object):
                guard firstVisit(object) else { continue }
                pending.append(contentsOf: object.arguments)
                if let state = object.state { pending.append(state) }
                for item in object.items {
                    pending.append(item.key)
                    pending.append(item.value)
                }
                pending.append(contentsOf: object.appended)
            default: break
            }
        }
    }
}

// MARK: - Storages

/// A storage a persistent id names: `('storage', storage_type, key, location, numel[, view_metadata])`.
struct StorageReference {
    var key: String
    var dtype: DType
    /// Elements of `dtype` (bytes for UntypedStorage).
    var numel: Int
    var isUntyped: Bool
    /// Legacy views: (offset in elements into the root storage, view size).
    var view: (key: String, offset: Int, size: Int)?

    init(persistentID: PickleValue, tensorName: String) throws {
        let location = "tensor '\(tensorName)'"
        guard let fields = persistentID.sequence, fields.count >= 5, fields[0].text == "storage" else {
            throw FormatError(.malformed, location: location, "persistent id is not ('storage', type, key, location, numel): \(persistentID.kindName)")
        }
        guard let type = fields[1].global?.description ?? fields[1].text else {
            throw FormatError(.malformed, location: location, "storage type is \(fields[1].kindName), expected a torch storage class")
        }
        guard let dtype = TorchGlobals.storageTypes[type] else {
            throw FormatError(.unsupported, location: location, "storage type '\(type)' is not supported (float32/64/16, bfloat16, int64/32/16/8, uint8, bool)")
        }
        guard let key = fields[2].text ?? fields[2].int.map(String.init) else {
            throw FormatError(.malformed, location: location, "storage key is \(fields[2].kindName), expected str")
        }
        guard let numel = fields[4].int, numel >= 0 else {
            throw FormatError(.malformed, location: location, "storage element count is \(fields[4].kindName), expected a non-negative int")
        }
        self.key = key
        self.dtype = dtype
        self.numel = numel
        self.isUntyped = type == "torch.UntypedStorage"
        if fields.count >= 6, let view = fields[5].sequence {
            guard view.count == 3, let viewKey = view[0].text, let offset = view[1].int, let size = view[2].int,
                offset >= 0, size >= 0
            else {
                throw FormatError(.malformed, location: location, "legacy view metadata is not (key, offset, size)")
            }
            self.view = (viewKey, offset, size)
        }
    }
}

/// Turns storage references into byte views, once per storage key.
final class StorageResolver {
    typealias Fetch = (_ key: String, _ dtype: DType, _ numel: Int, _ tensorName: String) throws -> ByteStorage
    let byteOrder: Tensor.ByteOrder
    private let fetch: Fetch
    private var cache: [String: ByteStorage] = [:]

    init(byteOrder: Tensor.ByteOrder, fetch: @escaping Fetch) {
        self.byteOrder = byteOrder
        self.fetch = fetch
    }

    /// The bytes a tensor's storage reference points at (legacy views sliced from their root).
    func bytes(for reference: StorageReference, tensorName: String) throws -> ByteStorage {
        let root: ByteStorage
        if let cached = cache[reference.key] {
            root = cached
        } else {
            root = try fetch(reference.key, reference.dtype, reference.numel, tensorName)
            cache[reference.key] = root
        }
        guard let view = reference.view else { return root }
        let start = try checkedMultiply(view.offset, reference.dtype.size, what: "tensor '\(tensorName)'")
        let length = try checkedMultiply(view.size, reference.dtype.size, what: "tensor '\(tensorName)'")
        let slice = try ByteCursor(root.bytes, label: "tensor '\(tensorName)'")
            .slice(at: start, count: length, what: "view '\(view.key)' of storage '\(reference.key)'")
        return ByteStorage(viewing: slice, keepingAlive: root)
    }
}
