// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Ketch",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "ketch-node", targets: ["ketch-node"]),
        .executable(name: "ketchctl", targets: ["ketchctl"]),
        .executable(name: "ketch-tui", targets: ["ketch-tui"]),
        .executable(name: "ketch-sim", targets: ["ketch-sim"]),
        .executable(name: "ketch-fence", targets: ["ketch-fence"]),
        .executable(name: "ketch-fuzz", targets: ["ketch-fuzz"]),
        .executable(name: "ketch-faults", targets: ["ketch-faults"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
    ],
    targets: [
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CNCurses", pkgConfig: "ncursesw", providers: [.apt(["libncursesw5-dev"])]),

        .target(name: "KetchShared"),
        .target(name: "KetchCore", dependencies: ["KetchShared"]),
        .target(name: "KetchWire", dependencies: [
            "KetchShared",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "KetchStore", dependencies: ["KetchShared", "CSQLite"]),
        .target(name: "KetchPostgres", dependencies: [
            "KetchShared", "CLibPQ",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "KetchNode", dependencies: [
            "KetchCore", "KetchWire", "KetchStore", "KetchPostgres", "KetchShared",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Yams", package: "Yams"),
        ]),
        .target(name: "KetchConsole", dependencies: ["KetchShared"]),
        .target(name: "KetchSimulation", dependencies: ["KetchCore", "KetchShared"]),
        .target(name: "KetchFaults"),

        .executableTarget(name: "ketch-node", dependencies: [
            "KetchNode",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "ketchctl", dependencies: [
            "KetchWire", "KetchShared",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Yams", package: "Yams"),
        ]),
        .executableTarget(name: "ketch-tui", dependencies: [
            "KetchConsole", "KetchWire", "KetchShared", "CNCurses",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Yams", package: "Yams"),
        ]),
        .executableTarget(name: "ketch-fence"),
        .target(name: "KetchFuzz", dependencies: [
            "KetchShared", "KetchCore", "KetchConsole",
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .executableTarget(name: "ketch-fuzz", dependencies: ["KetchFuzz", "KetchShared"]),
        .executableTarget(name: "ketch-faults", dependencies: [
            "KetchFaults", "CLibPQ",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "ketch-sim", dependencies: [
            "KetchSimulation",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        .testTarget(name: "KetchSharedTests", dependencies: ["KetchShared"]),
        .testTarget(name: "KetchCoreTests", dependencies: ["KetchCore", "KetchShared"], resources: [.copy("Scenarios")]),
        .testTarget(name: "KetchWireTests", dependencies: ["KetchWire", "KetchShared", "ketchctl"]),
        .testTarget(name: "KetchStoreTests", dependencies: ["KetchStore", "KetchShared"]),
        .testTarget(name: "KetchPostgresTests", dependencies: ["KetchPostgres", "KetchShared", "KetchNode", "KetchCore"]),
        .testTarget(name: "KetchConsoleTests", dependencies: ["KetchConsole", "KetchShared"], exclude: ["__Snapshots__"]),
        .testTarget(name: "KetchSimulationTests", dependencies: ["KetchSimulation", "KetchCore", "KetchShared"]),
        .testTarget(name: "KetchFaultTests", dependencies: ["KetchFaults"]),
        .testTarget(name: "KetchIntegrationTests", dependencies: ["KetchShared", "KetchWire"]),
        .testTarget(name: "KetchFuzzTests", dependencies: ["KetchFuzz", "KetchShared", "ketchctl", "ketch-tui"], exclude: ["Corpus"]),
    ]
)
