import AlexConvCore
import AlexConvPickle
import AlexConvZip
import Foundation

// MARK: - .npz reader

/// Reads `.npz` archives (`np.savez` stored, `np.savez_compressed` deflated, zip64): one tensor per
/// `key.npy` member, named `key` (`conv1_W`, `conv1/weights`, `conv1.weight`, anything), in the
/// members' own layout. Stored members are zero-copy views of the memory map. Layout: left to the
/// recognizer (keys alone do not say it).
public enum NPZReader: WeightFileReader {
    public static let formatName = "npz"
    static let memberExtension = ".npy"

    public static func matches(path: String, prefix: UnsafeRawBufferPointer) -> Bool {
        path.lowercased().hasSuffix(".npz") && ZipArchive.looksLike(prefix)
    }

    public static func read(path: String) throws -> TensorBundle {
        try withFileContext(path) {
            let archive = try ZipArchive(path: path)
            var tensors: [NamedTensor] = []
            var notes: [String] = []
            var compressions = Set<String>()
            for entry in archive.entries {
                guard entry.name.hasSuffix(memberExtension) else {
                    notes.append("ignored archive member '\(entry.name)' (not .npy)")
                    continue
                }
                let key = String(entry.name.dropLast(memberExtension.count))
                compressions.insert(entry.compression == .stored ? "stored" : "deflated")
                let storage = try archive.bytes(of: entry)
                do {
                    let header = try NpyHeader.parse(storage.bytes)
                    switch header.elementType {
                    case .numeric:
                        tensors.append(NamedTensor(key, try NumPyReader.array(storage: storage, header: header, name: key)))
                    case .object:
                        let member = try NumPyReader.bundle(storage: storage, path: key + memberExtension)
                        for tensor in member.tensors { tensors.append(NamedTensor(key + "/" + tensor.name, tensor.tensor)) }
                        notes += member.notes
                    }
                } catch var error as FormatError {
                    if error.location == nil { error.location = "member '\(entry.name)'" } else { error.location = "member '\(entry.name)': " + error.location! }
                    throw error
                }
            }
            guard !tensors.isEmpty else { throw FormatError(.malformed, "npz archive holds no .npy members") }
            let kind = compressions.sorted().joined(separator: "+")
            return TensorBundle(path: path, format: "npz (\(kind))", tensors: tensors, notes: notes)
        }
    }
}
