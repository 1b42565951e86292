import KetchShared
import Testing

@Suite struct ReplicaSpecValidationTests {
    static func spec(name: String = "mydb1", size: Int = 3, user: String = "myuser", password: String = "mypassword",
                     port: Int = 5432, closedPort: Int = 5433, asyncMembers: Int? = nil) -> ReplicaSpec {
        ReplicaSpec(name: name, quorumGroupSize: size,
                    dbConfig: .init(username: user, password: password, port: port, closedPort: closedPort),
                    asyncMembers: asyncMembers)
    }

    static func failure(_ spec: ReplicaSpec) -> String? {
        do { try spec.validate(); return nil } catch { return error.message }
    }

    @Test func theSeedsSampleIsValid() throws {
        try Self.spec().validate()
        try Self.spec(name: "_a", size: 1).validate()
        try Self.spec(name: String(repeating: "a", count: 63), size: 7, asyncMembers: 3).validate()
    }

    @Test(arguments: [
        (spec(name: ""), "name is empty"),
        (spec(name: "MyDB"), "not a lowercase Postgres identifier"),
        (spec(name: "1db"), "not a lowercase Postgres identifier"),
        (spec(name: "my-db"), "not a lowercase Postgres identifier"),
        (spec(name: String(repeating: "a", count: 64)), "at most 63"),
        (spec(name: "postgres"), "reserved"),
        (spec(size: 2), "quorumGroupSize 2 is not supported; use one of 1, 3, 5, 7"),
        (spec(size: 9), "quorumGroupSize 9"),
        (spec(port: 0), "dbConfig.port 0 is out of range"),
        (spec(closedPort: 70000), "dbConfig.closedPort 70000 is out of range"),
        (spec(port: 5432, closedPort: 5432), "closedPort equals dbConfig.port"),
        (spec(user: ""), "dbConfig.username is empty"),
        (spec(user: "pg_admin"), "starts with pg_"),
        (spec(password: ""), "dbConfig.password is empty"),
        (spec(password: "a\nb"), "control characters"),
        (spec(size: 3, asyncMembers: 2), "asyncMembers 2 is out of range"),
    ])
    func invalidSpecsNameTheField(_ spec: ReplicaSpec, _ expected: String) {
        let message = Self.failure(spec)
        #expect(message?.contains(expected) == true, "got \(message ?? "no error")")
    }

    @Test func errorsNeverContainThePassword() {
        let message = Self.failure(Self.spec(password: "sekrit\u{7}"))
        #expect(message != nil)
        #expect(message?.contains("sekrit") == false)
    }

    @Test func errorCodeIsBadSpec() {
        do { try Self.spec(size: 4).validate() } catch { #expect(error.code == "bad-spec") }
    }
}
