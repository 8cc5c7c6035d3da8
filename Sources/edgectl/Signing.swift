import ArgumentParser
import EdgeCore
import EdgeJSON
import EdgePOSIX
import EdgeSigning

/// Makes a deployment signing key: the private key for the operator, the public key for agents.
struct Keygen: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make an Ed25519 key to sign deployments with.",
        discussion: """
            Writes NAME.key (the private key, PEM, mode 0600) and NAME.pub (the public key, base64) into --out, \
            and prints the line that makes agents trust it. NAME is the key id that signatures carry. Keep the \
            private key off the devices: whoever holds it can deploy to every agent that trusts it.

            Examples:
              edgectl keygen ops-2026
              edgectl keygen ops-2027 --out ~/.config/edgectl/keys
            """)
    @Argument(help: "The key's id: letters, digits and . _ : - (at most 64).") var name: String
    @Option(help: "Where to write NAME.key and NAME.pub.") var out = "."
    @Flag(help: "Print JSON: {keyid, publicKey, privateKeyFile, publicKeyFile}.") var json = false

    func run() throws {
        if let problem = NameRule.check(name, extra: "._:-", what: "a key id", maxLength: 64) {
            throw ValidationError("'\(name)' is not a valid key id: \(problem)")
        }
        let privatePath = "\(out)/\(name).key", publicPath = "\(out)/\(name).pub"
        for path in [privatePath, publicPath] where Files.exists(path) {
            throw Failure("\(path) exists: a key is never overwritten; choose another name or remove the old key first")
        }
        let key = try Ed25519PrivateKey.generate()
        let publicKey = Base64.encode(try key.publicKey())
        do {
            try Files.writeAtomically(privatePath, try key.pem(), mode: 0o600)
            try Files.writeAtomically(publicPath, Array("\(publicKey)\n".utf8), mode: 0o644)
        } catch let error as SystemError {
            throw Failure("cannot write the key into \(out): \(error.reason)")
        }
        if json {
            printJSON(["keyid": .string(name), "publicKey": .string(publicKey), "privateKeyFile": .string(privatePath),
                       "publicKeyFile": .string(publicPath)])
            return
        }
        print("private key: \(privatePath) (keep it secret and off the devices)")
        print("public key:  \(publicPath)")
        print("To make an agent trust it, add to its configuration file and restart it:")
        print("  \"deployments\": {\"trustedKeys\": {\"\(name)\": \"\(publicKey)\"}}")
        print("Then deploy with: edgectl deploy FILE --thing THING --sign \(privatePath)")
    }
}

/// Wraps a deployment document in a signed envelope, or adds a signature to one.
struct Sign: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Sign a deployment document (a DSSE envelope, Ed25519).",
        discussion: """
            The document is checked with the agent's rules first. A signature is valid only on the topic the \
            document names in its "target" (things/NAME or groups/NAME), which --thing or --group adds: a signed \
            document cannot be replayed to another device or group. Given an envelope already signed, the signature \
            is added beside the others (one per key id): during a key rotation, a document signed by both the old \
            and the new key is accepted by agents that trust either. The envelope goes to standard output or --out; \
            publish it with edgectl deploy ENVELOPE.

            Examples:
              edgectl sign digits.json --thing cam-01 --key ops-2026.key > digits.signed.json
              edgectl sign digits.json --group line1 --key ops-2026.key --out digits.signed.json
              edgectl sign digits.signed.json --key ops-2027.key --out digits.signed.json
            """)
    @Argument(help: "The deployment document (JSON), or an envelope to add a signature to.") var file: String
    @OptionGroup var signing: SigningOptions
    @Option(help: "The thing the document is for (its target).") var thing: String?
    @Option(help: "The thing group the document is for (its target).") var group: String?
    @Option(help: "Write the envelope to this file instead of standard output.") var out: String?

    func validate() throws {
        if thing != nil && group != nil { throw ValidationError("give at most one of --thing and --group") }
    }

    func run() throws {
        let (document, bytes) = try readJSON(file)
        let target = thing.map { "things/\($0)" } ?? group.map { "groups/\($0)" }
        let opened = try OperatorDocument.open(document, bytes: bytes, from: file).targeted(target)
        try OperatorDocument.check(opened.deployment, in: file)
        guard let key = try signing.key() else { throw ValidationError("--key is required: the private key to sign with (edgectl keygen makes one)") }
        let envelope = try signing.sign(opened, with: key)
        let text = Array((JSONCodec.text(envelope.json) + "\n").utf8)
        if let out {
            do { try Files.writeAtomically(out, text, mode: 0o644) } catch { throw Failure("cannot write \(out): \(error.reason)") }
            print("signed \(opened.deploymentId) revision \(opened.revision) with \(signing.keyid): \(out)")
        } else {
            print(String(decoding: text.dropLast(), as: UTF8.self))
        }
    }
}

/// `--key` and `--key-id`, shared by sign and deploy.
struct SigningOptions: ParsableArguments {
    @Option(name: [.customLong("sign"), .customLong("key")], help: "Sign with this private key (PEM, from edgectl keygen).")
    var keyFile: String?
    @Option(name: .customLong("key-id"), help: "The key id the signature carries (default: the key file's name without .key).")
    var keyID: String?

