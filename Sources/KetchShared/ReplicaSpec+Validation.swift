/// Semantic checks of a `ReplicaSpec`, shared by `ketchctl` (refuse before sending) and the node
/// (refuse whatever a client sends). Each failure names the field and what is accepted.
extension ReplicaSpec {
    /// Quorum group sizes the protocol supports: odd, so a majority is well defined.
    public static let allowedQuorumGroupSizes = [1, 3, 5, 7]
    /// Postgres truncates identifiers beyond 63 bytes (NAMEDATALEN - 1).
    public static let maxNameBytes = 63
    /// Databases every Postgres cluster already has; a replica by that name would collide.
    public static let reservedNames: Set<String> = ["postgres", "template0", "template1"]
    /// Largest spec file `ketchctl create replica -f` and the console read: a replica is about
    /// 200 bytes, and a YAML parser fed an enormous document spends minutes and gigabytes on it
    /// (the spec fuzzer once made a 1.2 GB one).
    public static let maxSpecFileBytes = 1 << 20
    /// Longest piece of a user's text an error message quotes.
    public static let maxShownScalars = 64

    /// Throws the first problem found, as an `ErrorReply` with code `bad-spec`.
    public func validate() throws(ErrorReply) {
        func bad(_ message: String) -> ErrorReply { ErrorReply(code: "bad-spec", message: message) }

        if name.isEmpty {
            throw bad("name is empty; use a lowercase Postgres identifier like mydb1")
        }
        if name.utf8.count > Self.maxNameBytes {
            throw bad("name '\(Self.shown(String(name.prefix(20))))…' is \(name.utf8.count) bytes long; at most \(Self.maxNameBytes) are accepted")
        }
        if !Self.isLowercaseIdentifier(name) {
            throw bad("name '\(Self.shown(name))' is not a lowercase Postgres identifier; use a-z, 0-9 and _, starting with a letter or _ (like mydb1)")
        }
        if Self.reservedNames.contains(name) {
            throw bad("name '\(name)' is reserved by Postgres; choose another name")
        }
        if !Self.allowedQuorumGroupSizes.contains(quorumGroupSize) {
            throw bad("quorumGroupSize \(quorumGroupSize) is not supported; use one of 1, 3, 5, 7")
        }
        for (field, value) in [("dbConfig.port", dbConfig.port), ("dbConfig.closedPort", dbConfig.closedPort)] {
            if !(1...65535).contains(value) {
                throw bad("\(field) \(value) is out of range; use a TCP port from 1 to 65535")
            }
        }
        if dbConfig.port == dbConfig.closedPort {
            throw bad("dbConfig.closedPort equals dbConfig.port (\(dbConfig.port)); the closed port must differ from the service port")
        }
        if dbConfig.username.isEmpty {
            throw bad("dbConfig.username is empty; give the database owner's role name")
        }
        if dbConfig.username.utf8.count > Self.maxNameBytes {
            throw bad("dbConfig.username is longer than \(Self.maxNameBytes) bytes")
        }
        if dbConfig.username.hasPrefix("pg_") {
            throw bad("dbConfig.username '\(Self.shown(dbConfig.username))' starts with pg_, which Postgres reserves; choose another role name")
        }
        if dbConfig.username.unicodeScalars.contains(where: Self.isControl) {
            throw bad("dbConfig.username contains control characters; use printable characters only")
        }
        if dbConfig.password.isEmpty {
            throw bad("dbConfig.password is empty; give a password for the database owner")
        }
        if dbConfig.password.unicodeScalars.contains(where: Self.isControl) {
            throw bad("dbConfig.password contains control characters (newline, NUL, ...); use printable characters only")
        }
        if let asyncMembers {
            let spare = quorumGroupSize - dataQuorumSize
            if !(0...spare).contains(asyncMembers) {
                throw bad("asyncMembers \(asyncMembers) is out of range; with quorumGroupSize \(quorumGroupSize) use 0 to \(spare)")
            }
        }
        if let homeServer, homeServer.isEmpty {
            throw bad("homeServer is empty; name a server (like server1) or leave the field out")
        }
    }

    /// `[a-z_][a-z0-9_]*`: needs no quoting in SQL and survives Postgres's case folding.
    public static func isLowercaseIdentifier(_ s: String) -> Bool {
        guard let first = s.utf8.first, first == UInt8(ascii: "_") || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first) else {
            return false
        }
        return s.utf8.allSatisfy { b in
            b == UInt8(ascii: "_") || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(b) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b)
        }
    }

    private static func isControl(_ u: Unicode.Scalar) -> Bool { u.value < 0x20 || u.value == 0x7F }

    /// A user's text as it can appear inside a one-line message: control characters escaped
    /// (a name holding a newline must not split the error in two), and cut after
    /// `maxShownScalars` (a 4 KiB `type` made a 4 KiB error line; a 1 MiB key would make a
    /// 1 MiB one).
    public static func shown(_ s: String) -> String {
        let scalars = s.unicodeScalars
        let cut = scalars.count > maxShownScalars
        let kept = cut ? String(String.UnicodeScalarView(scalars.prefix(maxShownScalars))) : s
        let escaped = kept.unicodeScalars.map { isControl($0) ? $0.escaped(asASCII: true) : String($0) }.joined()
        return cut ? escaped + "… (\(s.utf8.count) bytes)" : escaped
    }

    /// Why a spec document of `bytes` bytes is refused before it is parsed, or nil.
    /// `readSoFar`: `bytes` is what a bounded read got, so the whole is only known to be larger.
    public static func specFileTooLarge(_ bytes: Int, source: String, readSoFar: Bool = false) -> String? {
        bytes > maxSpecFileBytes
            ? "\(source) is \(readSoFar ? "over \(maxSpecFileBytes)" : "\(bytes)") bytes; a spec file is at most \(maxSpecFileBytes) bytes (1 MiB): a replica's spec is about 200 bytes, so split the file"
            : nil
    }
}
