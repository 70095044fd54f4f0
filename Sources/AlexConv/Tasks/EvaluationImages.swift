import AlexConvCore
import AlexConvImages
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// MARK: - The images of an evaluation and their labels

/// One image of an evaluation: its path relative to the image folder and, when labelled, its class.
public struct LabelledImage: Codable, Equatable, Sendable {
    /// Path relative to the image folder, `/`-separated.
    public var path: String
    /// Class index (from 0) in the model's class order; nil for unlabelled images (`compare`).
    public var label: Int?

    /// An image at `path` (relative to the folder) of class `label`.
    public init(path: String, label: Int?) {
        self.path = path
        self.label = label
    }
}

/// Where an evaluation's labels come from.
public enum LabelSource: String, Codable, Sendable {
    /// ImageNet-style synset folders (`n01440764/*.JPEG`), classes through the 1000 ILSVRC synset ids.
    case synsetFolders = "synset-folders"
    /// torchvision ImageFolder: one folder per class, classes numbered in sorted folder-name order.
    case imageFolder = "image-folder"
    /// Caffe's `val.txt`: `FILE LABEL` per line.
    case caffeList = "caffe-list"
    /// A CSV of `file,label` (optional header; labels as class indices or synset ids).
    case csv
    /// No labels (`compare`): every image under the folder.
    case unlabelled
}

/// The images of an evaluation, in evaluation order, with where their labels came from.
public struct ImageSet: Sendable {
    /// The image folder (as given).
    public var root: String
    /// The images, in evaluation order (label-file order, or sorted paths).
    public var images: [LabelledImage]
    /// Where the labels came from.
    public var source: LabelSource
    /// The label file, for `.caffeList` and `.csv`.
    public var labelFile: String?
    /// Class names from the folders (`.imageFolder`), index = class.
    public var folderClasses: [String]?
    /// What a user should know about the set (empty class folders, fewer classes than the model's).
    public var notes: [String] = []

    /// The absolute-or-as-given path of image `image`.
    public func path(of image: LabelledImage) -> String { root + "/" + image.path }

    /// One phrase for reports: "ImageFolder: 10 class folders (sorted)", "Caffe list val.txt", ...
    public var sourceDescription: String {
        switch source {
        case .synsetFolders: return "synset folders mapped through the ILSVRC-2012 synset ids"
        case .imageFolder: return "ImageFolder: \(folderClasses?.count ?? 0) class folders, numbered in sorted order"
        case .caffeList: return "Caffe list \(labelFile ?? "")"
        case .csv: return "CSV \(labelFile ?? "")"
        case .unlabelled: return "no labels"
        }
    }

    /// The name of class `index` for people: the folder name (ImageFolder), the ImageNet name and
    /// synset (1000 classes), else `class <index>`.
    public func className(_ index: Int, classes: Int) -> String {
        if let folders = folderClasses, folders.indices.contains(index) { return folders[index] }
        if classes == ImageNetClasses.names.count, ImageNetClasses.names.indices.contains(index) {
            return "\(ImageNetClasses.names[index]) (\(ImageNetClasses.synsets[index]))"
        }
        return "class \(index)"
    }
}

/// Finds the images of a folder and reads their labels (synset folders, ImageFolder, Caffe
/// `val.txt`, CSV), with every size bounded and every problem named by file and line.
public enum ImageSetLoader {
    /// Image file extensions listed (torchvision's `IMG_EXTENSIONS`, any case). Files alexconv
    /// cannot decode (BMP, TIFF, WebP) are listed too and then counted as unreadable, so the
    /// denominator is the one torchvision would use.
    public static let imageExtensions: Set<String> = ["jpg", "jpeg", "png", "ppm", "bmp", "pgm", "tif", "tiff", "webp"]
    /// Most images in one evaluation.
    public static let maxImages = 20_000_000
    /// Deepest folder nesting walked.
    public static let maxDepth = 64
    /// Largest label file read.
    public static let maxLabelFileBytes = 1 << 30
    /// Longest line of a label file.
    public static let maxLineBytes = 1 << 16

