#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Testing
@testable import EdgePOSIX

/// How many SIGUSR1s the test handler has seen (a signal handler can reach only globals).
private let interruptions = Atomic<Int>(0)

/// What the interrupting thread needs: whom to signal (and its thread id, to see it blocked),
/// and where to write once done.
private final class Interrupter {
    let target: pthread_t
    let targetTid: pid_t
    let writeEnd: CInt
    let signals: Int
    /// Set when a wait for the reader gave up (the test then fails, saying so).
    var timedOut = false

    init(target: pthread_t, targetTid: pid_t, writeEnd: CInt, signals: Int) {
        self.target = target
        self.targetTid = targetTid
        self.writeEnd = writeEnd
        self.signals = signals
    }

    /// Waits until the reader thread is blocked in read(2), as /proc/self/task/TID/syscall shows
    /// (its first field is the number of the call it sleeps in), and `alsoTrue` holds; false after 10 s.
    func awaitBlockedInRead(_ alsoTrue: () -> Bool = { true }) -> Bool {
        let deadline = Clock.monotonicMs() + 10_000
        while Clock.monotonicMs() < deadline {
            if alsoTrue(), let call = currentCall(), call == Self.readCall { return true }
            sched_yield()
        }
        timedOut = true
        return false
    }

    /// read(2)'s number in /proc's syscall file.
    #if arch(arm64)
    static let readCall = "63"
    #else
    static let readCall = "0"
    #endif

    /// The first field of /proc/self/task/TID/syscall: the call the reader sleeps in ("running" if none).
    private func currentCall() -> Substring? {
        do {
            let text = try Files.read("/proc/self/task/\(targetTid)/syscall", maxBytes: 256)
            return String(decoding: text, as: UTF8.self).split(separator: " ").first
        } catch {
            return nil
        }
    }
}

