import KetchConsole
import KetchShared
import Testing

@Suite struct CreateFormTests {
    func form(_ edits: [CreateForm.Field: String]) -> CreateForm {
        var f = CreateForm()
        f[.name] = "mydb1"; f[.username] = "myuser"; f[.password] = "pw"
        for (k, v) in edits { f[k] = v }
        return f
    }

    @Test func theSampleSpecIsValid() throws {
        let spec = try form([:]).validate().get()
        #expect(spec == ReplicaSpec(name: "mydb1", quorumGroupSize: 3, dbConfig: .init(username: "myuser", password: "pw", port: 5432, closedPort: 5433)))
    }

    @Test(arguments: [
        (CreateForm.Field.name, "", "name is required"),
        (.name, "1db", "use a-z"),
        (.name, "my-db", "use a-z"),
        (.name, "MyDB", "use a-z"),
        (.name, "postgres", "reserved"),
        (.name, String(repeating: "a", count: 64), "at most 63"),
        (.quorumGroupSize, "4", "1, 3, 5 or 7"),
        (.quorumGroupSize, "x", "1, 3, 5 or 7"),
        (.quorumGroupSize, "9", "1, 3, 5 or 7"),
        (.port, "0", "1 to 65535"),
        (.port, "65536", "1 to 65535"),
        (.closedPort, "5432", "differ from the service port"),
        (.closedPort, "abc", "1 to 65535"),
        (.username, "", "user is required"),
        (.username, "pg_owner", "reserved"),
        (.password, "", "password is required"),
    ])
    func badFieldsAreNamed(_ field: CreateForm.Field, _ value: String, _ message: String) {
        switch form([field: value]).validate() {
        case .success: Issue.record("\(field) = '\(value)' should be refused")
        case .failure(let e):
            #expect(e.fields[field]?.contains(message) == true, "\(e.message)")
            #expect(e.fields.count == 1)
            #expect(e.code == "console.invalid-spec")
        }
    }

    @Test(arguments: [1, 3, 5, 7])
    func groupSizes(_ n: Int) throws {
        #expect(try form([.quorumGroupSize: "\(n)"]).validate().get().quorumGroupSize == n)
    }
}

@Suite struct ShortNameTests {
    @Test func groupColumnNamesStayDistinct() {
        let hosts = ["127.0.3.1", "127.0.3.2", "127.0.3.3"]
        let short = ConsoleRenderer.shortNamesForTesting(hosts)
        #expect(short == ["127.0.3.1": ".1", "127.0.3.2": ".2", "127.0.3.3": ".3"])
        #expect(ConsoleRenderer.shortNamesForTesting(["server1", "server2", "server12"]) == ["server1": "s1", "server2": "s2", "server12": "s12"])
    }
}