    /// The labelled images under `root` for a model of `classes` classes: from `labels` (a Caffe
    /// `val.txt` or a CSV, paths relative to `root`) when given, else from the class folders
    /// (synset ids when the model has 1000 classes and every folder is one, else ImageFolder).
    public static func labelled(root: String, labels: String?, classes: Int) throws -> ImageSet {
        try checkDirectory(root)
        if let labels { return try LabelFile.read(path: labels, root: root, classes: classes) }
        return try classFolders(root: root, classes: classes)
    }

    /// Every image under `root` (recursively, symbolic links followed once), sorted by path (code
    /// points, as Python sorts), unlabelled.
    public static func unlabelled(root: String) throws -> ImageSet {
        try checkDirectory(root)
        var walker = FolderWalker()
        let paths = try walker.images(under: root, relative: "")
        guard !paths.isEmpty else { throw FormatError(.malformed, file: root, "no images (\(imageExtensionList)) under this folder") }
        return ImageSet(root: root, images: paths.map { LabelledImage(path: $0, label: nil) }, source: .unlabelled)
    }

    static var imageExtensionList: String { imageExtensions.sorted().map { "." + $0 }.joined(separator: ", ") }

    static func checkDirectory(_ root: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory) else {
            throw IOError(path: root, "no such folder")
        }
        guard isDirectory.boolValue else { throw UsageError("\(root): is not a folder; give the folder that holds the images") }
    }

    /// Synset folders or ImageFolder.
    static func classFolders(root: String, classes: Int) throws -> ImageSet {
        var walker = FolderWalker()
        let folders = try walker.subfolders(of: root)
        guard !folders.isEmpty else {
            throw UsageError("\(root): has no class folders; give the labels of its images with a label file (Caffe val.txt or a CSV of file,label)")
        }
        var notes: [String] = []
        let looksLikeSynsets = folders.allSatisfy(isSynsetId)
        var images: [LabelledImage] = []
        var folderClasses: [String]?
        let source: LabelSource
        if looksLikeSynsets && classes == ImageNetClasses.synsets.count {
            source = .synsetFolders
            for folder in folders {
                guard let index = synsetIndex[folder] else {
                    throw FormatError(.malformed, file: root + "/" + folder, "folder named like a WordNet id is not one of the 1000 ILSVRC-2012 synsets")
                }
                let paths = try walker.images(under: root + "/" + folder, relative: folder + "/")
                if paths.isEmpty { notes.append("folder \(folder) holds no images") }
                images += paths.map { LabelledImage(path: $0, label: index) }
                try checkCount(images.count, root)
            }
        } else {
            source = .imageFolder
            guard folders.count <= classes else {
                throw FormatError(.malformed, file: root, "\(folders.count) class folders, but the model has \(classes) classes (ImageFolder numbers folders in sorted order)")
            }
            if looksLikeSynsets {
                notes.append("folders are named like ILSVRC synsets but the model has \(classes) classes, not 1000: numbered as ImageFolder (sorted)")
            }
            if folders.count < classes {
                notes.append("\(folders.count) class folders for a \(classes)-class model: folder i (sorted) is class i")
            }
            for (index, folder) in folders.enumerated() {
                let paths = try walker.images(under: root + "/" + folder, relative: folder + "/")
                if paths.isEmpty { notes.append("folder \(folder) holds no images") }
                images += paths.map { LabelledImage(path: $0, label: index) }
                try checkCount(images.count, root)
            }
            folderClasses = folders
        }
        guard !images.isEmpty else { throw FormatError(.malformed, file: root, "no images (\(imageExtensionList)) in its class folders") }
        return ImageSet(root: root, images: images, source: source, labelFile: nil, folderClasses: folderClasses, notes: notes)
    }

    static func checkCount(_ count: Int, _ root: String) throws {
        if count > maxImages { throw FormatError(.limit, file: root, "more than \(maxImages) images") }
    }

    /// `n` followed by eight digits.
    static func isSynsetId(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        return bytes.count == 9 && bytes[0] == UInt8(ascii: "n") && bytes.dropFirst().allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
    }

    static let synsetIndex: [String: Int] = Dictionary(uniqueKeysWithValues: ImageNetClasses.synsets.enumerated().map { ($1, $0) })

    /// Python's string order: by Unicode code points.
    static func codePointOrder(_ a: String, _ b: String) -> Bool {
        a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars) { $0.value < $1.value }
    }
}