/// This thread's id, from /proc/thread-self ("PID/task/TID").
private func currentThreadID() -> pid_t {
    var link = [CChar](repeating: 0, count: 64)
    let count = readlink("/proc/thread-self", &link, link.count - 1)
    precondition(count > 0, "readlink /proc/thread-self: errno \(errno)")
    let text = String(decoding: link[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return pid_t(text.split(separator: "/").last!)!
}

@Suite struct SystemCallTests {
    @Test func aReadInterruptedBySignalsIsRetriedUntilTheDataComes() throws {
        // A handler without SA_RESTART: the kernel then ends a blocked read with EINTR.
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in interruptions.add(1, ordering: .relaxed) }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0
        var previous = sigaction()
        #expect(sigaction(SIGUSR1, &action, &previous) == 0)
        defer { sigaction(SIGUSR1, &previous, nil) }
        var usr1 = sigset_t()
        sigemptyset(&usr1)
        sigaddset(&usr1, SIGUSR1)
        var mask = sigset_t()
        #expect(pthread_sigmask(SIG_UNBLOCK, &usr1, &mask) == 0)
        defer { pthread_sigmask(SIG_SETMASK, &mask, nil) }

        let pipe = blockingPipe()
        let before = interruptions.load(ordering: .relaxed)
        let interrupter = Interrupter(target: pthread_self(), targetTid: currentThreadID(), writeEnd: pipe.writeEnd.rawValue, signals: 3)
        let context = Unmanaged.passRetained(interrupter).toOpaque()
        var thread = pthread_t()
        let started = pthread_create(&thread, nil, { raw in
            let interrupter = Unmanaged<Interrupter>.fromOpaque(raw!).takeRetainedValue()
            // Each signal goes to the reader once it is blocked in read(2), and the next only once
            // the handler has run and the read was made again (the retry under test).
            var handled = interruptions.load(ordering: .relaxed)
            for _ in 0..<interrupter.signals {
                guard interrupter.awaitBlockedInRead({ interruptions.load(ordering: .relaxed) == handled }) else { break }
                pthread_kill(interrupter.target, SIGUSR1)
                handled += 1
            }
            _ = interrupter.awaitBlockedInRead({ interruptions.load(ordering: .relaxed) == handled })
            var byte = UInt8(ascii: "x")
            _ = write(interrupter.writeEnd, &byte, 1)
            return nil
        }, context)
        try #require(started == 0)

        var buffer = [UInt8](repeating: 0, count: 8)
        let count = try buffer.withUnsafeMutableBytes { (bytes) throws(SystemError) in try pipe.readEnd.read(into: bytes) }
        pthread_join(thread, nil)
        #expect(!interrupter.timedOut, "the reader was not seen blocked in read(2) within 10 s")
        #expect(count == 1)
        #expect(buffer[0] == UInt8(ascii: "x"))
        #expect(interruptions.load(ordering: .relaxed) - before == 3)
    }

    @Test func aFailedOpenNamesTheCallThePathAndTheErrno() {
        let directory = TemporaryDirectory()
        let missing = directory.sub("missing")
        let error = systemError { _ = try FileDescriptor.open(missing, O_RDONLY) }
        #expect(error?.call == "open")
        #expect(error?.path == missing)
        #expect(error?.descriptor == nil)
        #expect(error?.errno == .noSuchFileOrDirectory)
        #expect(error?.reason == "No such file or directory")
        #expect(error?.description == "open \(missing): No such file or directory (ENOENT)")
    }

    @Test func aFailedCallOnADescriptorNamesTheDescriptorAndItsPath() throws {
        let directory = TemporaryDirectory()
        let opened = try FileDescriptor.open(directory.path, O_RDONLY | O_DIRECTORY)
        let number = opened.rawValue
        let error = systemError {
            _ = try withUnsafeTemporaryAllocation(byteCount: 16, alignment: 8) { (buffer) throws(SystemError) in
                try opened.read(into: buffer, path: directory.path)
            }
        }
        #expect(error?.call == "read")
        #expect(error?.descriptor == number)
        #expect(error?.errno == .isDirectory)
        #expect(error?.description == "read \(directory.path) (fd \(number)): Is a directory (EISDIR)")
    }

    @Test func aDescriptorWithoutAPathIsNamedByItsNumber() {
        let error = SystemError("fcntl", descriptor: 7, errno: .invalidArgument)
        #expect(error.description == "fcntl fd 7: Invalid argument (EINVAL)")
    }

    @Test func aRenameNamesBothPaths() {
        let directory = TemporaryDirectory()
        let error = systemError { try Files.rename(directory.sub("a"), to: directory.sub("b")) }
        #expect(error?.path == directory.sub("a"))
        #expect(error?.destination == directory.sub("b"))
        #expect(error?.description == "rename \(directory.sub("a")) to \(directory.sub("b")): No such file or directory (ENOENT)")
    }

    @Test func aSignalToAProcessThatIsNotThereNamesThePid() {
        // Above any pid_max: no process has it.
        let error = systemError { try Signals.send(0, to: Int32.max) }
        #expect(error?.errno == .noSuchProcess)
        #expect(error?.process == Int32.max)
        #expect(error?.description == "kill pid \(Int32.max): No such process (ESRCH)")
        let group = systemError { try Signals.send(0, toGroup: Int32.max) }
        #expect(group?.description == "kill process group \(Int32.max): No such process (ESRCH)")
    }

    @Test func aFailureWithoutAnErrnoOfItsOwnSaysWhatHappened() throws {
        let directory = TemporaryDirectory()
        let path = directory.sub("big")
        try Files.writeAtomically(path, [UInt8](repeating: 1, count: 100))
        let error = systemError { _ = try Files.read(path, maxBytes: 10) }
        #expect(error?.errno == .fileTooLarge)
        #expect(error?.reason == "larger than 10 bytes")
        #expect(error?.description.hasPrefix("read \(path) (fd ") == true)
        #expect(error?.description.hasSuffix("): larger than 10 bytes (EFBIG)") == true)
    }

    @Test func aPthreadCallThatReturnsItsErrorIsReportedLikeTheOthers() {
        // pthread_sigmask returns EINVAL for an unknown `how` instead of setting errno.
        var set = sigset_t()
        sigemptyset(&set)
        let error = systemError { try systemCallReturningErrno("pthread_sigmask") { pthread_sigmask(12345, &set, nil) } }
        #expect(error?.description == "pthread_sigmask: Invalid argument (EINVAL)")
    }

    @Test func errnoHasItsSymbolicName() {
        #expect(Errno.noSuchFileOrDirectory.name == "ENOENT")
        #expect(Errno.resourceBusy.name == "EBUSY")
        #expect(Errno(rawValue: 9999).name == "errno 9999")
    }
}

@Suite struct FileDescriptorTests {
    init() {
        // A write to a pipe nobody reads must fail with EPIPE here, not end the test process.
        signal(SIGPIPE, SIG_IGN)
    }

    @Test func anUnclosedDescriptorIsClosedWhenItsOwnerGoesAway() throws {
        let pipe = blockingPipe()
        let writeEnd = pipe.writeEnd
        do {
            let readEnd = pipe.readEnd
            #expect(readEnd.rawValue >= 0)
        }
        let error = systemError { _ = try writeByte(writeEnd) }
        #expect(error?.errno == Errno(rawValue: EPIPE))
    }

    @Test func closeClosesAndIsTheLastUse() throws {
        let pipe = blockingPipe()
        let writeEnd = pipe.writeEnd
        try pipe.readEnd.close()
        let error = systemError { _ = try writeByte(writeEnd) }
        #expect(error?.errno == Errno(rawValue: EPIPE))
    }

    @Test func releaseHandsTheNumberOverOpen() throws {
        let pipe = blockingPipe()
        let writeEnd = pipe.writeEnd
        let raw = pipe.readEnd.release()
        #expect(try writeByte(writeEnd) == 1)
        // Still open under its new owner, who closes it.
        let taken = FileDescriptor(taking: raw)
        var byte: UInt8 = 0
        let count = try withUnsafeMutableBytes(of: &byte) { (buffer) throws(SystemError) in try taken.read(into: buffer) }
        #expect(count == 1 && byte == UInt8(ascii: "x"))
    }

    @Test func aChannelsPipeReadEndDoesNotBlock() throws {
        let pipe = try Channels.makePipe()
        let error = systemError {
            _ = try withUnsafeTemporaryAllocation(byteCount: 8, alignment: 8) { (buffer) throws(SystemError) in try pipe.readEnd.read(into: buffer) }
        }
        #expect(error?.errno == .wouldBlock)
        #expect(error?.descriptor == pipe.readEnd.rawValue)
    }

    @Test func anExclusiveLockIsRefusedToASecondHolder() throws {
        let directory = TemporaryDirectory()
        let first = try FileDescriptor.open(directory.path, O_RDONLY | O_DIRECTORY)
        let second = try FileDescriptor.open(directory.path, O_RDONLY | O_DIRECTORY)
        #expect(try first.lockExclusively())
        #expect(try !second.lockExclusively())
    }
}

@Suite struct FilesTests {
    @Test func makeDirectoriesRefusesAFileOnTheWay() throws {
        let directory = TemporaryDirectory()
        try Files.writeAtomically(directory.sub("file"), [])
        let error = systemError { try Files.makeDirectories(directory.sub("file/below")) }
        #expect(error?.call == "mkdir")
        #expect(error?.path == directory.sub("file"))
        #expect(error?.errno == .notDirectory)
        #expect(error?.description == "mkdir \(directory.sub("file")): exists but is not a directory; remove it or choose another path (ENOTDIR)")
    }

    @Test func makeDirectoriesCreatesTheMissingOnesAndAcceptsTheOthers() throws {
        let directory = TemporaryDirectory()
        try Files.makeDirectories(directory.sub("a/b/c"), mode: 0o750)
        try Files.makeDirectories(directory.sub("a/b/c"))
        #expect(try Files.status(directory.sub("a/b")).kind == .directory)
        #expect(try Files.status(directory.sub("a/b/c")).permissions == 0o750 & ~currentUmask())
    }

    @Test func listGivesTheSortedNamesAndNamesADirectoryItCannotOpen() throws {
        let directory = TemporaryDirectory()
        for name in ["b", "a", "c"] { try Files.writeAtomically(directory.sub(name), []) }
        #expect(try Files.list(directory.path) == ["a", "b", "c"])
        let error = systemError { _ = try Files.list(directory.sub("none")) }
        #expect(error?.description == "opendir \(directory.sub("none")): No such file or directory (ENOENT)")
    }

    @Test func statusSeesALinkItselfOnlyWhenAskedTo() throws {
        let directory = TemporaryDirectory()
        #expect(symlink(directory.path, directory.sub("link")) == 0)
        #expect(try Files.status(directory.sub("link")).kind == .directory)
        #expect(try Files.status(directory.sub("link"), followingLinks: false).kind == .symbolicLink)
    }

    @Test func aFailedAtomicWriteLeavesNoTemporaryFile() throws {
        let directory = TemporaryDirectory()
        // A directory with something in it cannot be renamed over.
        try Files.makeDirectories(directory.sub("target/inside"))
        let error = systemError { try Files.writeAtomically(directory.sub("target"), [1, 2, 3]) }
        #expect(error?.call == "rename")
        #expect(error?.destination == directory.sub("target"))
        #expect(try Files.list(directory.path) == ["target"])
    }

    @Test func removeTreeRemovesLinksNotWhatTheyPointAt() throws {
        let directory = TemporaryDirectory()
        try Files.writeAtomically(directory.sub("kept"), [1])
        try Files.makeDirectories(directory.sub("tree/sub"))
        #expect(symlink(directory.sub("kept"), directory.sub("tree/sub/link")) == 0)
        try Files.removeTree(directory.sub("tree"))
        try Files.removeTree(directory.sub("tree"))
        #expect(try Files.list(directory.path) == ["kept"])
    }
}

private func currentUmask() -> mode_t {
    let mask = umask(0o022)
    umask(mask)
    return mask
}

@Suite struct ReadAvailableTests {
    @Test func aReadSaysDataNothingYetOrTheEnd() throws {
        let pipe = try Channels.makePipe()
        let reader = pipe.readEnd
        let writer = pipe.writeEnd
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 16, alignment: 1)
        defer { buffer.deallocate() }
        #expect(reader.readAvailable(into: buffer) == .nothing)
        #expect(try writeByte(writer) == 1)
        #expect(reader.readAvailable(into: buffer) == .data(1))
        try writer.close()
        #expect(reader.readAvailable(into: buffer) == .ended)
    }
}
