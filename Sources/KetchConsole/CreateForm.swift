import KetchShared

/// The create-database form: the replica spec's fields as text, checked before anything is sent,
/// or the path of a YAML spec file to load into the fields.
public struct CreateForm: Hashable, Sendable {
    public enum Field: Int, CaseIterable, Hashable, Sendable {
        case specPath, name, quorumGroupSize, port, closedPort, username, password, homeServer

        public var label: String {
            switch self {
            case .specPath: "Load YAML"
            case .name: "Name"
            case .quorumGroupSize: "Group size"
            case .port: "Port"
            case .closedPort: "Closed port"
            case .username: "User"
            case .password: "Password"
            case .homeServer: "Home server"
            }
        }

        public var hint: String {
            switch self {
            case .specPath: "path to a spec file; Enter loads it"
            case .name: "a-z, 0-9, _ (like mydb1)"
            case .quorumGroupSize: "1, 3, 5 or 7"
            case .port: "service port, 1-65535"
            case .closedPort: "port while closed, not the service port"
            case .username: "database owner"
            case .password: "never shown or logged"
            case .homeServer: "optional preferred primary"
            }
        }
    }

    public var values: [Field: String]
    public var focus: Field = .name
    public var errors: [Field: String] = [:]
    /// Carried from a loaded spec; the form has no field for it.
    public var asyncMembers: Int?
    /// Set while the create request is on its way; the form is read-only then.
    public var pendingRequest: Int?
    /// The node's refusal, or why the spec file could not be loaded.
    public var failure: String?

    public init() {
        values = [.specPath: "", .name: "", .quorumGroupSize: "3", .port: "5432", .closedPort: "5433",
                  .username: "", .password: "", .homeServer: ""]
    }

    public subscript(field: Field) -> String {
        get { values[field] ?? "" }
        set { values[field] = newValue }
    }

    /// Fills the fields from a loaded spec; the user still reviews and presses Enter to create.
    public mutating func load(_ spec: ReplicaSpec) {
        self[.name] = spec.name
        self[.quorumGroupSize] = String(spec.quorumGroupSize)
        self[.port] = String(spec.dbConfig.port)
        self[.closedPort] = String(spec.dbConfig.closedPort)
        self[.username] = spec.dbConfig.username
        self[.password] = spec.dbConfig.password
        self[.homeServer] = spec.homeServer ?? ""
        self[.specPath] = ""
        asyncMembers = spec.asyncMembers
        errors = [:]
        failure = nil
        focus = .name
    }

    /// Checks every field; on success the spec to send, otherwise one message per bad field.
    public func validate() -> Result<ReplicaSpec, CreateFormErrors> {
        var errors: [Field: String] = [:]
        let name = self[.name].trimmed
        if name.isEmpty {
            errors[.name] = "name is required"
        } else if name.utf8.count > ReplicaSpec.maxNameBytes {
            errors[.name] = "at most \(ReplicaSpec.maxNameBytes) bytes"
        } else if !ReplicaSpec.isLowercaseIdentifier(name) {
            errors[.name] = "use a-z, 0-9 and _, starting with a letter or _ (like mydb1)"
        } else if ReplicaSpec.reservedNames.contains(name) {
            errors[.name] = "'\(name)' is reserved by Postgres"
        }
        let size = Int(self[.quorumGroupSize].trimmed)
        if size == nil || ![1, 3, 5, 7].contains(size!) {
            errors[.quorumGroupSize] = "group size must be 1, 3, 5 or 7"
        }
        let port = Self.port(self[.port])
        if port == nil { errors[.port] = "port must be a number from 1 to 65535" }
        let closed = Self.port(self[.closedPort])
        if closed == nil {
            errors[.closedPort] = "closed port must be a number from 1 to 65535"
        } else if closed == port {
            errors[.closedPort] = "closed port must differ from the service port"
        }
        let user = self[.username].trimmed
        if user.isEmpty {
            errors[.username] = "user is required"
        } else if user.hasPrefix("pg_") {
            errors[.username] = "pg_ names are reserved by Postgres"
        } else if !Self.isIdentifier(user) {
            errors[.username] = "use letters, digits and _ (not starting with a digit), at most 63"
        }
        if self[.password].isEmpty { errors[.password] = "password is required" }
        let home = self[.homeServer].trimmed
        guard errors.isEmpty, let size, let port, let closed else { return .failure(CreateFormErrors(fields: errors)) }
        let spec = ReplicaSpec(name: name, quorumGroupSize: size,
                                    dbConfig: .init(username: user, password: self[.password], port: port, closedPort: closed),
                               asyncMembers: asyncMembers, homeServer: home.isEmpty ? nil : home)
        // The same rules the node applies, so the form never sends what the node would refuse.
        do throws(ErrorReply) {
            try spec.validate()
        } catch {
            return .failure(CreateFormErrors(fields: [:], general: error.message))
        }
        return .success(spec)
    }

    static func isIdentifier(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, s.unicodeScalars.count <= 63 else { return false }
        func letter(_ c: Unicode.Scalar) -> Bool { (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || c == "_" }
        return letter(first) && s.unicodeScalars.allSatisfy { letter($0) || ($0 >= "0" && $0 <= "9") }
    }

    static func port(_ s: String) -> Int? {
        guard let p = Int(s.trimmed), (1...65535).contains(p) else { return nil }
        return p
    }
}

/// Why the form cannot be sent: one message per bad field.
public struct CreateFormErrors: Error, Hashable, Sendable {
    public var fields: [CreateForm.Field: String]
    /// A problem with the spec as a whole, found by the node's own rules.
    public var general: String?
    public init(fields: [CreateForm.Field: String], general: String? = nil) { self.fields = fields; self.general = general }
    public var code: String { "console.invalid-spec" }
    public var message: String {
        (CreateForm.Field.allCases.compactMap { f in fields[f].map { "\(f.label): \($0)" } } + [general].compactMap { $0 })
            .joined(separator: "; ")
    }
}

extension String {
    var trimmed: String {
        var s = Substring(self)
        while s.first?.isWhitespace == true { s.removeFirst() }
        while s.last?.isWhitespace == true { s.removeLast() }
        return String(s)
    }
}
