#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import EdgePOSIX

/// Shell completion for edgectl: printed, or installed where the shell looks for the user's.
struct Completion: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print or install shell completion for bash, zsh or fish.",
        discussion: """
            --install writes it where the shell finds a user's completions:
              bash  ~/.local/share/bash-completion/completions/edgectl (bash-completion 2)
              zsh   ~/.zfunc/_edgectl (add `fpath+=~/.zfunc; autoload -Uz compinit; compinit` to ~/.zshrc)
              fish  ~/.config/fish/completions/edgectl.fish

            Examples:
              edgectl completion bash --install
              edgectl completion zsh > "${fpath[1]}/_edgectl"
            """)
    @Argument(help: "bash, zsh or fish.") var shell: String
    @Flag(help: "Write it to the user's completion folder for that shell instead of printing it.") var install = false

    func validate() throws {
        guard CompletionShell(rawValue: shell) != nil else { throw ValidationError("the shell must be bash, zsh or fish (got \(shell))") }
    }

    func run() throws {
        let kind = CompletionShell(rawValue: shell)!
        let script = Edgectl.completionScript(for: kind)
        guard install else {
            print(script, terminator: script.hasSuffix("\n") ? "" : "\n")
            return
        }
        guard let home = ConnectionSettings.environment("HOME") else { throw Failure("HOME is not set: cannot tell where to install") }
        let (folder, file): (String, String)
        switch kind {
        case .zsh: (folder, file) = ("\(home)/.zfunc", "_edgectl")
        case .fish: (folder, file) = ("\(home)/.config/fish/completions", "edgectl.fish")
        default:
            let data = ConnectionSettings.environment("XDG_DATA_HOME") ?? "\(home)/.local/share"
            (folder, file) = ("\(data)/bash-completion/completions", "edgectl")
        }
        do {
            try Files.makeDirectories(folder, mode: 0o755)
            try Files.writeAtomically("\(folder)/\(file)", Array(script.utf8), mode: 0o644)
        } catch {
            throw Failure("cannot write \(folder)/\(file): \(error.reason)")
        }
        print("installed \(shell) completion in \(folder)/\(file)")
        if kind == .zsh { print("make sure ~/.zshrc has: fpath+=~/.zfunc; autoload -Uz compinit; compinit") }
        print("it takes effect in a new shell")
    }
}
