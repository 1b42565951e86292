/// A failure of the node itself (configuration, data dir, start-up), with a stable code and a
/// message that names the object and the fix. Printed as one line by `ketch-node`.
public struct NodeError: Error, CustomStringConvertible, Sendable {
    public var code: String
    public var message: String
    public init(_ code: String, _ message: String) { self.code = code; self.message = message }
    public var description: String { message }
}
