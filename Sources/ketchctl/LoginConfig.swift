import Foundation

/// What `ketchctl login` remembers in `~/.ketchctl.d/config`: where the api server is and
/// *where* the secret file is — never the secret itself.
struct LoginConfig: Codable, Equatable {
    var server: String
    var port: Int
    /// Absolute path of the cluster secret file.
    var secretFile: String?

    static func directory(home: String) -> String { home + "/.ketchctl.d" }
    static func path(home: String) -> String { directory(home: home) + "/config" }

    /// nil when the user never logged in; an error when the file exists but is unusable.
    static func load(home: String) throws(CtlError) -> LoginConfig? {
        let path = path(home: home)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CtlError("bad-config", "cannot read \(path); fix its permissions or run ketchctl login again")
        }
        do {
            return try JSONDecoder().decode(LoginConfig.self, from: data)
        } catch {
            throw CtlError("bad-config", "\(path) is not a ketchctl config; delete it and run ketchctl login -s SERVER")
        }
    }

    /// Writes the config with mode 0600 in a 0700 directory, replacing any previous one.
    func save(home: String) throws(CtlError) {
        let dir = Self.directory(home: home), path = Self.path(home: home)
        let fm = FileManager.default
        do {
            try fm.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            var data = try encoder.encode(self)
            data.append(0x0A)
            let temp = path + ".tmp"
            _ = fm.createFile(atPath: temp, contents: nil, attributes: [.posixPermissions: 0o600])
            try data.write(to: URL(fileURLWithPath: temp))
            try fm.setAttributes([.posixPermissions: 0o600], ofItemAtPath: temp)
            if fm.fileExists(atPath: path) { try fm.removeItem(atPath: path) }
            try fm.moveItem(atPath: temp, toPath: path)
        } catch {
            throw CtlError("bad-config", "cannot write \(path): \(error.localizedDescription)")
        }
    }
}