/// Walks folders as `os.walk(followlinks=True)` does, once per real folder (a link loop ends).
struct FolderWalker {
    private var visited = Set<[UInt64]>()

    /// The folder names directly inside `root` (links to folders included), sorted by code points.
    mutating func subfolders(of root: String) throws -> [String] {
        let names = try entries(root)
        return names.filter { isDirectory(root + "/" + $0) }.sorted(by: ImageSetLoader.codePointOrder)
    }

    /// Every image file under `folder`, as `relative` + its path below `folder`; sorted as
    /// torchvision's `make_dataset` walks (sorted folders, sorted names).
    mutating func images(under folder: String, relative: String, depth: Int = 0) throws -> [String] {
        guard depth <= ImageSetLoader.maxDepth else {
            throw FormatError(.limit, file: folder, "folders nested deeper than \(ImageSetLoader.maxDepth) levels")
        }
        guard let key = identity(folder), visited.insert(key).inserted else { return [] }
        let names = try entries(folder).sorted(by: ImageSetLoader.codePointOrder)
        var files: [String] = []
        var folders: [String] = []
        for name in names {
            let path = folder + "/" + name
            if isDirectory(path) {
                folders.append(name)
            } else if let dot = name.lastIndex(of: "."), ImageSetLoader.imageExtensions.contains(name[name.index(after: dot)...].lowercased()) {
                files.append(relative + name)
            }
        }
        var result = files
        for name in folders {
            result += try images(under: folder + "/" + name, relative: relative + name + "/", depth: depth + 1)
            try ImageSetLoader.checkCount(result.count, folder)
        }
        return result
    }

    private func entries(_ folder: String) throws -> [String] {
        do {
            return try FileManager.default.contentsOfDirectory(atPath: folder)
        } catch {
            throw IOError(path: folder, "cannot list the folder: \((error as NSError).localizedDescription)")
        }
    }

    private func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    private func identity(_ path: String) -> [UInt64]? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return [UInt64(info.st_dev), UInt64(info.st_ino)]
    }
}

// MARK: - Label files

/// Caffe's `val.txt` (`ILSVRC2012_val_00000001.JPEG 65`: a path, whitespace, a class index; the
/// path may hold spaces, the label is after the last one) and CSV (`file,label`, RFC 4180 quoting,
/// an optional header naming the columns; labels as class indices or, for 1000-class models,
/// ILSVRC synset ids). Blank lines and lines starting with `#` are skipped.
public enum LabelFile {
    /// Reads `path` (format from the extension `.csv`, else from the first line), checking every
    /// entry: a relative path inside `root` named once, a label below `classes`.
    public static func read(path: String, root: String, classes: Int) throws -> ImageSet {
        try parse(try readSmallFile(path, what: "label file", limit: ImageSetLoader.maxLabelFileBytes), path: path, root: root, classes: classes)
    }

    /// Parses label file bytes as `read(path:root:classes:)` does (`path` names the file in errors
    /// and, by its extension, picks CSV).
    public static func parse(_ data: Data, path: String, root: String, classes: Int) throws -> ImageSet {
        let text = try decodeUTF8(data, path: path)
        let isCSV = path.lowercased().hasSuffix(".csv") || firstDataLine(text)?.contains(",") == true
        let images = try isCSV ? parseCSV(text, file: path, classes: classes) : parseCaffeList(text, file: path, classes: classes)
        guard !images.isEmpty else { throw FormatError(.malformed, file: path, "no labelled images in the label file") }
        return ImageSet(root: root, images: images, source: isCSV ? .csv : .caffeList, labelFile: path)
    }

