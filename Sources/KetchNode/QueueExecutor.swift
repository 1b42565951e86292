import Dispatch

/// A serial executor on a Dispatch queue of its own.
///
/// The copies' actors (`ReplicaDatabase`) write and fsync files (configuration, lease guards,
/// timeline repairs) and run other calls that block. On the two-thread cooperative pool two such
/// calls stopped everything else, the node's own event handling included: with eight databases
/// promoted at once on a disk busy with clones, a node was not run for 1.3 s and every lease it
/// held ran out together (issue 22). On a queue of its own a copy that blocks holds a Dispatch
/// worker thread instead, and Dispatch adds threads when its workers block.
final class QueueExecutor: SerialExecutor, @unchecked Sendable {
    private let queue: DispatchQueue

    init(label: String) {
        queue = DispatchQueue(label: label)
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedSerialExecutor()
        queue.async { job.runSynchronously(on: executor) }
    }

    func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }
}
