/// Why a record could not be decoded, with the path of the offending field:
/// `items[2].hs_code: expected string, got number`.
public struct DecodeError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum PathComponent: Sendable, Equatable {
        case key(String)
        case index(Int)
    }

    /// Outermost first.
    public var path: [PathComponent]
    public var message: String

    public init(_ message: String, path: [PathComponent] = []) {
        self.message = message
        self.path = path
    }

    @usableFromInline
    func prefixed(_ component: PathComponent) -> DecodeError {
        var copy = self
        copy.path.insert(component, at: 0)
        return copy
    }

    public var pathString: String {
        var text = ""
        for component in path {
            switch component {
            case .key(let k): text += text.isEmpty ? k : ".\(k)"
            case .index(let i): text += "[\(i)]"
            }
        }
        return text
    }

    public var description: String { path.isEmpty ? message : "\(pathString): \(message)" }
}
