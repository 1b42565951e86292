import KetchShared

public enum NodeMain {
    public static func run(config: NodeConfig) async throws {
        print("would start \(config.name) at \(config.apiEndpoint) members \(config.members)")
    }
}