    /// The text of `data`, or an error naming the line of the first byte that is not UTF-8.
    static func decodeUTF8(_ data: Data, path: String) throws -> String {
        if let text = String(data: data, encoding: .utf8) { return text }
        var iterator = data.makeIterator()
        var decoder = UTF8()
        var line = 1
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar): if scalar == "\n" { line += 1 }
            case .emptyInput: return String(decoding: data, as: UTF8.self)
            case .error: throw FormatError(.malformed, file: path, location: "line \(line)", "not UTF-8 text")
            }
        }
    }

    static func firstDataLine(_ text: String) -> String? {
        for line in text.utf8.split(separator: 0x0A) {
            let trimmed = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if !trimmed.isEmpty && !trimmed.hasPrefix("#") { return trimmed }
        }
        return nil
    }

    /// Lines of `text` with their numbers (from 1), `\r\n` or `\n` ended, each bounded in length.
    static func lines(_ text: String, file: String) throws -> [(Int, String)] {
        var result: [(Int, String)] = []
        var number = 0
        for line in text.utf8.split(separator: 0x0A, omittingEmptySubsequences: false) {
            number += 1
            guard line.count <= ImageSetLoader.maxLineBytes else {
                throw FormatError(.limit, file: file, location: "line \(number)", "line of \(line.count) bytes exceeds the limit of \(ImageSetLoader.maxLineBytes)")
            }
            let body = line.last == 0x0D ? line.dropLast() : line[...]
            result.append((number, String(decoding: body, as: UTF8.self)))
            if result.count > ImageSetLoader.maxImages {
                throw FormatError(.limit, file: file, "more than \(ImageSetLoader.maxImages) lines")
            }
        }
        return result
    }

    static func parseCaffeList(_ text: String, file: String, classes: Int) throws -> [LabelledImage] {
        var images: [LabelledImage] = []
        var seen: [String: Int] = [:]
        for (number, line) in try lines(text, file: file) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            guard let split = trimmed.lastIndex(where: { $0 == " " || $0 == "\t" }) else {
                throw FormatError(.malformed, file: file, location: "line \(number)", "expected 'FILE LABEL' (an image path, a space, a class index), found '\(clip(trimmed))'")
            }
            let name = trimmed[..<split].trimmingCharacters(in: .whitespaces)
            let labelText = String(trimmed[trimmed.index(after: split)...])
            let label = try parseLabel(labelText, file: file, line: number, classes: classes)
            let path = try checkedPath(name, file: file, line: number)
            if let first = seen[path] {
                throw FormatError(.malformed, file: file, location: "line \(number)", "'\(clip(path))' is listed again (first on line \(first))")
            }
            seen[path] = number
            images.append(LabelledImage(path: path, label: label))
        }
        return images
    }

    static func parseCSV(_ text: String, file: String, classes: Int) throws -> [LabelledImage] {
        var images: [LabelledImage] = []
        var seen: [String: Int] = [:]
        var fileColumn = 0
        var labelColumn = 1
        var first = true
        for (number, line) in try lines(text, file: file) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            let fields = try csvFields(line, file: file, line: number)
            if first {
                first = false
                // A header: its label field is no label. Columns are found by name.
                if fields.count >= 2, (try? parseLabel(fields[1], file: file, line: number, classes: classes)) == nil {
                    let names = fields.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
                    guard let f = names.firstIndex(where: { ["file", "filename", "file_name", "image", "path", "name", "img"].contains($0) }),
                        let l = names.firstIndex(where: { ["label", "class", "target", "class_index", "label_index", "synset", "category"].contains($0) })
                    else {
                        throw FormatError(
                            .malformed, file: file, location: "line \(number)",
                            "the first row is neither FILE,LABEL nor a header naming a file column (file, image, path) and a label column (label, class, target)")
                    }
                    fileColumn = f
                    labelColumn = l
                    continue
                }
            }
            guard fields.count > max(fileColumn, labelColumn) else {
                throw FormatError(.malformed, file: file, location: "line \(number)", "expected \(max(fileColumn, labelColumn) + 1) comma-separated fields (file,label), found \(fields.count)")
            }
            let label = try parseLabel(fields[labelColumn], file: file, line: number, classes: classes)
            let path = try checkedPath(fields[fileColumn].trimmingCharacters(in: .whitespaces), file: file, line: number)
            if let first = seen[path] {
                throw FormatError(.malformed, file: file, location: "line \(number)", "'\(clip(path))' is listed again (first on line \(first))")
            }
            seen[path] = number
            images.append(LabelledImage(path: path, label: label))
        }
        return images
    }

    /// The fields of one CSV record (RFC 4180: `"` quotes, `""` inside quotes; no newlines inside fields).
    static func csvFields(_ line: String, file: String, line number: Int) throws -> [String] {
        var fields: [String] = []
        var field = ""
        var quoted = false
        var wasQuoted = false
        var iterator = Array(line.unicodeScalars).makeIterator()
        var pending: Unicode.Scalar? = nil
        func nextScalar() -> Unicode.Scalar? {
            if let p = pending {
                pending = nil
                return p
            }
            return iterator.next()
        }
        while let c = nextScalar() {
            if quoted {
                if c == "\"" {
                    if let n = nextScalar() {
                        if n == "\"" {
                            field.unicodeScalars.append("\"")
                        } else {
                            quoted = false
                            pending = n
                        }
                    } else {
                        quoted = false
                    }
                } else {
                    field.unicodeScalars.append(c)
                }
            } else if c == "," {
                fields.append(field)
                field = ""
                wasQuoted = false
            } else if c == "\"" && field.trimmingCharacters(in: .whitespaces).isEmpty && !wasQuoted {
                field = ""
                quoted = true
                wasQuoted = true
            } else {
                field.unicodeScalars.append(c)
            }
        }
        guard !quoted else { throw FormatError(.malformed, file: file, location: "line \(number)", "a quoted field is not closed") }
        fields.append(field)
        return fields
    }

    /// A class index below `classes`, or an ILSVRC synset id when the model has 1000 classes.
    static func parseLabel(_ text: String, file: String, line: Int, classes: Int) throws -> Int {
        let value = text.trimmingCharacters(in: .whitespaces)
        if let index = Int(value) {
            guard index >= 0, index < classes else {
                throw FormatError(.malformed, file: file, location: "line \(line)", "label \(index) is outside the model's \(classes) classes (0...\(classes - 1))")
            }
            return index
        }
        if ImageSetLoader.isSynsetId(value) {
            guard classes == ImageNetClasses.synsets.count else {
                throw FormatError(.malformed, file: file, location: "line \(line)", "label '\(value)' is an ILSVRC synset id, but the model has \(classes) classes, not 1000")
            }
            guard let index = ImageSetLoader.synsetIndex[value] else {
                throw FormatError(.malformed, file: file, location: "line \(line)", "label '\(value)' is not one of the 1000 ILSVRC-2012 synsets")
            }
            return index
        }
        throw FormatError(.malformed, file: file, location: "line \(line)", "label '\(clip(value))' is not a class index\(classes == 1000 ? " or an ILSVRC synset id" : "")")
    }

    /// A relative path inside the image folder (no absolute paths, no `..`), `./` removed.
    static func checkedPath(_ name: String, file: String, line: Int) throws -> String {
        guard !name.isEmpty else { throw FormatError(.malformed, file: file, location: "line \(line)", "empty image path") }
        guard !name.hasPrefix("/") else {
            throw FormatError(.malformed, file: file, location: "line \(line)", "'\(clip(name))' is an absolute path; paths are relative to the image folder")
        }
        guard !name.unicodeScalars.contains(where: { $0.value < 0x20 }) else {
            throw FormatError(.malformed, file: file, location: "line \(line)", "the image path holds control characters")
        }
        let parts = name.split(separator: "/", omittingEmptySubsequences: true).filter { $0 != "." }
        guard !parts.contains("..") else {
            throw FormatError(.malformed, file: file, location: "line \(line)", "'\(clip(name))' leaves the image folder (..)")
        }
        guard !parts.isEmpty else { throw FormatError(.malformed, file: file, location: "line \(line)", "empty image path") }
        return parts.joined(separator: "/")
    }

    static func clip(_ text: String) -> String {
        let line = oneLine(text)
        return line.count > 80 ? String(line.prefix(77)) + "..." : line
    }
}
