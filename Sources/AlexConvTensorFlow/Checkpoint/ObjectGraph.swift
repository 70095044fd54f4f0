import AlexConvCore

/// The `TrackableObjectGraph` a TF2 object-based checkpoint carries under `_CHECKPOINTABLE_OBJECT_GRAPH`
/// (tensorflow/core/protobuf/trackable_object_graph.proto): which object owns each stored variable,
/// by the attribute path the user's model used (`conv1/kernel`, `layer_with_weights-3/bias`,
/// `middle_layers/2/kernel`), and which variables are optimizer slots.
struct ObjectGraph {
    /// The checkpoint key of the object graph itself.
    static let key = "_CHECKPOINTABLE_OBJECT_GRAPH"
    /// The attribute name of a variable's value (`.ATTRIBUTES/VARIABLE_VALUE` in keys).
    static let variableValue = "VARIABLE_VALUE"
    /// Key suffix of a variable's value.
    static let variableValueSuffix = "/.ATTRIBUTES/VARIABLE_VALUE"

    /// What a checkpoint key holds, by the graph.
    struct Attribute {
        /// The node (object) that owns the attribute.
        var node: Int
        /// The attribute's name (`VARIABLE_VALUE` for variables).
        var name: String
        /// Edge names from the root to the node, first path in depth-first order.
        var path: [String]
        /// The node's position in the depth-first walk (the order the model tracks its objects).
        var order: Int
        /// True when the node is an optimizer slot or lies under the root's optimizer.
        var isOptimizerState: Bool
    }

    /// Attributes by checkpoint key.
    let attributes: [String: Attribute]
    /// Number of objects in the graph.
    let nodeCount: Int

    /// Decodes the serialized graph and walks it from the root (node 0), children in their stored
    /// order, each object once.
    init(serialized: [UInt8], file: String?) throws {
        let graph: Tensorflow_TrackableObjectGraph
        do {
            graph = try Tensorflow_TrackableObjectGraph(serializedBytes: serialized)
        } catch {
            throw FormatError(.malformed, file: file, location: Self.key, "not a TrackableObjectGraph (\(error))")
        }
        let nodes = graph.nodes
        guard nodes.count <= TensorFlowLimits.maxObjectGraphNodes else {
            throw FormatError(.limit, file: file, location: Self.key, "\(nodes.count) objects exceed \(TensorFlowLimits.maxObjectGraphNodes)")
        }
        nodeCount = nodes.count
        var slotNodes = Set<Int>()
        for node in nodes {
            for slot in node.slotVariables { slotNodes.insert(Int(slot.slotVariableNodeID)) }
        }
        // Depth-first, children in order, with an explicit stack (graphs can be deep) and parent links.
        var parent = [Int](repeating: -1, count: nodes.count)
        var edge = [String](repeating: "", count: nodes.count)
        var order = [Int](repeating: -1, count: nodes.count)
        var underOptimizer = [Bool](repeating: false, count: nodes.count)
        var visited = 0
        if !nodes.isEmpty {
            var stack = [0]
            order[0] = -2  // queued
            while let current = stack.popLast() {
                order[current] = visited
                visited += 1
                for child in nodes[current].children.reversed() {
                    let id = Int(child.nodeID)
                    guard id >= 0, id < nodes.count else {
                        throw FormatError(
                            .malformed, file: file, location: Self.key,
                            "object \(current) names child \(child.nodeID) ('\(child.localName)'), but the graph has \(nodes.count) objects")
                    }
                    guard order[id] == -1 else { continue }
                    order[id] = -2
                    parent[id] = current
                    edge[id] = child.localName
                    underOptimizer[id] = underOptimizer[current] || (current == 0 && child.localName == "optimizer")
                    stack.append(id)
                }
            }
        }
        // Children are pushed in reverse so they pop in their stored order; an object reached twice
        // keeps the parent that discovered it first.
        func path(_ node: Int) -> [String] {
            var names: [String] = []
            var n = node
            var steps = 0
            while n > 0, parent[n] >= 0, steps < nodes.count {
                names.append(edge[n])
                n = parent[n]
                steps += 1
            }
            return names.reversed()
        }
        var attributes: [String: Attribute] = [:]
        for (id, node) in nodes.enumerated() {
            for attribute in node.attributes {
                attributes[attribute.checkpointKey] = Attribute(
                    node: id, name: attribute.name, path: path(id), order: order[id] < 0 ? Int.max : order[id],
                    isOptimizerState: slotNodes.contains(id) || underOptimizer[id] || attribute.checkpointKey.contains("/.OPTIMIZER_SLOT/"))
            }
        }
        self.attributes = attributes
    }
}