    func key() throws -> Ed25519PrivateKey? {
        guard let key = keyFile else { return nil }
        let bytes: [UInt8]
        do { bytes = try Files.read(key, maxBytes: 64 << 10) } catch { throw Failure("cannot read the key \(key): \(error.reason)") }
        do { return try Ed25519PrivateKey(pem: bytes) } catch { throw Failure("\(key): \(error.description)") }
    }

    /// The key id signatures carry: --key-id, else the key file's name without ".key".
    var keyid: String {
        if let keyID { return keyID }
        let path = keyFile ?? ""
        let name = path.split(separator: "/").last.map(String.init) ?? path
        return name.hasSuffix(".key") ? String(name.dropLast(4)) : name
    }

    /// `document` signed with `key`: a new envelope, or the given one with this key's signature
    /// added (replacing one under the same key id).
    func sign(_ document: OperatorDocument, with key: Ed25519PrivateKey) throws -> SignedEnvelope {
        if let problem = NameRule.check(keyid, extra: "._:-", what: "a key id", maxLength: 64) {
            throw ValidationError("the key id '\(keyid)' is not valid: \(problem); give one with --key-id")
        }
        do {
            let signed = try DeploymentSigner.envelope(for: document.payload, keyid: keyid, key: key)
            var envelope = document.envelope ?? signed
            envelope.signatures.removeAll { $0.keyid == keyid }
            envelope.signatures.append(contentsOf: signed.signatures)
            guard envelope.signatures.count <= SignedEnvelope.maxSignatures else {
                throw Failure("the envelope would carry \(envelope.signatures.count) signatures; at most \(SignedEnvelope.maxSignatures) are allowed")
            }
            return envelope
        } catch let error as SigningError {
            throw Failure("cannot sign with \(keyFile ?? "the key"): \(error.description)")
        }
    }
}

/// A deployment as the operator gives it: a plain document, or a signed envelope around one.
struct OperatorDocument {
    /// The deployment document itself.
    var deployment: JSONValue
    /// Its bytes, exactly as signed (or to be signed).
    var payload: [UInt8]
    /// The envelope it came in, if any.
    var envelope: SignedEnvelope?

    var deploymentId: String { deployment["deploymentId"]?.stringValue ?? "?" }
    var revision: Int64 { deployment["revision"]?.intValue ?? 0 }
    var signers: [String] { envelope?.signatures.map(\.keyid) ?? [] }

    static func open(_ document: JSONValue, bytes: [UInt8], from file: String) throws -> OperatorDocument {
        guard SignedEnvelope.isEnvelope(document) else { return OperatorDocument(deployment: document, payload: bytes) }
        let envelope: SignedEnvelope
        switch SignedEnvelope.parse(document) {
        case .success(let parsed): envelope = parsed
        case .failure(let rejection):
            printIssues(rejection.issues)
            throw ValidationError("\(file) is not a valid signed envelope")
        }
        switch JSONCodec.parse(envelope.payload, maxDepth: 32, uniqueKeys: true) {
        case .success(let inner): return OperatorDocument(deployment: inner, payload: envelope.payload, envelope: envelope)
        case .failure(let error): throw ValidationError("the payload of the envelope \(file) is not JSON: \(error.message)")
        }
    }

    /// This document with `target` set: added when it names none (unless it is signed already),
    /// refused when it names another; one of the two must say where it is for.
    func targeted(_ target: String?) throws -> OperatorDocument {
        let named = deployment["target"]?.stringValue
        switch (named, target) {
        case (let named?, let target?) where named != target:
            throw ValidationError("the document's target is \(named), not \(target): sign it for where it is meant to go")
        case (.some, _):
            return self
        case (nil, let target?) where envelope == nil:
            guard case .object(var members) = deployment else { return self }
            if let problem = DeploymentTarget.problem(target) { throw ValidationError("\(target): \(problem)") }
            members["target"] = .string(target)
            let document = JSONValue.object(members)
            return OperatorDocument(deployment: document, payload: Array(JSONCodec.text(document).utf8))
        case (nil, _):
            throw ValidationError("say which thing or group the document is for (--thing or --group): a signature is valid "
                                  + "only on the topic its \"target\" names")
        }
    }

    /// The deployment inside a retained message, signed or not (nil: neither).
    static func retained(_ bytes: [UInt8]) -> JSONValue? {
        guard case .success(let document) = JSONCodec.parse(bytes) else { return nil }
        guard SignedEnvelope.isEnvelope(document) else { return document }
        guard case .success(let envelope) = SignedEnvelope.parse(document),
              case .success(let inner) = JSONCodec.parse(envelope.payload) else { return nil }
        return inner
    }

    /// Validates with the agent's rules; the issues are printed and it throws when any.
    static func check(_ document: JSONValue, in file: String, thing: String = "thing") throws {
        if case .failure(let rejection) = DeploymentParser.parse(document, thing: thing) {
            printIssues(rejection.issues)
            throw ExitCode(1)
        }
    }
}
